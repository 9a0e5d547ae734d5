// The introspection path (INTROSPECTION_ENDPOINT_URL). A service version
// without it stops at start with a configuration error, recorded as "not
// measured" rather than failing the bench. oidc-provider cannot introspect JWT
// access tokens, so the endpoint is the bench authorization server's
// `/fast/introspect` (RFC 7662, verifies against the real JWKS); the exchange
// still goes to the real token endpoint.
import { grpcRun, h2loadRun, interleaved } from '../lib/runs.mjs';
import { serviceEnv, startService } from '../lib/servers.mjs';

export async function introspection(ctx, { tokensFile, dataFile }) {
  const { opts, log, outDir, control } = ctx;
  const endpoint = control.fastIntrospectionEndpoint;
  const env = serviceEnv(ctx.as, { INTROSPECTION_ENDPOINT_URL: endpoint, EXCHANGE_CACHE_MAX: '20000' });
  const service = await startService(outDir, env, { label: 'service-introspection', readyTimeoutMs: 15_000 });
  if (!service.started) {
    const configLine = service.output.split('\n').find((line) => /configuration error/i.test(line));
    const notImplemented = /INTROSPECTION/i.test(service.output) && service.exit?.code === 78;
    return {
      measured: false,
      reason: notImplemented ? 'not measured: introspection not implemented' : 'not measured: the service did not start with INTROSPECTION_ENDPOINT_URL',
      exit: service.exit,
      output: configLine?.replace(/^\[(err|out)\] /, '') ?? service.output.split('\n').slice(-3).join(' | '),
    };
  }
  try {
    const before = await control.state();
    const probe = await grpcRun(service, { mode: 'closed', concurrency: 1, order: 'once', durationS: 30, warmupS: 0, tokensFile });
    const introspected = (await control.state()).introspections - before.introspections;
    if (probe.ok !== 1 || introspected < 1) {
      return {
        measured: false,
        reason: `not measured: the service started, but ${probe.ok !== 1 ? 'the probe Check was not OK' : 'it never called the introspection endpoint'}`,
        probe: { notOk: probe.notOk, errors: probe.errors, firstAnswer: probe.firstAnswer, introspected },
      };
    }
    log('introspection: measuring cache-hit throughput');
    const target = { ...service, label: 'service' };
    const runs = ctx.h2load
      ? await interleaved([ctx.null, target], opts.lightReps, (t) => h2loadRun(t, { dataFile, connections: 1, streams: 50, durationS: opts.durationS, warmupS: opts.warmupS }))
      : await interleaved([ctx.null, target], opts.lightReps, (t) =>
          grpcRun(t, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
        );
    const introspections = (await control.state()).introspections - before.introspections;
    return { measured: true, endpoint: 'bench /fast/introspect', loader: ctx.h2load ? 'h2load' : 'grpc-js', introspections, runs };
  } finally {
    await service.handle.stop();
  }
}
