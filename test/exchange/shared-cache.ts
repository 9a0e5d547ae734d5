/**
 * The shared tier (SPEC §4b) against a REAL redis-server: sealed entries under
 * the writing key, read under every key, refresh-ahead in the last tenth of a
 * life, every failure a miss (counted, warned about at a bounded rate), time
 * from a manual clock. The store itself (timeout, breaker) is
 * test/exchange/shared-store.ts; sealing is test/exchange/sealing.ts.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { CacheKey } from '../../src/config/cache-keys.js';
import { entryName, SharedExchangeCache } from '../../src/exchange/shared-cache.js';
import { redisKeyOf, seal, type EntryName } from '../../src/exchange/sealing.js';
import { RedisStore } from '../../src/exchange/shared-store.js';
import { Metrics } from '../../src/ops/metrics.js';
import { inboundToken } from '../../src/validation/inbound-token.js';
import { ManualClock } from '../fixtures/clock.js';
import { redisServer, requireRedisServer, type RedisServer } from '../fixtures/redis-server.js';

requireRedisServer(t);

const cacheKey = (kid: string): CacheKey => ({ kid, secret: createSecretKey(randomBytes(32)) });
const K1 = cacheKey('k1');
const K2 = cacheKey('k2');
const NAME: EntryName = entryName(inboundToken('inbound.jwt.value'), 'target-identity', undefined);
const MINUTE = 60_000;

interface Warning { reason: string; error: unknown; suppressed: number }

/** A cache on its own store, connected; `warnings` collects what it reports. */
async function sharedCache(t: Test, redis: Pick<RedisServer, 'url'>, keys: readonly CacheKey[], clock = new ManualClock()) {
  const connectionErrors: Error[] = [];
  const store = new RedisStore({ url: redis.url, password: undefined, timeoutMs: 2000, keys }, clock.now, (error) => connectionErrors.push(error));
  t.teardown(() => store.close());
  const metrics = new Metrics({ version: 'test', nodeVersion: process.version });
  const warnings: Warning[] = [];
  let warned: () => void = () => {};
  const cache = new SharedExchangeCache(store, keys, clock.now, metrics, (reason, error, suppressed) => {
    warnings.push({ reason, error, suppressed });
    warned();
  });
  const nextWarning = () => new Promise<void>((resolve) => (warned = resolve));
  store.connect();
  // Connecting happens in the background; wait for the first command that succeeds (a condition, not a duration).
  for (let i = 0; await store.mget(['probe']).then(() => false, () => true); i++) {
    if (i === 400) throw new Error('the store never connected');
    await sleep(5);
  }
  /** `authz_<name>` samples as "labels value" lines. */
  const samples = async (name: string) => {
    const text = await metrics.registry.getSingleMetricAsString(`authz_${name}`);
    return text.split('\n').filter((line) => line.startsWith('authz_')).map((line) => line.replace(/^\S+?(\{|\s)/, '$1').trim());
  };
  return { cache, store, clock, warnings, nextWarning, samples, connectionErrors };
}

/** Waits until the background SET has landed in Redis. */
async function stored(redis: RedisServer, key: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const value = await redis.inspect.get(key);
    if (value !== null) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${key} was never written`);
}

t.test('an entry set by one replica is read by another, sealed under the writing key, with the lifetime as TTL', async (t) => {
  const redis = await redisServer(t);
  const clock = new ManualClock();
  const writer = await sharedCache(t, redis, [K1], clock);
  const reader = await sharedCache(t, redis, [K1], clock);
  writer.cache.set(NAME, 'exchanged-token', 10 * MINUTE);
  const sealed = await stored(redis, redisKeyOf(K1, NAME));
  t.match(sealed, /^k1\./, 'the kid in clear, the rest sealed');
  t.notMatch(sealed, /exchanged-token|inbound/, 'neither token is readable in Redis');
  const ttl = await redis.inspect.pTTL(redisKeyOf(K1, NAME));
  t.ok(ttl > 9 * MINUTE && ttl <= 10 * MINUTE, 'PX from the lifetime');
  t.same(await reader.cache.get(NAME), { value: 'exchanged-token', expiresAt: clock.now() + 10 * MINUTE, lifetimeMs: 10 * MINUTE });
  t.same(await reader.samples('shared_cache_hits_total'), ['1']);
  t.same(await reader.samples('shared_cache_misses_total'), ['0']);
  t.same(reader.warnings, []);
});

t.test('another name (target, inbound token or actor token) does not find it', async (t) => {
  const redis = await redisServer(t);
  const { cache } = await sharedCache(t, redis, [K1]);
  cache.set(NAME, 'exchanged-token', MINUTE);
  await stored(redis, redisKeyOf(K1, NAME));
  t.equal(await cache.get(entryName(inboundToken('inbound.jwt.value'), 'other-target', undefined)), undefined);
  t.equal(await cache.get(entryName(inboundToken('other.jwt.value'), 'target-identity', undefined)), undefined);
  t.equal(await cache.get(entryName(inboundToken('inbound.jwt.value'), 'target-identity', 'actor')), undefined);
  t.ok(await cache.get(NAME));
});

t.test('a lifetime of 0 or less is never written (SPEC §3)', async (t) => {
  const redis = await redisServer(t);
  const { cache, store } = await sharedCache(t, redis, [K1]);
  for (const lifetime of [0, -1, Number.NaN]) cache.set(NAME, 'exchanged-token', lifetime);
  await store.set('after', 'x', MINUTE); // commands run in order: once this is stored, any earlier SET would be too
  t.same(await redis.inspect.keys('*'), ['after']);
});

t.test('an entry in the last tenth of its life is a miss, left for a refresh; an expired one too', async (t) => {
  const redis = await redisServer(t);
  const { cache, clock, samples, warnings } = await sharedCache(t, redis, [K1]);
  cache.set(NAME, 'exchanged-token', 100_000);
  await stored(redis, redisKeyOf(K1, NAME));
  clock.advance(89_999);
  t.ok(await cache.get(NAME), 'just over a tenth left: a hit');
  clock.advance(1);
  t.equal(await cache.get(NAME), undefined, 'a tenth left: a miss');
  clock.advance(20_000);
  t.equal(await cache.get(NAME), undefined, 'past its expiry (Redis has not dropped it: the clock is ours)');
  t.same(await samples('shared_cache_misses_total'), ['2']);
  t.same(await samples('shared_cache_errors_total'), [], 'an old entry is no error');
  t.same(warnings, []);
});

t.test('key rotation (SPEC §4b): the first key writes, every key reads; useKeys swaps them, never to none', async (t) => {
  const redis = await redisServer(t);
  const old = await sharedCache(t, redis, [K1]);
  old.cache.set(NAME, 'under-k1', MINUTE);
  await stored(redis, redisKeyOf(K1, NAME));
  const rotated = await sharedCache(t, redis, [K2, K1]);
  t.equal((await rotated.cache.get(NAME))?.value, 'under-k1', 'read under the old key');
  rotated.cache.set(NAME, 'under-k2', MINUTE);
  t.match(await stored(redis, redisKeyOf(K2, NAME)), /^k2\./, 'written under the new one');
  t.equal((await rotated.cache.get(NAME))?.value, 'under-k2', 'the first key that holds a fresh entry wins');

  old.cache.useKeys([]);
  t.equal((await old.cache.get(NAME))?.value, 'under-k1', 'an empty key list keeps the keys held');
  old.cache.useKeys([K2, K1]);
  t.equal((await old.cache.get(NAME))?.value, 'under-k2', 'after a reload with the new first line');
});

t.test('a value that does not open is a miss with its reason; another key\'s good entry still hits', async (t) => {
  const redis = await redisServer(t);
  const { cache, samples, warnings, clock } = await sharedCache(t, redis, [K2, K1]);
  const at = redisKeyOf(K2, NAME);
  const entry = { value: 'x', expiresAt: clock.now() + MINUTE, lifetimeMs: MINUTE };
  const cases: Array<[string, string]> = [
    ['malformed', 'not-a-sealed-value'],
    ['unknown_kid', seal(cacheKey('k9'), at, NAME, entry)],
    ['unopenable', seal(cacheKey('k2'), at, NAME, entry)], // the same kid, another secret
  ];
  for (const [reason, value] of cases) {
    await redis.inspect.set(at, value);
    t.equal(await cache.get(NAME), undefined, reason);
    clock.advance(10_000);
  }
  t.same(warnings.map(({ reason, error, suppressed }) => [reason, error, suppressed]), [['malformed', undefined, 0], ['unknown_kid', undefined, 0], ['unopenable', undefined, 0]]);
  t.same(await samples('shared_cache_errors_total'), ['{reason="malformed"} 1', '{reason="unknown_kid"} 1', '{reason="unopenable"} 1']);

  await redis.inspect.set(redisKeyOf(K1, NAME), seal(K1, redisKeyOf(K1, NAME), NAME, { value: 'good', expiresAt: clock.now() + MINUTE, lifetimeMs: MINUTE }));
  t.equal((await cache.get(NAME))?.value, 'good', 'the bad value under k2 does not hide the good one under k1');
  t.same(await samples('shared_cache_hits_total'), ['1']);
});

t.test('warnings: at most one in 10 s; the next one says how many were left out', async (t) => {
  const redis = await redisServer(t);
  const { cache, warnings, clock, samples } = await sharedCache(t, redis, [K1]);
  await redis.inspect.set(redisKeyOf(K1, NAME), 'garbage');
  for (let i = 0; i < 4; i++) await cache.get(NAME);
  clock.advance(9_999);
  await cache.get(NAME);
  t.same(warnings.map(({ suppressed }) => suppressed), [0], 'one warning for five failures');
  clock.advance(1);
  await cache.get(NAME);
  t.same(warnings.map(({ suppressed }) => suppressed), [0, 4], 'ten seconds later: the four left out are summed');
  t.same(await samples('shared_cache_errors_total'), ['{reason="malformed"} 6'], 'every failure is counted');
});

t.test('Redis down: a read is a miss, a write is dropped; both counted and warned about, neither thrown', async (t) => {
  const redis = await redisServer(t);
  const { cache, warnings, nextWarning, clock, samples, connectionErrors } = await sharedCache(t, redis, [K1]);
  await redis.stop();
  for (let i = 0; connectionErrors.length === 0; i++) {
    if (i === 400) throw new Error('the client never saw the connection drop');
    await sleep(5);
  }
  t.equal(await cache.get(NAME), undefined);
  t.equal(warnings[0]?.reason, 'unavailable');
  t.type(warnings[0]?.error, Error, 'the error goes to the warning, for its code');
  clock.advance(10_000);
  const warned = nextWarning();
  cache.set(NAME, 'exchanged-token', MINUTE);
  await warned;
  t.equal(warnings[1]?.reason, 'write_unavailable');
  t.same(await samples('shared_cache_errors_total'), ['{reason="unavailable"} 2']);
  t.same(await samples('shared_cache_misses_total'), ['1']);
});

t.test('a connection error of the store is counted and warned about at the same bounded rate', async (t) => {
  const redis = await redisServer(t);
  const { cache, warnings, samples } = await sharedCache(t, redis, [K1]);
  const error = new Error('ECONNRESET');
  cache.connectionError(error);
  cache.connectionError(error);
  t.same(warnings, [{ reason: 'connection', error, suppressed: 0 }]);
  t.same(await samples('shared_cache_errors_total'), ['{reason="connection"} 2']);
});

t.test('entryName: what the local key covers, with the token for sealing', async (t) => {
  const token = inboundToken('inbound.jwt.value');
  t.same(entryName(token, 'identity', 'actor'), { identity: 'identity', inboundToken: 'inbound.jwt.value', tokenHash: token.hash, actorToken: 'actor' });
});
