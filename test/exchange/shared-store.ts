/** The shared tier's Redis store against a REAL redis-server: commands, the timeout, and the breaker (time from a manual clock). */
import t, { type Test } from 'tap';
import { ManualClock } from '../fixtures/clock.js';
import { delayingProxy } from '../fixtures/delaying-proxy.js';
import { redisServer, requireRedisServer } from '../fixtures/redis-server.js';
import { RedisStore, SharedStoreError } from '../../src/exchange/shared-store.js';

requireRedisServer(t);

const storeFor = (t: Test, url: string, clock: ManualClock, timeoutMs = 2000) => {
  const errors: Error[] = [];
  const store = new RedisStore({ url, password: undefined, timeoutMs, keys: [] }, clock.now, (error) => errors.push(error));
  t.teardown(() => store.close());
  return { store, errors };
};

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition never held');
}

const reasonOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: unknown) => (error instanceof SharedStoreError ? error.reason : 'other'));

t.test('SET with a TTL and MGET, once connected in the background', async (t) => {
  const redis = await redisServer(t);
  const { store } = storeFor(t, redis.url, new ManualClock());
  t.equal(await reasonOf(store.mget(['a'])), 'unavailable', 'before connect(): a miss, nothing waits');
  store.connect();
  await until(async () => (await reasonOf(store.set('tea:v1:a', 'value-a', 60_000))) === 'ok');
  t.same(await store.mget(['tea:v1:a', 'tea:v1:b']), ['value-a', null]);
  const ttl = await redis.inspect.pTTL('tea:v1:a');
  t.ok(ttl > 0 && ttl <= 60_000, 'PX expiry set');
});

t.test('a reply later than REDIS_TIMEOUT_MS is a timeout', async (t) => {
  const redis = await redisServer(t);
  const proxy = await delayingProxy(t, redis.port);
  const { store } = storeFor(t, `redis://127.0.0.1:${proxy.port}`, new ManualClock(), 100);
  store.connect();
  await until(async () => (await reasonOf(store.mget(['x']))) === 'ok');
  proxy.delayMs = 3000;
  const released = proxy.released;
  t.equal(await reasonOf(store.mget(['x'])), 'timeout');
  t.equal(proxy.released, released, 'given up before the reply came');
});

t.test('breaker: opens after failures that last, lets one probe through later, closes when Redis is back', async (t) => {
  const redis = await redisServer(t);
  const clock = new ManualClock();
  const { store, errors } = storeFor(t, redis.url, clock);
  store.connect();
  await until(async () => (await reasonOf(store.mget(['x']))) === 'ok');
  await redis.stop();
  await until(async () => errors.length > 0); // the client saw the connection drop

  for (let i = 0; i < 10; i++) t.equal(await reasonOf(store.mget(['x'])), 'unavailable', 'a burst of failures does not open it');
  clock.advance(1000);
  t.equal(await reasonOf(store.mget(['x'])), 'unavailable', 'failing for a second: this failure opens it');
  t.equal(await reasonOf(store.mget(['x'])), 'breaker_open', 'open: nothing is sent');
  t.equal(await reasonOf(store.set('k', 'v', 1000)), 'breaker_open', 'writes too');

  clock.advance(1000);
  t.equal(await reasonOf(store.mget(['x'])), 'unavailable', 'one probe after 1 s, still failing');
  clock.advance(1500);
  t.equal(await reasonOf(store.mget(['x'])), 'breaker_open', 'reopened for twice as long');

  await redis.start();
  // Each try is a probe (30 s, the longest pause, passes between them) until the client has reconnected.
  await until(async () => {
    clock.advance(30_000);
    return (await reasonOf(store.mget(['x']))) === 'ok';
  });
  t.equal(await reasonOf(store.mget(['x'])), 'ok', 'closed again');
});
