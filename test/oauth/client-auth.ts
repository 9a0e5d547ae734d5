import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { ClientConfig } from '../../src/config/model.js';
import { authenticatedNow, clientAuthentication, endpointOf } from '../../src/oauth/client-auth.js';

const clock = () => 1_800_000_000_000;
const AS = { issuer: 'https://as.example.com', token_endpoint: 'https://as.example.com/token' };
const CLIENT: ClientConfig = { id: 'mcp-gateway', authMethod: 'client_secret_basic', secret: 'mcp-gateway-secret', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };

async function apply(client: ClientConfig, as: Parameters<typeof endpointOf>[0] = AS) {
  const body = new URLSearchParams();
  const headers = new Headers();
  await clientAuthentication(client, AS.issuer, clock)(as, { client_id: client.id }, body, headers);
  return { body, headers };
}

t.test('client_secret_basic leaves unreserved characters as they are (RFC 6749 §2.3.1, Appendix B)', async (t) => {
  const { headers, body } = await apply(CLIENT);
  t.equal(headers.get('authorization'), `Basic ${Buffer.from('mcp-gateway:mcp-gateway-secret').toString('base64')}`);
  t.equal([...body].length, 0);
});

t.test('private_key_jwt keeps the configured alg name, and its aud follows the endpoint called', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const client: ClientConfig = { ...CLIENT, authMethod: 'private_key_jwt', secret: undefined, signingKey: { key: privateKey, alg: 'EdDSA', kid: undefined } };
  const introspection = { issuer: AS.issuer, introspection_endpoint: 'https://as.example.com/introspect' };
  const { body } = await apply(client, introspection);
  const assertion = body.get('client_assertion')!;
  t.same(decodeProtectedHeader(assertion), { alg: 'EdDSA' }, 'EdDSA, not Ed25519; no kid when none is configured');
  const { payload } = await jwtVerify(assertion, publicKey, { currentDate: new Date(clock()), audience: introspection.introspection_endpoint });
  t.equal(payload.iat, clock() / 1000, 'times from the injected clock');
  t.equal(body.get('client_id'), 'mcp-gateway');
});

t.test('authenticatedNow: credentials made once, set again on the request', async (t) => {
  let calls = 0;
  const replay = await authenticatedNow(
    (_as, client, body, headers) => {
      calls++;
      body.set('client_id', client.client_id);
      headers.set('authorization', 'Basic x');
    },
    AS,
    { client_id: 'gateway' },
  );
  const body = new URLSearchParams({ grant_type: 'g' });
  const headers = new Headers({ accept: 'application/json' });
  await replay(AS, { client_id: 'other' }, body, headers);
  t.equal(calls, 1);
  t.same([...body], [['grant_type', 'g'], ['client_id', 'gateway']]);
  t.same(Object.fromEntries(headers), { accept: 'application/json', authorization: 'Basic x' });
});

t.test('a failure to authenticate is thrown before any request', async (t) => {
  const client: ClientConfig = { ...CLIENT, authMethod: 'client_assertion_file', secret: undefined, assertionFile: '/nonexistent/assertion' };
  await t.rejects(authenticatedNow(clientAuthentication(client, AS.issuer, clock), AS, { client_id: client.id }), { code: 'misconfigured' });
});

t.test('authenticatedNow: constant methods are used as they are; private_key_jwt still signs a fresh assertion per call (RFC 7523 §2.2)', async (t) => {
  for (const authMethod of ['client_secret_basic', 'client_secret_post', 'tls_client_auth', 'none'] as const) {
    const authenticate = clientAuthentication({ ...CLIENT, authMethod }, AS.issuer, clock);
    t.equal(await authenticatedNow(authenticate, AS, { client_id: CLIENT.id }), authenticate, `${authMethod}: nothing to do ahead of the call`);
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signing = clientAuthentication({ ...CLIENT, authMethod: 'private_key_jwt', secret: undefined, signingKey: { key: privateKey, alg: 'ES256', kid: 'k1' } }, AS.issuer, clock);
  const assertionOf = async () => {
    const body = new URLSearchParams();
    await (await authenticatedNow(signing, AS, { client_id: CLIENT.id }))(AS, { client_id: CLIENT.id }, body, new Headers());
    return body.get('client_assertion');
  };
  const first = await assertionOf();
  t.not(first, null);
  t.not(await assertionOf(), first, 'a new assertion for every call');
});
