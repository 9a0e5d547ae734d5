import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientConfig, Config, IssuerConfig, TargetConfig } from '../../src/config/model.js';
import { Issuers } from '../../src/oauth/issuers.js';

/** A FAKE metadata host: one OIDC discovery document, and counts the calls. */
async function metadataHost(t: Test, document: (issuer: string) => Record<string, unknown>) {
  const calls: string[] = [];
  const server = createServer((request, response) => {
    calls.push(request.url!);
    const found = request.url === '/.well-known/openid-configuration';
    response.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
    response.end(found ? JSON.stringify(document(issuer)) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { issuer, calls };
}

const LIMITS: Config['authorizationServer'] = { timeoutMs: 2000, maxResponseBytes: 65536, allowInsecureHttp: false, ca: undefined, jwksRefreshSeconds: 300, jwksCooldownSeconds: 30 };
const CLIENT: ClientConfig = { id: 'gateway', authMethod: 'client_secret_basic', secret: 's', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const TLS_CLIENT: ClientConfig = { ...CLIENT, authMethod: 'tls_client_auth', secret: undefined, tls: { cert: 'cert-a', key: 'key-a' } };

function build(t: Test, issuer: string) {
  const fetches: string[] = [];
  const issuers = new Issuers({ issuers: [{ issuer } as IssuerConfig], authorizationServer: LIMITS }, { clock: Date.now, tracer: undefined, onJwksFetch: (outcome) => fetches.push(outcome) });
  t.teardown(() => issuers.close());
  return { issuers, fetches };
}

t.test('RFC 8705 §5: only a certificate-authenticated client uses the mTLS alias', async (t) => {
  const { issuer, calls } = await metadataHost(t, (issuer) => ({ issuer, token_endpoint: `${issuer}/token`, mtls_endpoint_aliases: { token_endpoint: `${issuer}/mtls/token` } }));
  const { issuers } = build(t, issuer);
  const target = (client: ClientConfig, tokenEndpoint?: string) => ({ issuer, client, tokenEndpoint }) as TargetConfig;
  t.equal(await issuers.tokenEndpointOf(target(TLS_CLIENT)), `${issuer}/mtls/token`);
  t.equal(await issuers.tokenEndpointOf(target(CLIENT)), `${issuer}/token`);
  t.equal(await issuers.tokenEndpointOf(target(TLS_CLIENT, 'https://configured.example.com/token')), 'https://configured.example.com/token', 'a configured endpoint wins');
  t.same(calls, ['/.well-known/openid-configuration'], 'discovered once');
});

t.test('a missing token_endpoint names the setting to configure', async (t) => {
  const { issuer } = await metadataHost(t, (issuer) => ({ issuer }));
  const { issuers } = build(t, issuer);
  await t.rejects(issuers.tokenEndpointOf({ issuer, client: CLIENT, tokenEndpoint: undefined } as TargetConfig), { code: 'misconfigured', message: /TOKEN_EXCHANGE_ENDPOINT_URL/ });
});

t.test('one HTTP client per client certificate, the shared one otherwise', async (t) => {
  const { issuers } = build(t, 'http://127.0.0.1:9');
  t.equal(issuers.httpFor(CLIENT), issuers.httpFor({ ...CLIENT, id: 'other' }));
  t.equal(issuers.httpFor(TLS_CLIENT), issuers.httpFor({ ...TLS_CLIENT }));
  t.not(issuers.httpFor(TLS_CLIENT), issuers.httpFor(CLIENT));
  t.not(issuers.httpFor(TLS_CLIENT), issuers.httpFor({ ...TLS_CLIENT, tls: { cert: 'cert-b', key: 'key-b' } }));
});

t.test('JWK Set fetches are counted by outcome', async (t) => {
  const { issuer } = await metadataHost(t, (issuer) => ({ issuer, jwks_uri: `${issuer}/jwks` }));
  const { issuers, fetches } = build(t, issuer);
  const keys = await issuers.keysOf({ issuer, jwksUri: undefined } as IssuerConfig);
  t.equal(await issuers.keysOf({ issuer, jwksUri: undefined } as IssuerConfig), keys, 'one key set per issuer');
  await t.rejects(keys.reload());
  t.same(fetches, ['http_404']);
});
