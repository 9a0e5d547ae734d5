/**
 * SPEC §4b, the shared tier, against a REAL redis-server and the real
 * authorization server: exchanges are counted at the token endpoint, Redis is
 * inspected with a plain client, and failures are made for real (the server
 * stopped, its replies delayed by a TCP proxy, values altered in place).
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { createEnvoyClient, summarize } from '../fixtures/envoy-client.js';
import { readyService } from '../fixtures/process.js';
import { delayingProxy } from '../fixtures/delaying-proxy.js';
import { checkToken, tempFiles } from '../fixtures/e2e-helpers.js';
import { redisServer, requireRedisServer, type RedisServer } from '../fixtures/redis-server.js';
import { authorizationServer, bearer, serviceEnv, startService, type RunningService } from '../fixtures/service.js';

requireRedisServer(t);

/** A CACHE_KEYS_FILE with these kids (each a fresh key unless given), in this order. */
function keysFile(t: Test, lines: string[]): string {
  return tempFiles(t, 'cache-keys-').write('keys', `${lines.join('\n')}\n`);
}
const keyLine = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;

/** A generous REDIS_TIMEOUT_MS: these tests count exchanges, and a loaded CI machine must not turn a lookup into a miss. */
const sharedEnv = (redis: Pick<RedisServer, 'url'>, keys: string, more: Record<string, string> = {}) => ({ REDIS_URL: redis.url, CACHE_KEYS_FILE: keys, REDIS_TIMEOUT_MS: '2000', ...more });

async function allEntries(redis: RedisServer): Promise<Array<[string, string]>> {
  const entries: Array<[string, string]> = [];
  for await (const keys of redis.inspect.scanIterator({ COUNT: 100 })) {
    for (const key of keys) entries.push([key, String(await redis.inspect.get(key))]);
  }
  return entries;
}

/** Writes are fire-and-forget: wait until Redis holds `count` entries. */
async function entriesInRedis(redis: RedisServer, count: number): Promise<Array<[string, string]>> {
  for (let i = 0; i < 300; i++) {
    const entries = await allEntries(redis);
    if (entries.length >= count) return entries;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`Redis never held ${count} entries`);
}

const metric = (service: RunningService, name: string, labels?: Record<string, string>) => service.app.metrics.value(name, labels);
const subOf = (result: Awaited<ReturnType<typeof checkToken>>) => decodeJwt(result.headers.authorization!.slice(7)).sub;

t.test('two service processes sharing one Redis make one exchange for a token checked on both', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const env = serviceEnv(as, sharedEnv(redis, keysFile(t, [keyLine('k1')]), { LOG_LEVEL: 'info' }));
  const [one, two] = await Promise.all([readyService(t, env), readyService(t, env)]);
  const clients = [one, two].map((proc) => createEnvoyClient(`127.0.0.1:${proc.grpcPort}`));
  t.teardown(() => clients.forEach((client) => client.close()));
  const token = await as.mintAccessToken({ sub: 'alice' });

  const first = summarize(await clients[0]!.check(bearer(token)));
  await entriesInRedis(redis, 1);
  const second = summarize(await clients[1]!.check(bearer(token)));
  t.ok(first.allowed && second.allowed, 'allowed on both');
  t.equal(as.exchanges.length, 1, 'one exchange for both replicas');
  t.equal(second.headers.authorization, first.headers.authorization, 'the second replica serves the first one\'s token');
  t.notMatch(one.stdout() + two.stdout(), token, 'no inbound token in the logs');
});

t.test('no key or value in Redis holds an inbound or exchanged token, in any common encoding', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const service = await startService(t, serviceEnv(as, sharedEnv(redis, keysFile(t, [keyLine('k1')]))));
  const secrets: string[] = [];
  for (const sub of ['alice', 'bob', 'carol']) {
    const token = await as.mintAccessToken({ sub });
    const result = await checkToken(service, token);
    secrets.push(token, result.headers.authorization!.slice(7));
  }
  const entries = await entriesInRedis(redis, 3);
  t.equal(entries.length, 3);
  const dump = entries.flat().join('\n');
  for (const secret of secrets) {
    const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url'), Buffer.from(secret).toString('hex')];
    // Any 24-character stretch of a token (its signature, say) would be a leak too.
    forms.push(...[secret.slice(-24), secret.slice(0, 24)]);
    t.notOk(forms.some((form) => dump.includes(form)), `nothing of token ${secrets.indexOf(secret)}`);
  }
  t.ok(entries.every(([key, value]) => /^tea:v1:[A-Za-z0-9_-]{43}$/.test(key) && value.startsWith('k1.')), 'HMAC keys, kid in clear');
  const ttls = await Promise.all(entries.map(([key]) => redis.inspect.pTTL(key)));
  t.ok(ttls.every((ttl) => ttl > 0 && ttl <= 300_000), 'every entry has a TTL no longer than the local rule allows');
});

t.test('rotation: an entry under the old kid is read, new writes use the new kid, an unlisted kid is a miss', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const [old, fresh] = [keyLine('old'), keyLine('new')];
  const before = await startService(t, serviceEnv(as, sharedEnv(redis, keysFile(t, [old]))));
  const alice = await as.mintAccessToken({ sub: 'alice' });
  await checkToken(before, alice);
  await entriesInRedis(redis, 1);

  const rotated = await startService(t, serviceEnv(as, sharedEnv(redis, keysFile(t, [fresh, old]))));
  t.ok((await checkToken(rotated, alice)).allowed);
  t.equal(as.exchanges.length, 1, 'read under the old kid');
  t.equal(await metric(rotated, 'authz_shared_cache_hits_total'), 1);
  const bob = await as.mintAccessToken({ sub: 'bob' });
  await checkToken(rotated, bob);
  const entries = await entriesInRedis(redis, 2);
  t.same(entries.map(([, value]) => value.split('.')[0]).sort(), ['new', 'old'], 'the new entry is under the new kid');

  const retired = await startService(t, serviceEnv(as, sharedEnv(redis, keysFile(t, [fresh]))));
  const again = await checkToken(retired, alice);
  t.equal(subOf(again), 'alice');
  t.equal(as.exchanges.length, 3, 'the old kid is no longer listed: a miss, then an exchange');
  t.ok((await checkToken(retired, bob)).allowed);
  t.equal(as.exchanges.length, 3, 'the new kid\'s entry is read');
});

t.test('a value moved under another key fails to open: a miss, then an exchange', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const keys = keysFile(t, [keyLine('k1')]);
  const writer = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  const [alice, bob] = await Promise.all([as.mintAccessToken({ sub: 'alice' }), as.mintAccessToken({ sub: 'bob' })]);
  await checkToken(writer, alice);
  const [[aliceKey, aliceValue]] = (await entriesInRedis(redis, 1)) as [[string, string]];
  await checkToken(writer, bob);
  const bobKey = (await entriesInRedis(redis, 2)).find(([key]) => key !== aliceKey)![0];
  await redis.inspect.set(bobKey, aliceValue);

  const reader = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  const result = await checkToken(reader, bob);
  t.equal(subOf(result), 'bob', 'bob gets his own token, never alice\'s');
  t.equal(as.exchanges.length, 3, 'the moved value was a miss');
  t.equal(await metric(reader, 'authz_shared_cache_errors_total', { reason: 'unopenable' }), 1);
  t.equal(await metric(reader, 'authz_shared_cache_misses_total'), 1);
});

t.test('a corrupted or truncated value is a miss', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const keys = keysFile(t, [keyLine('k1')]);
  const writer = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  const tokens = await Promise.all(['alice', 'bob', 'carol'].map((sub) => as.mintAccessToken({ sub })));
  for (const token of tokens) await checkToken(writer, token);
  const entries = await entriesInRedis(redis, 3);
  const [[k0, v0], [k1, v1], [k2]] = entries as [[string, string], [string, string], [string, string]];
  const flip = (value: string, at: number) => value.slice(0, at) + (value[at] === 'A' ? 'B' : 'A') + value.slice(at + 1);
  await redis.inspect.set(k0, flip(v0, Math.floor(v0.length / 2)));
  await redis.inspect.set(k1, v1.slice(0, v1.length - 8));
  await redis.inspect.set(k2, 'garbage');

  const reader = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  for (const token of tokens) t.ok((await checkToken(reader, token)).allowed);
  t.equal(as.exchanges.length, 6, 'each altered value was a miss');
  t.equal(await metric(reader, 'authz_shared_cache_hits_total'), 0);
  t.equal((await metric(reader, 'authz_shared_cache_errors_total', { reason: 'unopenable' })) + (await metric(reader, 'authz_shared_cache_errors_total', { reason: 'malformed' })), 3);
});

t.test('Redis stopped mid-run: Checks keep being allowed through the token endpoint; Redis back: used again', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const keys = keysFile(t, [keyLine('k1')]);
  const service = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  await checkToken(service, await as.mintAccessToken({ sub: 'before' }));
  await entriesInRedis(redis, 1);

  await redis.stop();
  const during = await Promise.all(Array.from({ length: 10 }, (_, i) => as.mintAccessToken({ sub: `during-${i}` })));
  for (const token of during) t.ok((await checkToken(service, token)).allowed, 'allowed while Redis is down');
  t.equal(as.exchanges.length, 11);
  t.ok(await metric(service, 'authz_shared_cache_errors_total', { reason: 'unavailable' }) >= 1, 'the failures are counted');
  t.ok(service.app.isReady(), 'still ready');

  await redis.start();
  // The client reconnects and the breaker lets a probe through within a few seconds: a new token's entry then appears.
  let stored = false;
  const later: string[] = [];
  for (let i = 0; i < 60 && !stored; i++) {
    const token = await as.mintAccessToken({ sub: `after-${i}` });
    later.push(token);
    t.ok((await checkToken(service, token)).allowed);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stored = (await allEntries(redis)).length > 0;
  }
  t.ok(stored, 'written to Redis again');
  const other = await startService(t, serviceEnv(as, sharedEnv(redis, keys)));
  const exchanges = as.exchanges.length;
  t.ok((await checkToken(other, later.at(-1)!)).allowed);
  t.equal(as.exchanges.length, exchanges, 'and read from it by another replica');
  t.notMatch(service.logText(), later.at(-1)!, 'no token in the logs');
  const warnings = service.logs.filter((line) => line.msg === 'shared cache not used');
  t.ok(warnings.length >= 1 && warnings.length <= 2, 'warned, at a bounded rate (one line per 10 s)');
});

t.test('Redis slowed past REDIS_TIMEOUT_MS: the Check goes on without it', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  const proxy = await delayingProxy(t, redis.port);
  const keys = keysFile(t, [keyLine('k1')]);
  const service = await startService(t, serviceEnv(as, sharedEnv({ url: `redis://127.0.0.1:${proxy.port}` }, keys, { REDIS_TIMEOUT_MS: '200' })));
  await checkToken(service, await as.mintAccessToken({ sub: 'warm' })); // connected, written
  await entriesInRedis(redis, 1);

  proxy.delayMs = 5000; // far past REDIS_TIMEOUT_MS
  const token = await as.mintAccessToken({ sub: 'slow' });
  const released = proxy.released;
  const result = await checkToken(service, token);
  t.ok(result.allowed, 'allowed through the token endpoint');
  t.equal(proxy.released, released, 'answered before Redis\'s reply came back');
  t.ok(await metric(service, 'authz_shared_cache_errors_total', { reason: 'timeout' }) >= 1, 'the lookup timed out');
  t.equal(await metric(service, 'authz_shared_cache_hits_total'), 0);
  t.equal(as.exchanges.length, 2);
});

t.test('start-up does not wait for Redis: an unreachable one leaves the service ready and allowing', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t);
  await redis.stop();
  const service = await startService(t, serviceEnv(as, sharedEnv(redis, keysFile(t, [keyLine('k1')]))));
  t.ok(service.app.isReady());
  t.ok((await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))).allowed);
  t.ok(await metric(service, 'authz_shared_cache_misses_total') >= 1);
});

t.test('AUTH: a password from REDIS_PASSWORD_FILE or the URL is used; a wrong one is a miss, never printed', async (t) => {
  const as = await authorizationServer(t);
  const redis = await redisServer(t, { password: 'redis-pass-4f1e' });
  const keys = keysFile(t, [keyLine('k1')]);
  const passwordFile = tempFiles(t, 'redis-password-').write('password', 'redis-pass-4f1e\n');
  const fromFile = await startService(t, serviceEnv(as, sharedEnv(redis, keys, { REDIS_PASSWORD_FILE: passwordFile })));
  const alice = await as.mintAccessToken({ sub: 'alice' });
  await checkToken(fromFile, alice);
  await entriesInRedis(redis, 1);
  const fromUrl = await startService(t, serviceEnv(as, sharedEnv({ url: `redis://:redis-pass-4f1e@127.0.0.1:${redis.port}` }, keys)));
  t.ok((await checkToken(fromUrl, alice)).allowed);
  t.equal(as.exchanges.length, 1, 'read with the password from the URL');

  const wrong = await startService(t, serviceEnv(as, sharedEnv({ url: `redis://:wrong-pass-9c2d@127.0.0.1:${redis.port}` }, keys)));
  t.ok((await checkToken(wrong, alice)).allowed, 'allowed through the token endpoint');
  t.equal(as.exchanges.length, 2);
  for (const service of [fromFile, fromUrl, wrong]) t.notMatch(service.logText(), /redis-pass-4f1e|wrong-pass-9c2d/, 'no password in the logs');
});
