// Cache hit: one token, already exchanged. Null server vs service, interleaved,
// with h2load (a C load generator, light on the shared CPU) and the grpc-js
// loader (closed loop c=50 and c=1, and an open-loop rate sweep). At 50 streams
// the minimal null server (status.code 0 only) runs in the same rotation:
// null, null-minimal, service.
import { verifyFramedBody } from '../lib/grpc-wire.mjs';
import { H2LOAD_INSTALL_HINT } from '../lib/h2load.mjs';
import { grpcRun, h2loadRun, interleaved } from '../lib/runs.mjs';
import { median } from '../lib/stats.mjs';

/** `hit`: { tokensFile (one token), dataFile (its framed CheckRequest, for h2load), frame }. */
export async function cacheHit(ctx, { tokensFile, dataFile, frame }) {
  const { opts, log } = ctx;
  const targets = [ctx.null, ctx.service];
  const withMinimal = [ctx.null, ctx.nullMinimal, ctx.service];
  // The body h2load will send is verified once per target: grpc-status 0 and an OK CheckResponse.
  const verification = {};
  for (const target of withMinimal) verification[target.label] = await verifyFramedBody(target.port, frame);
  log(`cache-hit: body verified: ${withMinimal.map((target) => `${target.label} ${verification[target.label].ok}`).join(', ')}`);

  const c50 = { connections: 1, concurrency: 50 };
  // JIT and cache warm-up, not recorded.
  for (const target of withMinimal) await grpcRun(target, { mode: 'closed', ...c50, durationS: 2, warmupS: 0, tokensFile });

  const result = { serviceCommand: ctx.service.command, verification, h2load: {}, grpc: {} };
  const eld = { eld: true };

  if (ctx.h2load) {
    log('cache-hit: h2load c=50');
    result.h2load.c50 = await interleaved(withMinimal, opts.reps, (target) =>
      h2loadRun(target, { dataFile, connections: 1, streams: 50, durationS: opts.durationS, warmupS: opts.warmupS }, eld),
    );
    log('cache-hit: h2load c=1');
    result.h2load.c1 = await interleaved(targets, opts.lightReps, (target) =>
      h2loadRun(target, { dataFile, connections: 1, streams: 1, durationS: opts.c1DurationS, warmupS: 1 }),
    );
  } else {
    result.h2load.skipped = `h2load not found; install it with: ${H2LOAD_INSTALL_HINT}`;
  }

  log('cache-hit: grpc-js closed loop c=50');
  result.grpc.c50 = await interleaved(withMinimal, opts.reps, (target) =>
    grpcRun(target, { mode: 'closed', ...c50, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }, eld),
  );
  log('cache-hit: grpc-js closed loop c=1');
  result.grpc.c1 = await interleaved(targets, opts.lightReps, (target) =>
    grpcRun(target, { mode: 'closed', connections: 1, concurrency: 1, durationS: opts.c1DurationS, warmupS: 0.5, tokensFile }),
  );

  // Open loop at fixed fractions of the null server's closed-loop c=50 rate (this run's median).
  const nullMax = median(result.grpc.c50.filter((run) => run.target === 'null').map((run) => run.rps));
  result.grpc.sweep = [];
  if (Number.isFinite(nullMax) && opts.sweepFractions.length > 0) {
    log(`cache-hit: open-loop sweep at ${opts.sweepFractions.join(', ')} × ${Math.round(nullMax)} rps`);
    for (const fraction of opts.sweepFractions) {
      const rate = Math.max(10, Math.round(fraction * nullMax));
      for (const target of targets) {
        const run = await grpcRun(target, { mode: 'open', rate, connections: 1, durationS: opts.sweepDurationS, warmupS: 1.5, tokensFile });
        result.grpc.sweep.push({ fraction, ...run });
      }
    }
  }
  return result;
}
