/**
 * Protecting the authorization server and surviving its faults: held keys
 * outlive a JWKS outage, rotation is picked up with one fetch, an unknown-kid
 * storm costs at most one fetch per cooldown, and a failing token endpoint
 * trips the circuit breaker.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { summarize } from '../fixtures/envoy-client.js';
import { startMisbehavingServer } from '../fixtures/misbehaving-server.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

/** A FAKE JWKS relay: serves the real server's current key set, or fails on demand; counts fetches. */
async function jwksRelay(t: Test, upstream: string) {
  const state = { down: false, fetches: 0, url: '' };
  const server = createServer((_request, response) => {
    state.fetches++;
    if (state.down) return void response.writeHead(503).end();
    fetch(upstream).then(async (real) => response.writeHead(200, { 'content-type': 'application/json' }).end(await real.text()), () => response.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

t.test('JWKS endpoint down while keys are held: checks keep passing', async (t) => {
  const as = await authorizationServer(t);
  const relay = await jwksRelay(t, as.jwksUri);
  const service = await startService(t, serviceEnv(as, { JWKS_URI: relay.url }));
  t.equal(summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'a' })))).allowed, true);
  relay.down = true;
  for (const sub of ['b', 'c', 'd']) t.equal(summarize(await service.client.check(bearer(await as.mintAccessToken({ sub })))).allowed, true, `new token for ${sub}, keys held`);
  relay.down = false;
  t.equal(summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'e' })))).allowed, true, 'after it heals');
});

t.test('key rotation: the new kid is picked up with one fetch; old tokens stay valid while their key is published', async (t) => {
  const as = await authorizationServer(t);
  const relay = await jwksRelay(t, as.jwksUri);
  const service = await startService(t, serviceEnv(as, { JWKS_URI: relay.url, JWKS_COOLDOWN_SECONDS: '0' }));
  const oldToken = await as.mintAccessToken({ sub: 'old' });
  const fetchesAtStart = relay.fetches;
  await as.rotateKey();
  const newTokens = await Promise.all(['n1', 'n2', 'n3'].map((sub) => as.mintAccessToken({ sub })));
  const results = await Promise.all(newTokens.map((token) => service.client.check(bearer(token))));
  t.ok(results.every((response) => summarize(response).allowed), 'tokens signed with the new key pass');
  t.equal(relay.fetches - fetchesAtStart, 1, 'one fetch for the new kid, shared by concurrent checks');
  t.equal(summarize(await service.client.check(bearer(oldToken))).allowed, true, 'a token signed with the old key still passes');
});

t.test('unknown-kid storm: at most one JWKS fetch per cooldown', async (t) => {
  const as = await authorizationServer(t);
  const relay = await jwksRelay(t, as.jwksUri);
  const service = await startService(t, serviceEnv(as, { JWKS_URI: relay.url, JWKS_COOLDOWN_SECONDS: '30' }));
  const before = relay.fetches;
  const storm = await Promise.all(Array.from({ length: 40 }, (_, i) => as.mintWithForeignKey({ sub: `x${i}` }, { kid: `unknown-${i}` })));
  for (const batch of [storm.slice(0, 20), storm.slice(20)]) {
    const results = await Promise.all(batch.map((token) => service.client.check(bearer(token))));
    t.ok(results.every((response) => summarize(response).httpStatus === 401), 'all refused');
  }
  t.ok(relay.fetches - before <= 1, `${relay.fetches - before} fetch(es) for 40 unknown kids`);
});

t.test('circuit breaker: a failing token endpoint is left alone for a moment, then probed', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startService(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: fake.url }));
  fake.behaviour = 'http-500';
  const tokens = await Promise.all(Array.from({ length: 12 }, (_, i) => as.mintAccessToken({ sub: `u${i}` })));
  for (const token of tokens) t.equal(summarize(await service.client.check(bearer(token))).httpStatus, 503);
  t.equal(fake.calls, 5, 'five failures open the breaker; the other seven made no call');
  t.equal(await service.app.metrics.value('authz_exchange_calls_total', { outcome: 'breaker_open' }), 7);

  fake.behaviour = 'ok';
  await new Promise((resolve) => setTimeout(resolve, 1100));
  t.equal(summarize(await service.client.check(bearer(tokens[0]!))).allowed, true, 'after a second one probe goes through, and succeeds');
  t.equal(summarize(await service.client.check(bearer(tokens[1]!))).allowed, true, 'closed again');
  t.equal(fake.calls, 7);
});

t.test('while the server fails, concurrent checks for one token still make one call', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startService(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '300' }));
  fake.behaviour = 'slow';
  const token = await as.mintAccessToken({ sub: 'alice' });
  const results = await Promise.all(Array.from({ length: 20 }, () => service.client.check(bearer(token))));
  t.ok(results.every((response) => summarize(response).httpStatus === 503));
  t.equal(fake.calls, 1);
});
