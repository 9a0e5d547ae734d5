// HTTP/2 window: the service as shipped (a 4 MiB receive window per
// connection, GRPC_CONNECTION_WINDOW_BYTES) and a second service process with
// Node's default 65,535 bytes, each against the null server (Node's default),
// at 50 and 200 concurrent streams on one connection (Envoy multiplexes onto
// few connections). grpc-js loader, one cached token.
import { grpcRun, interleaved } from '../lib/runs.mjs';
import { serviceEnv, startService } from '../lib/servers.mjs';

export async function window(ctx, { tokensFile }) {
  const { opts, log, outDir } = ctx;
  const narrow = await startService(outDir, serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: '20000', GRPC_CONNECTION_WINDOW_BYTES: '65535' }), { label: 'service-window-65535' });
  if (!narrow.started) return { measured: false, reason: `the service did not start with GRPC_CONNECTION_WINDOW_BYTES=65535: ${JSON.stringify(narrow.exit)}` };
  try {
    const targets = [ctx.null, ctx.service, { ...narrow, label: 'service-65535' }];
    const result = { measured: true };
    for (const streams of [50, 200]) {
      log(`window: ${streams} streams`);
      result[`c${streams}`] = await interleaved(targets, opts.lightReps, (target) =>
        grpcRun(target, { mode: 'closed', connections: 1, concurrency: streams, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
      );
    }
    return result;
  } finally {
    await narrow.handle.stop();
  }
}
