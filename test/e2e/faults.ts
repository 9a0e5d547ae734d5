/**
 * Authorization-server faults give the SPEC §3 status, and the service
 * recovers by itself once the server heals. The token endpoint here is the
 * misbehaving FAKE; inbound tokens validate against the real server's JWKS.
 */
import t from 'tap';
import { summarize } from '../fixtures/envoy-client.js';
import { startMisbehavingServer, type Behaviour } from '../fixtures/misbehaving-server.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

const EXPECTED: Array<[Behaviour, number, number]> = [
  ['http-500', 503, 14],
  ['http-429', 503, 14],
  ['html', 503, 14],
  ['truncated-json', 503, 14],
  ['not-an-object', 503, 14],
  ['reset', 503, 14],
  ['slow', 503, 14],
  ['oversized', 503, 14],
  ['no-token-type', 503, 14],
  ['invalid_grant', 403, 7],
  ['weird_error', 403, 7],
  ['invalid_client', 500, 13],
  ['unsupported_grant_type', 500, 13],
  ['dpop-token', 503, 14], // SPEC §3: a token_type other than Bearer is a garbage answer
];

t.test('token endpoint faults', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startService(
    t,
    serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '300', AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES: '65536' }),
  );
  let user = 0;
  const freshToken = () => as.mintAccessToken({ sub: `user-${++user}` });

  for (const [behaviour, httpStatus, grpcCode] of EXPECTED) {
    fake.behaviour = behaviour;
    const token = await freshToken();
    const response = await service.client.check(bearer(token));
    const result = summarize(response);
    t.same([behaviour, result.httpStatus, result.grpcCode], [behaviour, httpStatus, grpcCode], `${behaviour} → ${httpStatus}`);
    if (httpStatus === 503) t.equal(result.headers['retry-after'], '1', `${behaviour}: retry-after`);
    t.equal(JSON.stringify(response).includes(token), false, `${behaviour}: the token is not echoed`);

    fake.behaviour = 'ok';
    if (httpStatus === 403) {
      // A refusal is remembered for a few seconds: the same token is refused again without a call.
      const calls = fake.calls;
      const again = summarize(await service.client.check(bearer(token)));
      t.same([again.httpStatus, fake.calls], [403, calls], `${behaviour}: the refusal is remembered, no new call`);
    }
    if (behaviour === 'http-429') {
      // SPEC §3: a 429 holds back this key until its retry-after; other keys go on (rate-limit.ts has the rest).
      const calls = fake.calls;
      const held = summarize(await service.client.check(bearer(token)));
      t.same([held.httpStatus, fake.calls], [503, calls], `${behaviour}: the same token waits out retry-after, no new call`);
    }
    const healed = summarize(await service.client.check(bearer(httpStatus === 403 || behaviour === 'http-429' ? await freshToken() : token)));
    t.equal(healed.allowed, true, `${behaviour}: the next check succeeds once the server heals`);
  }

  t.test('server down → 503, then recovers', async (t) => {
    await fake.down();
    const token = await freshToken();
    const down = summarize(await service.client.check(bearer(token)));
    t.same([down.httpStatus, down.grpcCode], [503, 14]);
    await fake.up();
    t.equal(summarize(await service.client.check(bearer(token))).allowed, true);
  });

  t.test('what was sent: RFC 8693 form body and RFC 6749 §2.3.1 Basic credentials', async (t) => {
    const token = await freshToken();
    await service.client.check(bearer(token));
    const body = new URLSearchParams(fake.lastBody);
    t.equal(body.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
    t.equal(body.get('subject_token'), token);
    t.equal(body.get('client_secret'), null, 'no secret in the body with client_secret_basic');
    t.equal(fake.lastHeaders['content-type'], 'application/x-www-form-urlencoded');
    t.equal(fake.lastHeaders.authorization, `Basic ${Buffer.from('mcp-gateway:mcp-gateway-secret').toString('base64')}`);
  });

  t.equal(service.logText().includes('eyJ'), false, 'no JWT reached the logs');
});

t.test('JWKS unreachable at start → 503 and not ready', async (t) => {
  const fake = await startMisbehavingServer(t);
  const as = await authorizationServer(t);
  await fake.down();
  const service = await startService(t, serviceEnv(as, { JWKS_URI: fake.url.replace('/token', '/jwks'), TOKEN_EXCHANGE_ENDPOINT_URL: fake.url }), { waitReady: false });
  const token = await as.mintAccessToken({ sub: 'alice' });
  const result = summarize(await service.client.check(bearer(token)));
  t.same([result.httpStatus, result.grpcCode], [503, 14]);
  t.equal(service.app.isReady(), false, 'not ready until the keys load');
});

t.test('discovery fails while the issuer answers 500 → 503 and not ready', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  fake.behaviour = 'http-500';
  const issuer = fake.url.replace('/token', '');
  const service = await startService(t, serviceEnv({ issuer }), { waitReady: false });
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice', iss: issuer }))));
  t.same([result.httpStatus, result.grpcCode], [503, 14]);
  t.equal(service.app.isReady(), false);
  const ready = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`);
  t.equal(ready.status, 503);
});
