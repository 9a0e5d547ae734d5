/**
 * RFC 7662 introspection end to end: an Envoy-shaped gRPC client → the real service on
 * 127.0.0.1:0 → the real authorization server's (oidc-provider's) introspection endpoint over
 * real HTTP/HTTPS. Settings: INTROSPECTION_ENDPOINT_URL, the issuer's CLIENT_ID / CLIENT_SECRET /
 * CLIENT_AUTH_METHOD (+ key and certificate files), INTROSPECTION_CACHE_SECONDS,
 * INTROSPECTION_INACTIVE_CACHE_SECONDS.
 *
 * Unless a test says otherwise the exchange goes to the FAKE token endpoint
 * (test/fixtures/misbehaving-server.ts, behaviour 'ok'): the local authorization server exchanges
 * only JWTs it signed, so an opaque subject token is refused there (see the first test). Every
 * introspection call goes to the real server.
 */
import t, { type Test } from 'tap';
import { summarize } from '../fixtures/envoy-client.js';
import type { AuthorizationServer, AuthorizationServerOptions } from '../fixtures/authorization-server/index.js';
import { ManualClock } from '../fixtures/clock.js';
import { checkToken, errorOf, exchangedToken, signingClient, statusOf, tempFiles } from '../fixtures/e2e-helpers.js';
import { startMisbehavingServer, type MisbehavingServer } from '../fixtures/misbehaving-server.js';
import { createPki } from '../fixtures/pki.js';
import { authorizationServer, EXCHANGE_CLIENT, RESOURCE, serviceEnv, startService, UPSTREAM, type RunningService } from '../fixtures/service.js';

const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

interface Setup {
  as: AuthorizationServer;
  fake: MisbehavingServer;
  service: RunningService;
}

/** The real AS, the fake token endpoint, and the service introspecting at the AS and exchanging at the fake. */
async function setUp(
  t: Test,
  env: Record<string, string | undefined> = {},
  options: { clock?: ManualClock; as?: Partial<AuthorizationServerOptions> } = {},
): Promise<Setup> {
  const as = await authorizationServer(t, options.as);
  const fake = await startMisbehavingServer(t);
  const service = await startService(
    t,
    serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: as.introspectionEndpoint, TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, ...env }),
    options.clock ? { clock: options.clock.now } : {},
  );
  return { as, fake, service };
}

/** The form parameters of the last request the fake token endpoint received. */
const lastForm = (fake: MisbehavingServer) => Object.fromEntries(new URLSearchParams(fake.lastBody));

t.test('an opaque token is introspected, allowed and exchanged: the exchange subject is the opaque token', async (t) => {
  const { as, fake, service } = await setUp(t);
  const opaque = await as.mintOpaqueToken({ sub: 'alice', scope: 'mcp:tools mcp:read' });
  t.notMatch(opaque, /\./, 'opaque: not a JWS');

  const response = await service.client.check({ headers: { authorization: `Bearer ${opaque}` } });
  const result = summarize(response);
  t.equal(exchangedToken(t, result), 'exchanged-1', 'the token the token endpoint issued');
  t.equal(as.introspections, 1, 'one introspection call at the real server');
  t.equal(fake.calls, 1, 'one exchange');
  const form = lastForm(fake);
  t.equal(form.grant_type, TOKEN_EXCHANGE_GRANT);
  t.equal(form.subject_token, opaque, 'the subject token is the opaque inbound token');
  t.equal(form.subject_token_type, ACCESS_TOKEN_TYPE);
  t.equal(form.resource, UPSTREAM);
  // The principal comes from the introspection response.
  t.equal(response.dynamic_metadata?.fields?.sub?.stringValue, 'alice');
  t.equal(response.dynamic_metadata?.fields?.client_id?.stringValue, 'demo-app');
  t.equal(response.dynamic_metadata?.fields?.scope?.stringValue, 'mcp:tools mcp:read');
  t.equal(JSON.stringify(response).includes(opaque), false, 'the inbound token appears nowhere in the response');
});

t.test('an opaque token sent for exchange to the real authorization server', async (t) => {
  // Same flow with the exchange at the real server. The service sends the opaque token as the
  // subject token; the local server's rfc8693 grant verifies subject tokens as JWTs it signed, so
  // it refuses an opaque one (invalid_grant → 403). What is asserted here is the request.
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: as.introspectionEndpoint }));
  const opaque = await as.mintOpaqueToken({ sub: 'alice' });
  const result = await checkToken(service, opaque);
  t.equal(as.introspections, 1);
  t.equal(as.exchanges.length, 1, 'the token endpoint was called');
  t.hasStrict(as.exchanges[0], { clientId: EXCHANGE_CLIENT.id, params: { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: opaque, subject_token_type: ACCESS_TOKEN_TYPE, resource: UPSTREAM } });
  t.same(statusOf(result), [403, 7], 'the local server exchanges only its own JWTs');
});

t.test('aud, iss and exp of the introspection response are checked', async (t) => {
  t.test('a token for another audience → 401', async (t) => {
    const { as, fake, service } = await setUp(t);
    const elsewhere = await as.mintOpaqueToken({ sub: 'alice', aud: 'https://other.example.com/api' });
    const result = await checkToken(service, elsewhere);
    t.same(statusOf(result), [401, 16]);
    t.equal(errorOf(result), 'invalid_token');
    t.match(JSON.parse(result.body!).error_description, /aud/);
    t.equal(as.introspections, 1, 'it was introspected (and active) at the server');
    t.equal(fake.calls, 0, 'no exchange');
    // Control: the same server, the accepted audience.
    t.equal((await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }))).allowed, true);
  });

  t.test('ACCEPTED_AUDIENCES widens the accepted aud values for introspected tokens too', async (t) => {
    const { as, service } = await setUp(t, { ACCEPTED_AUDIENCES: `${RESOURCE} https://other.example.com/api` });
    t.equal((await checkToken(service, await as.mintOpaqueToken({ sub: 'alice', aud: 'https://other.example.com/api' }))).allowed, true);
  });

  t.test("a token of another issuer (its introspection answers that issuer's iss) → 401", async (t) => {
    // The service trusts `as` but introspects at `other`, whose answers carry iss = other.issuer.
    const as = await authorizationServer(t);
    const other = await authorizationServer(t);
    const fake = await startMisbehavingServer(t);
    const service = await startService(t, serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: other.introspectionEndpoint, TOKEN_EXCHANGE_ENDPOINT_URL: fake.url }));
    const result = await checkToken(service, await other.mintOpaqueToken({ sub: 'alice' }));
    t.same(statusOf(result), [401, 16]);
    t.match(JSON.parse(result.body!).error_description, /iss/);
    t.equal(other.introspections, 1, 'active at the server that issued it');
    t.equal(fake.calls, 0);
  });

  t.test('exp: an active answer is reused never past exp, and an expired exp → 401', async (t) => {
    // The server says active (its own clock has not moved); the service's clock is past exp.
    const clock = new ManualClock();
    const { as, fake, service } = await setUp(t, { CLOCK_TOLERANCE: '0', INTROSPECTION_CACHE_SECONDS: '600' }, { clock });
    const token = await as.mintOpaqueToken({ sub: 'alice', ttl: 20 });
    t.equal((await checkToken(service, token)).allowed, true);
    clock.advance(10_000);
    t.equal((await checkToken(service, token)).allowed, true);
    t.equal(as.introspections, 1, 'reused inside exp');
    clock.advance(15_000); // 25 s after minting, exp was 20 s
    const expired = await checkToken(service, token);
    t.equal(as.introspections, 2, 'introspected again: the cached answer died at exp');
    t.same(statusOf(expired), [401, 16]);
    t.match(JSON.parse(expired.body!).error_description, /expired/);
    t.equal(fake.calls, 1);
  });

  t.test('an unknown opaque token → 401', async (t) => {
    const { as, service } = await setUp(t);
    const result = await checkToken(service, 'c3VyZWx5LW5vdC1hLXRva2VuLWF0LWFsbA');
    t.same(statusOf(result), [401, 16]);
    t.equal(as.introspections, 1);
  });
});

t.test('a revoked token → 401', async (t) => {
  const { as, fake, service } = await setUp(t);
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  await as.revoke(token);
  const result = await checkToken(service, token);
  t.same(statusOf(result), [401, 16]);
  t.equal(errorOf(result), 'invalid_token');
  t.equal(result.headers['www-authenticate'], 'Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"');
  t.equal(as.introspections, 1);
  t.equal(fake.calls, 0, 'no exchange for an inactive token');
});

t.test('INTROSPECTION_CACHE_SECONDS: an active answer is reused until the cap', async (t) => {
  const clock = new ManualClock();
  const { as, fake, service } = await setUp(t, { INTROSPECTION_CACHE_SECONDS: '20' }, { clock });
  const token = await as.mintOpaqueToken({ sub: 'alice' }); // exp in 600 s: the cap decides
  for (let i = 0; i < 3; i++) t.equal((await checkToken(service, token)).allowed, true);
  t.equal(as.introspections, 1, 'three checks, one introspection');

  clock.advance(19_000);
  t.equal((await checkToken(service, token)).allowed, true);
  t.equal(as.introspections, 1, 'still reused 19 s later');

  // Revoked at the server while cached: reused until the cap (the documented trade-off), then refused.
  await as.revoke(token);
  t.equal((await checkToken(service, token)).allowed, true, 'the cached answer still holds');
  t.equal(as.introspections, 1);
  clock.advance(2_000); // 21 s > 20 s
  const after = await checkToken(service, token);
  t.equal(as.introspections, 2, 'introspected again after the cap');
  t.same(statusOf(after), [401, 16], 'and now the server says inactive');
  t.equal(fake.calls, 1, 'one exchange all along (the exchanged token was cached)');
});

t.test('INTROSPECTION_CACHE_SECONDS=0: every check introspects', async (t) => {
  const { as, service } = await setUp(t, { INTROSPECTION_CACHE_SECONDS: '0' });
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  for (let i = 0; i < 3; i++) t.equal((await checkToken(service, token)).allowed, true);
  t.equal(as.introspections, 3);
});

t.test('INTROSPECTION_INACTIVE_CACHE_SECONDS: an inactive answer is reused at most that long', async (t) => {
  const clock = new ManualClock();
  const { as, service } = await setUp(t, { INTROSPECTION_INACTIVE_CACHE_SECONDS: '3' }, { clock });
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  await as.revoke(token);
  t.same(statusOf(await checkToken(service, token)), [401, 16]);
  t.same(statusOf(await checkToken(service, token)), [401, 16]);
  t.equal(as.introspections, 1, 'the inactive answer was reused');
  clock.advance(2_900);
  t.same(statusOf(await checkToken(service, token)), [401, 16]);
  t.equal(as.introspections, 1, 'still inside 3 s');
  clock.advance(200); // 3.1 s
  t.same(statusOf(await checkToken(service, token)), [401, 16]);
  t.equal(as.introspections, 2, 'asked again once 3 s have passed');
});

t.test('INTROSPECTION_INACTIVE_CACHE_SECONDS=0: an inactive answer is not reused', async (t) => {
  const { as, service } = await setUp(t, { INTROSPECTION_INACTIVE_CACHE_SECONDS: '0' });
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  await as.revoke(token);
  for (let i = 0; i < 3; i++) t.same(statusOf(await checkToken(service, token)), [401, 16]);
  t.equal(as.introspections, 3);
});

t.test('introspection outage → 503', async (t) => {
  t.test('the authorization server is closed', async (t) => {
    const { as, fake, service } = await setUp(t);
    const token = await as.mintOpaqueToken({ sub: 'alice' });
    await as.close();
    const result = await checkToken(service, token);
    t.same(statusOf(result), [503, 14]);
    t.equal(result.headers['retry-after'], '1');
    t.equal(errorOf(result), 'temporarily_unavailable');
    t.equal(fake.calls, 0);
  });

  t.test('the introspection endpoint answers 500 (FAKE endpoint), and is not remembered as inactive', async (t) => {
    const as = await authorizationServer(t);
    const introspection = await startMisbehavingServer(t);
    introspection.behaviour = 'http-500';
    const service = await startService(t, serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: introspection.url }));
    const token = 'b3BhcXVlLXRva2VuLWZvci10aGUtZmFrZQ';
    const result = await checkToken(service, token);
    t.same(statusOf(result), [503, 14]);
    t.equal(introspection.calls, 1);
    t.ok(introspection.lastBody.startsWith(`token=${token}&`), 'the token was sent for introspection');
    t.same(statusOf(await checkToken(service, token)), [503, 14]);
    t.equal(introspection.calls, 2, 'a failure is not cached');
  });
});

t.test('our introspection client is rejected (wrong secret) → 500, logged as an error', async (t) => {
  const { as, fake, service } = await setUp(t, { CLIENT_SECRET: 'not-the-secret' });
  const result = await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }));
  t.same(statusOf(result), [500, 13]);
  t.equal(errorOf(result), 'server_error');
  t.equal(as.introspections, 1);
  t.equal(fake.calls, 0);
  t.ok(service.logs.some((line) => line.level === 'error' && line.outcome === 'misconfigured'), 'an error line names the misconfiguration');
  t.equal(service.logText().includes('not-the-secret'), false, 'the secret is not logged');
});

t.test('introspection with private_key_jwt client authentication', async (t) => {
  const introspector = await signingClient('introspector-jwt', 'ES256');
  const files = tempFiles(t, 'authz-introspection-jwt-');
  const pem = files.write('introspector.pem', introspector.privatePem);
  const asOptions = { introspectionClients: [introspector.registration] };
  const env = {
    CLIENT_ID: introspector.id,
    CLIENT_AUTH_METHOD: 'private_key_jwt',
    CLIENT_PRIVATE_KEY_FILE: pem,
    CLIENT_KEY_ID: introspector.kid,
    // The exchange client is another one (at the fake endpoint).
    EXCHANGE_CLIENT_ID: EXCHANGE_CLIENT.id,
    EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_basic',
    EXCHANGE_CLIENT_SECRET: EXCHANGE_CLIENT.secret,
  };

  for (const audience of ['token_endpoint', 'issuer']) {
    t.test(`assertion audience ${audience}`, async (t) => {
      const { as, fake, service } = await setUp(t, { ...env, CLIENT_ASSERTION_AUDIENCE: audience }, { as: asOptions });
      const result = await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }));
      t.equal(result.allowed, true);
      t.equal(as.introspections, 1);
      t.equal(fake.calls, 1);
      t.equal(fake.lastHeaders.authorization, `Basic ${Buffer.from(`${EXCHANGE_CLIENT.id}:${EXCHANGE_CLIENT.secret}`).toString('base64')}`, 'the exchange client authenticates on its own');
    });
  }

  t.test('a key the server does not know → 500', async (t) => {
    const impostor = await signingClient('introspector-jwt', 'ES256'); // same id and kid, another key
    const { as, fake, service } = await setUp(t, { ...env, CLIENT_PRIVATE_KEY_FILE: files.write('impostor.pem', impostor.privatePem) }, { as: asOptions });
    const result = await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }));
    t.same(statusOf(result), [500, 13]);
    t.equal(as.introspections, 1);
    t.equal(fake.calls, 0);
  });
});

t.test('introspection with tls_client_auth client authentication (HTTPS, generated CA)', async (t) => {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const introspector = { id: 'introspector-tls', authMethod: 'tls_client_auth' as const, tlsSubjectDn: pki.client.subjectDn };
  // HTTPS with the test CA; client certificates are requested on the main listener (no alias).
  const asOptions = { tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert }, introspectionClients: [introspector] };
  const env = {
    AUTHORIZATION_SERVER_CA_FILE: pki.ca.certPath,
    CLIENT_ID: introspector.id,
    CLIENT_AUTH_METHOD: 'tls_client_auth',
    CLIENT_CERT_FILE: pki.client.certPath,
    CLIENT_KEY_FILE: pki.client.keyPath,
    EXCHANGE_CLIENT_ID: EXCHANGE_CLIENT.id,
    EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_basic',
    EXCHANGE_CLIENT_SECRET: EXCHANGE_CLIENT.secret,
  };

  t.test('a certificate from the trusted CA with the registered subject', async (t) => {
    const { as, fake, service } = await setUp(t, env, { as: asOptions });
    t.match(as.introspectionEndpoint, /^https:\/\/127\.0\.0\.1:/);
    const result = await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }));
    t.equal(result.allowed, true);
    t.equal(as.introspections, 1);
    t.equal(fake.calls, 1);
  });

  t.test('a certificate from a CA the server does not trust → 500', async (t) => {
    const { as, fake, service } = await setUp(t, { ...env, CLIENT_CERT_FILE: pki.untrustedClient.certPath, CLIENT_KEY_FILE: pki.untrustedClient.keyPath }, { as: asOptions });
    const result = await checkToken(service, await as.mintOpaqueToken({ sub: 'alice' }));
    t.same(statusOf(result), [500, 13]);
    t.equal(as.introspections, 1);
    t.equal(fake.calls, 0);
  });
});
