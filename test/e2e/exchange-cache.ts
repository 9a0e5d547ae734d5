/** SPEC §4 cache behaviour, observed through the real authorization server's exchange count. */
import t from 'tap';
import { decodeJwt } from 'jose';
import { summarize } from '../../src/dev/envoy-client.js';
import { ManualClock } from '../fixtures/clock.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

const exchangedSub = (response: Awaited<ReturnType<typeof summarize>>) => decodeJwt(response.headers.authorization!.slice(7)).sub;

t.test('a hit makes no call to the token endpoint', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  const first = summarize(await service.client.check(bearer(token)));
  const second = summarize(await service.client.check({ raw: true, ...bearer(token) }));
  t.equal(as.exchanges.length, 1);
  t.equal(second.headers.authorization, first.headers.authorization, 'the cached token is served');
  t.equal(await service.app.metrics.value('authz_exchange_cache_hits_total'), 1);
});

t.test('50 concurrent misses for one token make one call', async (t) => {
  const as = await authorizationServer(t);
  as.exchangeDelayMs = 100;
  const service = await startService(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  const results = await Promise.all(Array.from({ length: 50 }, () => service.client.check(bearer(token))));
  t.equal(as.exchanges.length, 1);
  t.ok(results.every((response) => summarize(response).allowed), 'all 50 allowed');
  t.equal(new Set(results.map((response) => summarize(response).headers.authorization)).size, 1, 'all got the same exchanged token');
});

t.test('200 concurrent checks across 20 users never return another user\'s token', async (t) => {
  const as = await authorizationServer(t);
  as.exchangeDelayMs = 20;
  const service = await startService(t, serviceEnv(as));
  const users = await Promise.all(Array.from({ length: 20 }, async (_, i) => ({ sub: `user-${i}`, token: await as.mintAccessToken({ sub: `user-${i}` }) })));
  const checks = Array.from({ length: 200 }, (_, i) => users[i % 20]!);
  const results = await Promise.all(checks.map(async (user) => ({ user, result: summarize(await service.client.check(bearer(user.token))) })));
  const mismatches = results.filter(({ user, result }) => !result.allowed || exchangedSub(result) !== user.sub);
  t.equal(mismatches.length, 0, 'every exchanged token belongs to its own user');
  t.equal(as.exchanges.length, 20, 'one exchange per user');
});

t.test('lifetime from expires_in less the skew', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 300 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  await service.client.check(bearer(token));
  clock.advance(269_000); // 300 s less min(30 s, 10 %) = 270 s
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'still cached at 269 s');
  clock.advance(2_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 2, 'exchanged again at 271 s');
});

t.test('fallback EXCHANGE_CACHE_TTL when expires_in is absent', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: null });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CACHE_TTL: '60' }), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  await service.client.check(bearer(token));
  clock.advance(59_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'cached at 59 s');
  clock.advance(2_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 2, 'exchanged again at 61 s');
});

t.test('never cached past the inbound token\'s exp', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 3600 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as, { CLOCK_TOLERANCE: '30' }), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: clock.seconds + 100 });
  await service.client.check(bearer(token));
  clock.advance(90_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'cached while the inbound token lives');
  clock.advance(15_000); // past exp, inside the clock tolerance: the token still validates, the cache entry is gone
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 2, 'not served from the cache after exp');
});

t.test('bounded by EXCHANGE_CACHE_MAX, least recently used leaves first', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CACHE_MAX: '2' }));
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => as.mintAccessToken({ sub })));
  for (const token of [a, b, a, c, a, b]) await service.client.check(bearer(token!));
  // a, b → 2 calls; a hit; c evicts b (LRU); a hit; b again → call
  t.equal(as.exchanges.length, 4);
});
