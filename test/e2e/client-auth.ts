/**
 * Client authentication at the token endpoint, end to end: an Envoy-shaped gRPC client → the
 * real service on 127.0.0.1:0 → the real authorization server (oidc-provider, which does the
 * client authentication itself) over real HTTP/HTTPS. Settings: EXCHANGE_CLIENT_AUTH_METHOD with
 * EXCHANGE_CLIENT_SECRET, EXCHANGE_CLIENT_PRIVATE_KEY_FILE / _KEY_ID / _ASSERTION_ALG /
 * _ASSERTION_AUDIENCE, EXCHANGE_CLIENT_CERT_FILE / _KEY_FILE, and AUTHORIZATION_SERVER_CA_FILE.
 */
import t, { type Test } from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { AuthorizationServer } from '../fixtures/authorization-server/index.js';
import { checkToken, errorOf, exchangedToken, signingClient, statusOf, tempFiles } from '../fixtures/e2e-helpers.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { authorizationServer, EXCHANGE_CLIENT, serviceEnv, startService, UPSTREAM, type RunningService } from '../fixtures/service.js';

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The last exchange request the server's grant handler saw (only reached after client authentication succeeded). */
const lastExchange = (as: AuthorizationServer) => as.exchanges.at(-1);

/** A misconfiguration answer: 500, logged at error level with outcome misconfigured, and no exchange recorded. */
function expectMisconfigured(t: Test, service: RunningService, as: AuthorizationServer, result: Awaited<ReturnType<typeof checkToken>>): void {
  t.same(statusOf(result), [500, 13], '500 / INTERNAL');
  t.equal(errorOf(result), 'server_error');
  t.equal(as.exchanges.length, 0, 'the grant handler never saw the request: the client was rejected');
  t.ok(service.logs.some((line) => line.level === 'error' && line.outcome === 'misconfigured'), 'logged as an error');
}

t.test('none: a public client sends only client_id', async (t) => {
  const as = await authorizationServer(t, { exchangeClients: [{ id: 'public-gateway', authMethod: 'none' }] });
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_ID: 'public-gateway', EXCHANGE_CLIENT_AUTH_METHOD: 'none' }));
  const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))));
  t.hasStrict(exchanged, { sub: 'alice', aud: UPSTREAM, client_id: 'public-gateway', act: { sub: 'public-gateway' } });
  const record = lastExchange(as);
  t.equal(record?.clientId, 'public-gateway');
  t.equal(record?.params.client_id, 'public-gateway');
  t.notOk('client_secret' in record!.params, 'no secret (CLIENT_SECRET is set but not sent)');
  t.notOk('client_assertion' in record!.params);
});

t.test('client_secret_basic: id and secret form-encoded before Base64 (RFC 6749 §2.3.1)', async (t) => {
  // Characters that change under form encoding: the server decodes them the same way.
  const client = { id: 'gw:basic', secret: 'p@ss w0rd:+/%&=~' };
  const as = await authorizationServer(t, { exchangeClients: [{ ...client, authMethod: 'client_secret_basic' }] });

  t.test('accepted', async (t) => {
    const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_ID: client.id, EXCHANGE_CLIENT_SECRET: client.secret, EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_basic' }));
    const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))));
    t.equal(exchanged.client_id, client.id);
    const record = lastExchange(as);
    t.equal(record?.clientId, client.id);
    t.notOk('client_secret' in record!.params, 'the secret is not in the body');
    t.notOk('client_id' in record!.params, 'nor the client id');
    t.equal(service.logText().includes(client.secret), false, 'the secret is not logged');
  });

  t.test('the same client sending client_secret_post → 500 (the server holds it to its registered method)', async (t) => {
    const before = as.exchanges.length;
    const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_ID: client.id, EXCHANGE_CLIENT_SECRET: client.secret, EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_post' }));
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'alice' }));
    t.same(statusOf(result), [500, 13]);
    t.equal(as.exchanges.length, before);
  });
});

t.test('client_secret_post: id and secret in the body', async (t) => {
  const client = { id: 'gw-post', secret: 'post-secret' };
  const as = await authorizationServer(t, { exchangeClients: [{ ...client, authMethod: 'client_secret_post' }] });
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_ID: client.id, EXCHANGE_CLIENT_SECRET: client.secret, EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_post' }));
  const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))));
  t.equal(exchanged.client_id, client.id);
  t.hasStrict(lastExchange(as), { clientId: client.id, params: { client_id: client.id, client_secret: client.secret } });

  t.test('a wrong secret → 500', async (t) => {
    const other = await authorizationServer(t, { exchangeClients: [{ ...client, authMethod: 'client_secret_post' }] });
    const service = await startService(t, serviceEnv(other, { EXCHANGE_CLIENT_ID: client.id, EXCHANGE_CLIENT_SECRET: 'wrong', EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_post' }));
    expectMisconfigured(t, service, other, await checkToken(service, await other.mintAccessToken({ sub: 'alice' })));
  });
});

t.test('private_key_jwt (RFC 7523 §2.2)', async (t) => {
  const files = tempFiles(t, 'authz-client-keys-');
  const rsa = await signingClient('gw-rs256', 'RS256');
  const ec = await signingClient('gw-es256', 'ES256');
  const pss = await signingClient('gw-ps256', 'PS256');
  const as = await authorizationServer(t, { exchangeClients: [rsa.registration, ec.registration, pss.registration] });

  const cases = [
    {
      name: 'RS256 key as a PEM file, kid from EXCHANGE_CLIENT_KEY_ID, aud = the token endpoint',
      client: rsa,
      env: { EXCHANGE_CLIENT_PRIVATE_KEY_FILE: files.write('rs256.pem', rsa.privatePem), EXCHANGE_CLIENT_KEY_ID: rsa.kid, EXCHANGE_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' },
      alg: 'RS256',
      aud: () => as.tokenEndpoint,
    },
    {
      name: 'ES256 key as a JWK file, kid from the JWK, aud = the issuer',
      client: ec,
      env: { EXCHANGE_CLIENT_PRIVATE_KEY_FILE: files.write('es256.jwk', JSON.stringify(ec.privateJwk)), EXCHANGE_CLIENT_ASSERTION_AUDIENCE: 'issuer' },
      alg: 'ES256',
      aud: () => as.issuer,
    },
    {
      name: 'RSA key as a JWK file signing PS256 (EXCHANGE_CLIENT_ASSERTION_ALG), default audience',
      client: pss,
      env: { EXCHANGE_CLIENT_PRIVATE_KEY_FILE: files.write('ps256.jwk', JSON.stringify(pss.privateJwk)), EXCHANGE_CLIENT_ASSERTION_ALG: 'PS256' },
      alg: 'PS256',
      aud: () => as.tokenEndpoint,
    },
  ];

  for (const { name, client, env, alg, aud } of cases) {
    t.test(name, async (t) => {
      const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_ID: client.id, EXCHANGE_CLIENT_AUTH_METHOD: 'private_key_jwt', ...env }));
      const jtis: unknown[] = [];
      for (const sub of ['alice', 'bob']) {
        const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, await as.mintAccessToken({ sub }))));
        t.hasStrict(exchanged, { sub, client_id: client.id });
        const record = lastExchange(as);
        t.equal(record?.clientId, client.id);
        t.equal(record?.params.client_assertion_type, JWT_BEARER_ASSERTION);
        t.notOk('client_secret' in record!.params);
        const assertion = String(record?.params.client_assertion);
        t.same(decodeProtectedHeader(assertion), { alg, kid: client.kid });
        const claims = decodeJwt(assertion);
        t.hasStrict(claims, { iss: client.id, sub: client.id, aud: aud() });
        t.type(claims.jti, 'string');
        t.equal(claims.exp! - claims.iat!, 60, 'a 60 s assertion');
        jtis.push(claims.jti);
      }
      t.not(jtis[0], jtis[1], 'a fresh assertion (jti) per call');
    });
  }

  t.test('a key the server does not know → invalid_client → 500', async (t) => {
    const other = await authorizationServer(t, { exchangeClients: [rsa.registration] });
    const impostor = await signingClient(rsa.id, 'RS256', rsa.kid); // same client id and kid, another key
    const service = await startService(
      t,
      serviceEnv(other, { EXCHANGE_CLIENT_ID: rsa.id, EXCHANGE_CLIENT_AUTH_METHOD: 'private_key_jwt', EXCHANGE_CLIENT_PRIVATE_KEY_FILE: files.write('impostor.pem', impostor.privatePem) }),
    );
    expectMisconfigured(t, service, other, await checkToken(service, await other.mintAccessToken({ sub: 'alice' })));
  });
});

t.test('tls_client_auth (RFC 8705) over HTTPS with mtls_endpoint_aliases', async (t) => {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  // The main listener requests no client certificate; only the alias (a separate HTTPS origin,
  // published as mtls_endpoint_aliases.token_endpoint) authenticates tls_client_auth clients.
  const as = await authorizationServer(t, {
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert },
    mtlsAlias: true,
    exchangeClients: [{ id: EXCHANGE_CLIENT.id, authMethod: 'tls_client_auth', tlsSubjectDn: pki.client.subjectDn }],
  });
  const env = (pair: Pki['client'], extra: Record<string, string> = {}) =>
    serviceEnv(as, {
      AUTHORIZATION_SERVER_CA_FILE: pki.ca.certPath,
      EXCHANGE_CLIENT_AUTH_METHOD: 'tls_client_auth',
      EXCHANGE_CLIENT_CERT_FILE: pair.certPath,
      EXCHANGE_CLIENT_KEY_FILE: pair.keyPath,
      ...extra,
    });
  t.match(as.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.not(as.mtlsTokenEndpoint, as.tokenEndpoint);

  t.test('a certificate from the trusted CA: the exchange goes to the mTLS alias', async (t) => {
    const before = as.exchanges.length;
    const service = await startService(t, env(pki.client));
    const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))));
    t.hasStrict(exchanged, { sub: 'alice', iss: as.issuer, client_id: EXCHANGE_CLIENT.id });
    // The client is registered for tls_client_auth only, which only the alias accepts (the control
    // below shows the main endpoint refusing it): the grant handler seeing it means the alias was used.
    t.equal(as.exchanges.length, before + 1);
    t.hasStrict(lastExchange(as), { clientId: EXCHANGE_CLIENT.id, params: { client_id: EXCHANGE_CLIENT.id } });
    t.notOk('client_secret' in lastExchange(as)!.params, 'no secret: the certificate authenticates (CLIENT_SECRET is set but not sent)');
  });

  t.test('control: the same client at the main token endpoint (TOKEN_EXCHANGE_ENDPOINT_URL) → 500', async (t) => {
    const before = as.exchanges.length;
    const service = await startService(t, env(pki.client, { TOKEN_EXCHANGE_ENDPOINT_URL: as.tokenEndpoint }));
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'alice' }));
    t.same(statusOf(result), [500, 13]);
    t.equal(as.exchanges.length, before);
  });

  t.test('a certificate from a CA the server does not trust → 500 misconfigured', async (t) => {
    const before = as.exchanges.length;
    const service = await startService(t, env(pki.untrustedClient));
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'alice' }));
    t.same(statusOf(result), [500, 13]);
    t.equal(errorOf(result), 'server_error');
    t.equal(as.exchanges.length, before);
    t.ok(service.logs.some((line) => line.level === 'error' && line.outcome === 'misconfigured'));
  });
});

t.test('AUTHORIZATION_SERVER_CA_FILE: an HTTPS server trusted only through the custom CA bundle', async (t) => {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const as = await authorizationServer(t, { tls: { key: pki.server.key, cert: pki.server.cert } });
  const token = await as.mintAccessToken({ sub: 'alice' });

  t.test('without the CA file: TLS fails, the service never gets ready, checks → 503', async (t) => {
    const service = await startService(t, serviceEnv(as), { waitReady: false });
    // Wait for the first warm-up attempt (discovery and JWKS over HTTPS) to fail.
    let failure: Record<string, unknown> | undefined;
    for (let i = 0; i < 500 && !failure; i++) {
      failure = service.logs.find((line) => line.level === 'warn' && /not reachable/.test(String(line.msg)));
      if (!failure) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    t.ok(failure, 'warm-up failed and was logged');
    t.match(JSON.stringify(failure), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT/, 'because the certificate chains to no trusted CA');
    t.equal(service.app.isReady(), false);
    const result = await checkToken(service, token);
    t.same(statusOf(result), [503, 14]);
    t.equal(result.headers['retry-after'], '1');
    t.equal(as.exchanges.length, 0);
  });

  t.test('with the CA file: discovery, JWKS and the exchange over HTTPS → allowed', async (t) => {
    const service = await startService(t, serviceEnv(as, { AUTHORIZATION_SERVER_CA_FILE: pki.ca.certPath }));
    const exchanged = decodeJwt(exchangedToken(t, await checkToken(service, token)));
    t.hasStrict(exchanged, { sub: 'alice', iss: as.issuer, aud: UPSTREAM, client_id: EXCHANGE_CLIENT.id });
    t.equal(as.exchanges.length, 1);
  });
});
