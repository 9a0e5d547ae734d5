/** SPEC §4 cache behaviour, observed through the real authorization server's exchange count. */
import t from 'tap';
import { decodeJwt } from 'jose';
import { summarize } from '../fixtures/envoy-client.js';
import { ManualClock } from '../fixtures/clock.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

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
  const first = summarize(await service.client.check(bearer(token)));
  clock.advance(269_000); // 300 s less min(30 s, 10 %) = 270 s; not touched in between, so no refresh ahead
  const stillCached = summarize(await service.client.check(bearer(token)));
  t.equal(stillCached.headers.authorization, first.headers.authorization, 'served from the cache at 269 s');
  await waitFor(() => as.exchanges.length === 2); // the hit, in the last tenth of the entry's life, refreshed it
  t.pass('refreshed ahead in the background');
});

t.test('expiry at expires_in less the skew, when nothing refreshed it', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 300 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  await service.client.check(bearer(token));
  clock.advance(242_000); // before the refresh window (243 s)
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'a plain hit at 242 s');
  clock.advance(29_000); // 271 s: expired
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 2, 'exchanged again at 271 s');
});

t.test('refresh ahead: the cached token is served while the refresh runs, and replaced after', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 300 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  const first = summarize(await service.client.check(bearer(token)));
  clock.advance(250_000);
  as.exchangeDelayMs = 200;
  const during = await Promise.all([1, 2, 3].map(() => service.client.check(bearer(token))));
  t.ok(during.every((response) => summarize(response).headers.authorization === first.headers.authorization), 'the cached token answers at once');
  await waitFor(() => as.exchanges.length === 2);
  t.equal(as.exchanges.length, 2, 'one refresh, however many hits');
  for (let i = 0; i < 200 && (await service.app.metrics.value('authz_exchange_calls_total', { outcome: 'ok' })) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const after = summarize(await service.client.check(bearer(token)));
  t.not(after.headers.authorization, first.headers.authorization, 'the refreshed token replaces it');
});

t.test('a failed refresh keeps serving the cached token until it expires, never after', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 300 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'blocked-after-first', exp: Math.floor(Date.now() / 1000) + 3600 });
  const first = summarize(await service.client.check(bearer(token)));
  await as.close(); // the authorization server goes away
  clock.advance(260_000);
  const stale = summarize(await service.client.check(bearer(token)));
  t.equal(stale.headers.authorization, first.headers.authorization, 'still served inside its lifetime');
  clock.advance(11_000);
  const expired = summarize(await service.client.check(bearer(token)));
  t.same([expired.httpStatus, expired.grpcCode], [503, 14], 'not served past its expiry');
});

t.test('fallback EXCHANGE_CACHE_TTL when expires_in is absent', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: null });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CACHE_TTL: '60' }), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  await service.client.check(bearer(token));
  clock.advance(53_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'cached at 53 s');
  clock.advance(8_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 2, 'exchanged again at 61 s');
});

t.test('never cached past the inbound token\'s exp', async (t) => {
  const as = await authorizationServer(t, { exchangedTokenTtl: 3600 });
  const clock = new ManualClock();
  const service = await startService(t, serviceEnv(as, { CLOCK_TOLERANCE: '30' }), { clock: clock.now });
  const token = await as.mintAccessToken({ sub: 'alice', exp: clock.seconds + 100 });
  await service.client.check(bearer(token));
  clock.advance(85_000);
  await service.client.check(bearer(token));
  t.equal(as.exchanges.length, 1, 'cached while the inbound token lives');
  clock.advance(20_000); // past exp, inside the clock tolerance: the token still validates, the cache entry is gone
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
