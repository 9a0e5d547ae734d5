// Client authentication at the local authorization server's token endpoint, over real HTTP on
// 127.0.0.1: none, client_secret_basic, client_secret_post, private_key_jwt (RFC 7523 §2.2), and
// tls_client_auth without TLS (the certificate cases are in authorization-server-mtls.ts).
import t from 'tap';
import { decodeJwt } from 'jose';
import {
  ACCESS_TOKEN_TYPE,
  startAuthorizationServer,
  TOKEN_EXCHANGE_GRANT,
  type AuthorizationServer,
} from '../fixtures/authorization-server/index.js';
import { closeAgents, getJson, postForm, privateKeyJwtClient, type CallingClient } from '../fixtures/as-client.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const UPSTREAM = 'https://upstream.example.com';

// Nothing may be printed by the server (mTLS and the storage adapter included).
const printed: unknown[][] = [];
const originalConsole = { ...console };
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  console[method] = (...args: unknown[]) => void printed.push(args);
}
t.teardown(() => void Object.assign(console, originalConsole));
t.teardown(closeAgents);

const basic: CallingClient = { id: 'gw-basic', authMethod: 'client_secret_basic', secret: 'basic-secret' };
const post: CallingClient = { id: 'gw-post', authMethod: 'client_secret_post', secret: 'post-secret' };
const pub: CallingClient = { id: 'gw-public', authMethod: 'none' };
const rsa = await privateKeyJwtClient('gw-jwt');
const ec = await privateKeyJwtClient('gw-jwt-es', 'ES256');
const stranger = await privateKeyJwtClient('gw-jwt'); // same client id, a key the server does not know
const tlsClient: CallingClient = { id: 'gw-tls', authMethod: 'tls_client_auth' };

const as: AuthorizationServer = await startAuthorizationServer({
  resource: RESOURCE,
  exchangeClients: [basic, post, pub, rsa.registration, ec.registration, { id: tlsClient.id, authMethod: 'tls_client_auth', tlsSubjectDn: 'CN=gw-tls' }],
  exchangeTargets: [UPSTREAM],
});
t.teardown(() => as.close());

const exchangeForm = async (sub = 'alice'): Promise<Array<[string, string]>> => [
  ['grant_type', TOKEN_EXCHANGE_GRANT],
  ['subject_token', await as.mintAccessToken({ sub })],
  ['subject_token_type', ACCESS_TOKEN_TYPE],
  ['audience', UPSTREAM],
];

t.test('discovery advertises the five client authentication methods and the introspection endpoint', async (t) => {
  const metadata = await getJson(`${as.issuer}/.well-known/openid-configuration`);
  t.same(
    [...(metadata.token_endpoint_auth_methods_supported as string[])].sort(),
    ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt', 'tls_client_auth'],
  );
  const algs = metadata.token_endpoint_auth_signing_alg_values_supported as string[];
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) t.ok(algs.includes(alg), alg);
  t.notOk(algs.some((alg) => alg.startsWith('HS')), 'no symmetric algorithms (client_secret_jwt is not offered)');
  t.equal(metadata.introspection_endpoint, as.introspectionEndpoint);
  t.equal(metadata.tls_client_certificate_bound_access_tokens, false);
  t.notOk('mtls_endpoint_aliases' in metadata);
  t.equal(as.mtlsTokenEndpoint, undefined);
});

t.test('each method authenticates its client and the exchange succeeds', async (t) => {
  for (const client of [basic, post, pub, rsa.client, ec.client]) {
    const before = as.exchanges.length;
    const { status, body } = await postForm(as.tokenEndpoint, await exchangeForm(), client);
    t.equal(status, 200, client.authMethod);
    t.equal(body.issued_token_type, ACCESS_TOKEN_TYPE, client.authMethod);
    t.equal(decodeJwt(body.access_token as string).client_id, client.id, client.authMethod);
    t.equal(as.exchanges.at(-1)?.clientId, client.id);
    t.equal(as.exchanges.length, before + 1);
  }
});

t.test('failed client authentication → 401 invalid_client before the grant handler', async (t) => {
  const before = as.exchanges.length;
  const cases: Record<string, [CallingClient | undefined, Parameters<typeof postForm>[3]?]> = {
    'basic, wrong secret': [{ ...basic, secret: 'wrong' }],
    'post, wrong secret': [{ ...post, secret: 'wrong' }],
    'basic client using client_secret_post': [{ ...basic, authMethod: 'client_secret_post' }],
    'public client presenting a secret': [{ ...pub, authMethod: 'client_secret_post', secret: 'anything' }],
    'private_key_jwt, key the server does not know': [stranger.client],
    'private_key_jwt, assertion for another audience': [rsa.client, { assertionAudience: 'https://other.example.com/token' }],
    'private_key_jwt, expired assertion': [rsa.client, { assertionClaims: { exp: Math.floor(Date.now() / 1000) - 120 } }],
    'private_key_jwt client using a secret': [{ id: rsa.client.id, authMethod: 'client_secret_basic', secret: 'guess' }],
    'tls_client_auth over plain HTTP (no certificate)': [tlsClient],
    'unknown client': [{ id: 'nobody', authMethod: 'client_secret_basic', secret: 'x' }],
  };
  for (const [name, [client, options]] of Object.entries(cases)) {
    const { status, body } = await postForm(as.tokenEndpoint, await exchangeForm(), client, options);
    t.equal(status, 401, name);
    t.equal(body.error, 'invalid_client', name);
  }
  const none = await postForm(as.tokenEndpoint, await exchangeForm(), undefined);
  t.equal(none.status, 400, 'no client authentication at all');
  t.equal(none.body.error, 'invalid_request');
  t.equal(as.exchanges.length, before, 'the grant handler saw none of them');
});

t.test('private_key_jwt: accepted assertion audiences (oidc-provider 9)', async (t) => {
  const accepted: Record<string, string | string[]> = {
    'token endpoint URL': as.tokenEndpoint,
    'issuer identifier': as.issuer,
    'a list including the issuer': ['https://other.example.com', as.issuer],
  };
  for (const [name, audience] of Object.entries(accepted)) {
    const { status } = await postForm(as.tokenEndpoint, await exchangeForm(), rsa.client, { assertionAudience: audience });
    t.equal(status, 200, name);
  }
  // At introspection, the introspection endpoint URL is accepted too, and so is the token endpoint URL.
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  for (const audience of [as.introspectionEndpoint, as.tokenEndpoint, as.issuer]) {
    const { status, body } = await postForm(as.introspectionEndpoint, [['token', token]], rsa.client, { assertionAudience: audience });
    t.equal(status, 200, audience);
    t.equal(body.active, true, audience);
  }
  const wrong = await postForm(as.tokenEndpoint, await exchangeForm(), rsa.client, { assertionAudience: as.introspectionEndpoint });
  t.equal(wrong.status, 401, 'the introspection URL is not an audience for the token endpoint');
});

t.test('private_key_jwt: an assertion can be used once (jti replay → invalid_client)', async (t) => {
  const jti = 'fixed-jti-1';
  const first = await postForm(as.tokenEndpoint, await exchangeForm(), rsa.client, { assertionClaims: { jti } });
  t.equal(first.status, 200);
  const replay = await postForm(as.tokenEndpoint, await exchangeForm(), rsa.client, { assertionClaims: { jti } });
  t.equal(replay.status, 401);
  t.equal(replay.body.error, 'invalid_client');
});

t.test('public clients cannot use client_credentials; confidential ones can', async (t) => {
  const publicCc = await postForm(as.tokenEndpoint, [['grant_type', 'client_credentials']], pub);
  t.equal(publicCc.status, 400);
  t.equal(publicCc.body.error, 'invalid_request');
  for (const client of [basic, rsa.client]) {
    const { status, body } = await postForm(as.tokenEndpoint, [['grant_type', 'client_credentials']], client);
    t.equal(status, 200, client.authMethod);
    t.type(body.access_token, 'string');
  }
});

t.test('invalid client registrations are refused at start', async (t) => {
  const bad = [
    { id: 'a', authMethod: 'client_secret_basic' as const },
    { id: 'b', authMethod: 'private_key_jwt' as const },
    { id: 'c', authMethod: 'tls_client_auth' as const },
  ];
  for (const client of bad) {
    await t.rejects(startAuthorizationServer({ resource: RESOURCE, exchangeClients: [client], exchangeTargets: [] }), TypeError, client.authMethod);
  }
  await t.rejects(startAuthorizationServer({ resource: RESOURCE, exchangeClients: [], exchangeTargets: [], mtlsAlias: true }), /mtlsAlias/);
});

t.test('the server printed nothing', async (t) => {
  t.same(printed, []);
});
