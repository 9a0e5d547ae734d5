/** The RFC 8693 request builder and response processor, from recorded bodies. */
import t from 'tap';
import type { ExchangeSettings } from '../../src/config/load.js';
import { clientAuthentication, formEncode } from '../../src/exchange/client-auth.js';
import { exchangeBodyPrefix, processExchangeResponse } from '../../src/exchange/token-exchange.js';
import { AuthzError } from '../../src/errors.js';

const SETTINGS: ExchangeSettings = {
  clientId: 'gateway',
  clientSecret: 's3cret',
  authMethod: 'client_secret_basic',
  audience: 'orders-api',
  resource: 'https://orders.example.com/',
  scope: 'orders:read orders:write',
  requestedTokenType: undefined,
  subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token',
};

const response = (status: number, body: unknown) => ({ status, contentType: 'application/json', retryAfter: undefined, body: typeof body === 'string' ? body : JSON.stringify(body) });
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return (error as AuthzError).code;
  }
};

t.test('RFC 6749 §2.3.1: id and secret are form-encoded before Base64', async (t) => {
  const auth = clientAuthentication({ ...SETTINGS, clientId: 'my client', clientSecret: 'p@ss:wörd+%' });
  const decoded = Buffer.from(auth.headers.authorization!.replace(/^Basic /, ''), 'base64').toString();
  t.equal(decoded, 'my+client:p%40ss%3Aw%C3%B6rd%2B%25');
  t.same(auth.bodyParams, []);
  t.equal(formEncode('a b&c=d'), 'a+b%26c%3Dd');
});

t.test('client_secret_post puts the credentials in the body, not a header', async (t) => {
  const auth = clientAuthentication({ ...SETTINGS, authMethod: 'client_secret_post' });
  t.same(auth.headers, {});
  const body = new URLSearchParams(exchangeBodyPrefix({ ...SETTINGS, authMethod: 'client_secret_post' }, auth) + 'tok');
  t.equal(body.get('client_id'), 'gateway');
  t.equal(body.get('client_secret'), 's3cret');
});

t.test('unimplemented methods fail at construction', async (t) => {
  t.throws(() => clientAuthentication({ ...SETTINGS, authMethod: 'private_key_jwt' }), TypeError);
});

t.test('RFC 8693 §2.1 request body', async (t) => {
  const body = new URLSearchParams(exchangeBodyPrefix(SETTINGS, clientAuthentication(SETTINGS)) + encodeURIComponent('a+b/c=='));
  t.same([...body.keys()], ['grant_type', 'subject_token_type', 'audience', 'resource', 'scope', 'subject_token']);
  t.equal(body.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
  t.equal(body.get('scope'), 'orders:read orders:write');
  t.equal(body.get('subject_token'), 'a+b/c==', 'b64token characters survive form encoding');
  const minimal = new URLSearchParams(exchangeBodyPrefix({ ...SETTINGS, audience: undefined, resource: undefined, scope: undefined, requestedTokenType: 'urn:x' }, clientAuthentication(SETTINGS)));
  t.same([...minimal.keys()], ['grant_type', 'subject_token_type', 'requested_token_type', 'subject_token']);
});

t.test('RFC 8693 §2.2.1 success', async (t) => {
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 60 }), undefined), { accessToken: 'x', expiresIn: 60 });
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'bearer', expires_in: '120' }), undefined), { accessToken: 'x', expiresIn: 120 }, 'lower-case type, numeric string expires_in');
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'Bearer', expires_in: -5 }), undefined), { accessToken: 'x', expiresIn: undefined }, 'nonsense expires_in is ignored');
  t.same(processExchangeResponse(response(200, { access_token: 'x', token_type: 'N_A' }), 'urn:ietf:params:oauth:token-type:jwt'), { accessToken: 'x', expiresIn: undefined }, 'N_A for a non-access token');
});

t.test('success bodies that cannot be used', async (t) => {
  const cases: Array<[string, unknown, string | undefined, string]> = [
    ['no access_token', { token_type: 'Bearer' }, undefined, 'unavailable'],
    ['empty access_token', { access_token: '', token_type: 'Bearer' }, undefined, 'unavailable'],
    ['no token_type', { access_token: 'x' }, undefined, 'unavailable'],
    ['DPoP token', { access_token: 'x', token_type: 'DPoP' }, undefined, 'misconfigured'],
    ['N_A for an access token', { access_token: 'x', token_type: 'N_A' }, undefined, 'misconfigured'],
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
