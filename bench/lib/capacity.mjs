// The capacity model of docs/capacity.md: its coefficients, each read from a
// named figure of one bench run (results.json), and its predictions for a mesh
// of R replicas serving U active users at Q checks/s with tokens of lifetime L.
import { median } from './stats.mjs';

const serviceMedian = (runs, metric) => median((runs ?? []).filter((run) => run.target === 'service').map(metric));

/**
 * The model's coefficients from one run, each with the RESULTS.md section it
 * comes from. Missing scenarios leave NaN.
 */
export function coefficientsOf(results) {
  const s = results.scenarios ?? {};
  const rep = s.replicas ?? {};
  const lat = rep.latency ?? {};
  return {
    hitUs: {
      value: serviceMedian(s.manyUsers?.runs, (run) => run.serverCpuUsPerCall),
      from: 'Many users: service CPU µs per call (local cache hit, 50 streams)',
    },
    missUs: {
      value: s.users100k?.warm?.serverCpuUsPerCall ?? s.memory?.warm?.serverCpuUsPerCall ?? NaN,
      from: '100,000 users: service CPU µs per Check during the fill (new token: validation, exchange, cache fill)',
    },
    sharedExtraUs: {
      value: (rep.cpu?.sharedUsPerCall ?? NaN) - (rep.cpu?.localUsPerCall ?? NaN),
      from: 'Replicas: CPU µs per shared hit less per local hit (20 streams; a shared hit also validates the token, new to that replica)',
    },
    sharedExtraMs: {
      value: lat.shared?.p50 - lat.local?.p50,
      from: 'Replicas: shared-hit p50 less local-hit p50 (1 stream)',
    },
    exchangesPerToken: {
      value: rep.exchangesPerToken?.['on-sequential']?.perToken ?? NaN,
      from: 'Replicas: exchanges per token, shared tier on, one replica after the other',
    },
    bytesPerUser: {
      value: s.memory?.perEntryBytes ?? NaN,
      from: 'Memory: RSS growth per cached token',
    },
    redisBytesPerUser: {
      value: rep.point ? rep.point.redis.usedMemoryGrowth / rep.point.users : NaN,
      from: 'Capacity model check: Redis used_memory growth per user of the measured point (one sealed entry each)',
    },
    heapBytesPerUser: {
      value: s.memory?.perEntryHeapBytes ?? NaN,
      from: 'Memory: live V8 heap per cached token after a full GC',
    },
    idleHeapBytes: {
      value: s.memory?.baseline?.heapAfterGc?.heapUsed ?? NaN,
      from: 'Memory: V8 heap used after start + 1 Check and a forced full GC',
    },
    heapFloorBytes: {
      value: s.memory?.heap ? s.memory.heap.limitFloorMb * 1024 * 1024 : NaN,
      from: 'Memory: the build\'s HEAP_LIMIT_FLOOR_MB (README "Memory")',
    },
    idleRssBytes: {
      value: s.memory?.baseline ? s.memory.baseline.rssKiB * 1024 : NaN,
      from: 'Memory: VmRSS after start + 1 Check (LOG_LEVEL=warn, no shared tier)',
    },
    replicaIdleRssBytes: {
      value: rep.point?.idleRssKiB ? (rep.point.idleRssKiB.reduce((x, y) => x + y, 0) / rep.point.idleRssKiB.length) * 1024 : NaN,
      from: 'Capacity model check: VmRSS of a warmed replica with REDIS_URL before the measured load',
    },
  };
}

/**
 * Predictions for R replicas, U active users, Q checks/s, entry lifetime L
 * seconds (the cached life of an exchange: at most the inbound token's),
 * `perReplicaUsers` users each replica's local cache must hold (U with a
 * round-robin spread, U / R with sticky routing) and `cacheMax` entries per
 * replica (EXCHANGE_CACHE_MAX). Local misses: each user's first Check on each
 * replica per lifetime while the local caches hold every user; past that an
 * LRU under uniform access hits about cacheMax / perReplicaUsers of the time.
 */
export function predict(c, { R, U, Q, L, perReplicaUsers = U, cacheMax = Infinity, replicasPerUser = R }) {
  const v = (name) => c[name].value;
  const checksPerUser = (Q * L) / U;
  const exchangesPerS = (U * v('exchangesPerToken')) / L;
  const held = Math.min(perReplicaUsers, cacheMax);
  const coldMissesPerS = (U * Math.min(replicasPerUser, checksPerUser)) / L;
  const localMissesPerS = held >= perReplicaUsers ? coldMissesPerS : Math.max(coldMissesPerS, Q * (1 - held / perReplicaUsers));
  const sharedHitsPerS = Math.max(0, localMissesPerS - exchangesPerS);
  const localHitsPerS = Math.max(0, Q - localMissesPerS);
  const cpuUsPerS = localHitsPerS * v('hitUs') + sharedHitsPerS * (v('hitUs') + v('sharedExtraUs')) + exchangesPerS * v('missUs');
  return {
    checksPerUser,
    exchangesPerS,
    localMissesPerS,
    localHitRatio: Q > 0 ? localHitsPerS / Q : NaN,
    redis: { mgetPerS: localMissesPerS, setPerS: exchangesPerS, opsPerS: localMissesPerS + exchangesPerS },
    cores: cpuUsPerS / 1e6,
    cpuUsPerCheck: Q > 0 ? cpuUsPerS / Q : NaN,
    rssBytesPerReplica: v('idleRssBytes') + held * v('bytesPerUser') + heapFloorRoom(c, held),
    redisBytes: U * v('redisBytesPerUser'),
  };
}

/**
 * What the heap's floor may add to a process holding `users` (README
 * "Memory"): V8's heap may grow to the floor before a full collection, however
 * little is live, so a process whose live heap is under the floor can hold up
 * to the difference in garbage. An upper bound: between two full collections
 * the heap holds anywhere from none of it to all. `bytesPerUser`, measured at
 * a live heap above the floor, already covers the percentage past it.
 */
export function heapFloorRoom(c, users) {
  const room = c.heapFloorBytes.value - (c.idleHeapBytes.value + users * c.heapBytesPerUser.value);
  return Number.isFinite(room) ? Math.max(0, room) : 0;
}

/**
 * The replicas scenario's measured point against the model's prediction for
 * it: R = 2, U = its users, Q = its checks/s, L = its window (every token is
 * new when the window opens, so the window is one lifetime for each).
 */
export function modelCheck(results) {
  const point = results.scenarios?.replicas?.point;
  if (!point) return undefined;
  const c = coefficientsOf(results);
  // The point's replicas run with REDIS_URL: their own idle RSS is the base of the memory prediction.
  const p = predict({ ...c, idleRssBytes: c.replicaIdleRssBytes }, { R: point.replicas, U: point.users, Q: point.checksPerS, L: point.windowS });
  const measuredRss = point.rssKiB.reduce((a, b) => a + b, 0) / point.rssKiB.length * 1024;
  return {
    point,
    coefficients: c,
    rows: [
      { name: 'exchanges/s at the authorization server', predicted: p.exchangesPerS, measured: point.exchangesPerS, uses: ['exchangesPerToken'] },
      { name: 'Redis MGET/s (local misses)', predicted: p.redis.mgetPerS, measured: point.redis.mget / point.windowS, uses: [] },
      { name: 'Redis SET/s (exchanges)', predicted: p.redis.setPerS, measured: point.redis.set / point.windowS, uses: ['exchangesPerToken'] },
      { name: 'Redis commands/s (all)', predicted: p.redis.opsPerS, measured: point.redisOpsPerS, uses: ['exchangesPerToken'] },
      { name: 'CPU µs per Check (both replicas)', predicted: p.cpuUsPerCheck, measured: point.cpuUsPerCheck, uses: ['hitUs', 'sharedExtraUs', 'missUs'] },
      { name: 'cores (both replicas, at the measured checks/s)', predicted: p.cores, measured: point.cpuS / point.windowS, uses: ['hitUs', 'sharedExtraUs', 'missUs'] },
      { name: 'RSS per replica, MB (at most: the heap floor\'s room counted whole)', predicted: p.rssBytesPerReplica / 1e6, measured: measuredRss / 1e6, uses: ['replicaIdleRssBytes', 'bytesPerUser', 'heapFloorBytes', 'idleHeapBytes', 'heapBytesPerUser'] },
    ],
  };
}
