import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import type { ClientConfig, TargetConfig } from '../../src/config/model.js';
import { targetConfig } from '../fixtures/target.js';
import { clientAuthentication, formEncode } from '../../src/oauth/client-auth.js';
import * as oauth from 'oauth4webapi';
import { requestParameters, requestShape } from '../../src/exchange/request-body.js';
import { processExchangeResponse } from '../../src/exchange/token-exchange.js';
import { AuthzError } from '../../src/errors.js';

const CLIENT: ClientConfig = { id: 'gateway', authMethod: 'client_secret_basic', secret: 's3cret', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const TARGET: TargetConfig = targetConfig({ client: CLIENT, resource: ['https://orders.example.com/'], scope: 'orders:read orders:write' });
const clock = () => 1_800_000_000_000;

const response = (status: number, body: unknown) => ({ status, contentType: 'application/json', retryAfter: undefined, body: typeof body === 'string' ? body : JSON.stringify(body) });
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return (error as AuthzError).code;
  }
};
const TOKEN_ENDPOINT = 'https://as.example.com/token';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
/** What client authentication sets on a request to the token endpoint. */
const credentialsOf = async (client: ClientConfig) => {
  const params = new URLSearchParams();
  const headers = new Headers();
  await clientAuthentication(client, 'https://as.example.com', clock)({ issuer: 'https://as.example.com', token_endpoint: TOKEN_ENDPOINT }, { client_id: client.id }, params, headers);
  return { headers: Object.fromEntries(headers) as Record<string, string | undefined>, params: [...params] };
};
/** The body oauth4webapi sends for one exchange, caught before it leaves. */
const bodyOf = async (target: TargetConfig, subject: string, actor?: string) => {
  const shape = requestShape(target);
  let sent: URLSearchParams | undefined;
  const capture = async (_url: string, init: { body?: unknown }) => {
    sent = new URLSearchParams(String(init.body));
    return new Response('{}');
  };
  const as = { issuer: target.issuer, token_endpoint: TOKEN_ENDPOINT };
  await oauth.genericTokenEndpointRequest(as, { client_id: target.client.id }, clientAuthentication(target.client, target.issuer, clock), shape.grantType, requestParameters(shape, subject, actor), { [oauth.customFetch]: capture });
  return sent!;
};

t.test('RFC 6749 §2.3.1: id and secret are form-encoded before Base64', async (t) => {
  const auth = await credentialsOf({ ...CLIENT, id: 'my client', secret: 'p@ss:wörd+%' });
  const decoded = Buffer.from(auth.headers.authorization!.replace(/^Basic /, ''), 'base64').toString();
  t.equal(decoded, 'my+client:p%40ss%3Aw%C3%B6rd%2B%25');
  t.same(auth.params, []);
  t.equal(formEncode('a b&c=d'), 'a+b%26c%3Dd');
});

t.test('client_secret_post, none and tls_client_auth put client_id in the body', async (t) => {
  const post = await bodyOf({ ...TARGET, client: { ...CLIENT, authMethod: 'client_secret_post' } }, 'tok');
  t.same([post.get('client_id'), post.get('client_secret')], ['gateway', 's3cret']);
  for (const authMethod of ['none', 'tls_client_auth'] as const) {
    const body = await bodyOf({ ...TARGET, client: { ...CLIENT, authMethod, secret: undefined } }, 'tok');
    t.same([body.get('client_id'), body.get('client_secret')], ['gateway', null], authMethod);
  }
});

t.test('private_key_jwt: RFC 7523 §2.2 assertion, fresh jti, short exp, aud = endpoint or issuer', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const client: ClientConfig = { ...CLIENT, authMethod: 'private_key_jwt', secret: undefined, signingKey: { key: privateKey, alg: 'ES256', kid: 'k1' } };
  const first = await bodyOf({ ...TARGET, client }, 'tok');
  const second = await bodyOf({ ...TARGET, client }, 'tok');
  t.equal(first.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  const assertion = first.get('client_assertion')!;
  t.same(decodeProtectedHeader(assertion), { alg: 'ES256', kid: 'k1' });
  const { payload } = await jwtVerify(assertion, publicKey, { currentDate: new Date(clock()), audience: 'https://as.example.com/token', issuer: 'gateway', subject: 'gateway' });
  t.equal(payload.exp! - payload.iat!, 60);
  t.not(payload.jti, undefined);
  const { payload: again } = await jwtVerify(second.get('client_assertion')!, publicKey, { currentDate: new Date(clock()) });
  t.not(again.jti, payload.jti, 'a fresh jti per assertion');
  const toIssuer = await bodyOf({ ...TARGET, client: { ...client, assertionAudience: 'issuer' } }, 'tok');
  await jwtVerify(toIssuer.get('client_assertion')!, publicKey, { currentDate: new Date(clock()), audience: 'https://as.example.com' });
});

t.test('RFC 8693 §2.1 request body', async (t) => {
  const body = await bodyOf(TARGET, 'a+b/c==');
  t.same([...body.keys()], ['grant_type', 'subject_token_type', 'audience', 'resource', 'scope', 'subject_token']);
  t.equal(body.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
  t.equal(body.get('scope'), 'orders:read orders:write');
  t.equal(body.get('subject_token'), 'a+b/c==', 'b64token characters survive form encoding');
  const lists = await bodyOf({ ...TARGET, audience: ['a', 'b'], resource: ['https://r1/', 'https://r2/'] }, 'tok');
  t.same(lists.getAll('audience'), ['a', 'b'], 'audience repeated');
  t.same(lists.getAll('resource'), ['https://r1/', 'https://r2/'], 'resource repeated');
  const minimal = await bodyOf({ ...TARGET, audience: [], resource: [], scope: undefined, requestedTokenType: 'urn:x' }, 'tok');
  t.same([...minimal.keys()], ['grant_type', 'subject_token_type', 'requested_token_type', 'subject_token']);
  const extra = await bodyOf({ ...TARGET, extraParams: [['tenant', 'acme']] }, 'tok');
  t.equal(extra.get('tenant'), 'acme');
});

t.test('actor_token and actor_token_type are sent together, only when there is an actor token', async (t) => {
  const withActor = { ...TARGET, actor: { ...TARGET.actor, source: 'header' as const, header: 'x-actor', tokenType: 'urn:ietf:params:oauth:token-type:jwt' } };
  const sent = await bodyOf(withActor, 'tok', 'actor-tok');
  t.same([sent.get('actor_token'), sent.get('actor_token_type')], ['actor-tok', 'urn:ietf:params:oauth:token-type:jwt']);
  const absent = await bodyOf(withActor, 'tok', undefined);
  t.same([absent.get('actor_token'), absent.get('actor_token_type')], [null, null]);
});

t.test('Entra ID On-Behalf-Of is the jwt-bearer grant, not RFC 8693', async (t) => {
  const body = await bodyOf({ ...TARGET, profile: 'entra_obo', audience: [], resource: [], scope: 'api://orders/.default', client: { ...CLIENT, authMethod: 'client_secret_post' } }, 'user-token');
  t.same(Object.fromEntries(body), {
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    requested_token_use: 'on_behalf_of',
    scope: 'api://orders/.default',
    assertion: 'user-token',
    client_id: 'gateway',
    client_secret: 's3cret',
  });
});

t.test('Keycloak "Client is not within the token audience" is a configuration error', async (t) => {
  const refusal = response(400, { error: 'access_denied', error_description: 'Client is not within the token audience' });
  t.equal(codeOf(() => processExchangeResponse(refusal, undefined, 'keycloak')), 'misconfigured');
  t.equal(codeOf(() => processExchangeResponse(refusal, undefined, 'rfc8693')), 'exchange_refused', 'only under the keycloak profile');
});

t.test('RFC 8693 §2.2.1 success', async (t) => {
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: ACCESS, expires_in: 60 }), undefined), { accessToken: 'x', expiresIn: 60 });
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'bearer', issued_token_type: ACCESS, expires_in: '120' }), undefined), { accessToken: 'x', expiresIn: 120 }, 'lower-case type, numeric string expires_in');
  // SPEC §3: a value ≤ 0 is kept (the token serves this request only, never cached: see cache-lifetime.ts).
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: ACCESS, expires_in: -5 }), undefined), { accessToken: 'x', expiresIn: -5 }, 'a negative expires_in is kept, not replaced by the fallback TTL');
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: ACCESS, expires_in: null }), undefined), { accessToken: 'x', expiresIn: undefined }, 'null counts as absent');
  for (const garbage of [true, {}, [], 'abc', '', '12s']) {
    t.throws(() => processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: ACCESS, expires_in: garbage }), undefined), { code: 'unavailable' }, `expires_in ${JSON.stringify(garbage)} is garbage`);
  }
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'N_A', issued_token_type: JWT }), JWT), { accessToken: 'x', expiresIn: undefined }, 'N_A for a non-access token');
});

t.test('RFC 8693 §2.2.1: issued_token_type is REQUIRED, except where the profile is not RFC 8693', async (t) => {
  for (const profile of ['rfc8693', 'keycloak', 'okta', 'auth0'] as const) {
    t.throws(() => processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', expires_in: 60 }), undefined, profile), { code: 'unavailable', fault: 'issued_token_type is missing (RFC 8693 §2.2.1)' }, `${profile}: missing is a garbage answer`);
  }
  t.throws(() => processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: null }), undefined), { code: 'unavailable' }, 'null is garbage');
  t.throws(() => processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: 7 }), undefined), { code: 'unavailable' }, 'a number is garbage');
  // Entra ID On-Behalf-Of is the jwt-bearer grant (RFC 7523 §2.1); its RFC 6749 §5.1 answer has no issued_token_type.
  const obo = response(200, { token_type: 'Bearer', scope: 'api://orders/.default', expires_in: 3599, ext_expires_in: 3599, access_token: 'x' });
  t.same(processExchangeResponse(obo, undefined, 'entra_obo'), { accessToken: 'x', expiresIn: 3599 }, 'entra_obo: accepted without it');
});

t.test('success bodies that cannot be used', async (t) => {
  const cases: Array<[string, unknown, string | undefined, string]> = [
    ['no access_token', { token_type: 'Bearer', issued_token_type: ACCESS }, undefined, 'unavailable'],
    ['empty access_token', { access_token: '', token_type: 'Bearer', issued_token_type: ACCESS }, undefined, 'unavailable'],
    ['no token_type', { access_token: 'x', issued_token_type: ACCESS }, undefined, 'unavailable'],
    // SPEC §3: a token_type other than Bearer (or N_A where allowed) is a garbage answer.
    ['DPoP token', { access_token: 'x', token_type: 'DPoP', issued_token_type: ACCESS }, undefined, 'unavailable'],
    ['N_A for an access token', { access_token: 'x', token_type: 'N_A', issued_token_type: ACCESS }, undefined, 'unavailable'],
    ['issued type differs', { access_token: 'x', token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 'urn:ietf:params:oauth:token-type:access_token', 'misconfigured'],
    ['not JSON', '<html>', undefined, 'unavailable'],
    ['JSON array', '[]', undefined, 'unavailable'],
    ['JSON null', 'null', undefined, 'unavailable'],
  ];
  for (const [name, body, requested, code] of cases) t.equal(codeOf(() => processExchangeResponse(response(200, body), requested)), code, name);
});

t.test('RFC 8693 §2.2.2 errors map to SPEC §3', async (t) => {
  const cases: Array<[number, unknown, string]> = [
    [400, { error: 'invalid_grant' }, 'exchange_refused'],
    [400, { error: 'invalid_target' }, 'exchange_refused'],
    [400, { error: 'invalid_scope' }, 'exchange_refused'],
    [400, { error: 'invalid_request' }, 'exchange_refused'],
    [403, { error: 'access_denied' }, 'exchange_refused'],
    [400, { error: 'brand_new_error' }, 'exchange_refused'],
    [401, { error: 'invalid_client' }, 'misconfigured'],
    [400, { error: 'unauthorized_client' }, 'misconfigured'],
    [400, { error: 'unsupported_grant_type' }, 'misconfigured'],
    [400, { error: 'temporarily_unavailable' }, 'unavailable'],
    [400, { error: 'server_error' }, 'unavailable'],
    [400, { error: 42 }, 'unavailable'],
    [404, '<html>not found</html>', 'unavailable'],
    [429, '', 'unavailable'],
    [500, { error: 'invalid_grant' }, 'unavailable'],
    [502, 'bad gateway', 'unavailable'],
  ];
  for (const [status, body, code] of cases) t.equal(codeOf(() => processExchangeResponse(response(status, body), undefined)), code, `${status} ${JSON.stringify(body)}`);
});

t.test('error descriptions never echo the server\'s text', async (t) => {
  try {
    processExchangeResponse(response(400, { error: 'invalid_grant', error_description: 'token eyJhbGciOi is bad' }), undefined);
  } catch (error) {
    t.notMatch((error as AuthzError).description, /eyJ/);
  }
});
