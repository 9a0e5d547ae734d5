/**
 * A CheckResponse as HTTP: OK → 200 with the headers to copy upstream; a denial
 * → its status, headers and body; anything that is not an error status → 403,
 * since every proxy takes a 2xx from the authorization endpoint as "allow".
 */
import t from 'tap';
import { ResponseBuilder, type CheckResponse } from '../../src/check/response.js';
import { AuthzError } from '../../src/errors.js';
import { HEADERS_TO_REMOVE, httpAnswerOf } from '../../src/http-authz/response.js';
import type { Principal } from '../../src/validation/principal.js';

const alice: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: ['read'], expiresAt: 2e9 };
const builder = new ResponseBuilder('https://mcp.example.com/mcp', '{"resource":"https://mcp.example.com/mcp"}');
const NOT_AUTHORIZED = {
  status: 403,
  headers: { 'cache-control': 'no-store', 'content-type': 'application/json' },
  body: JSON.stringify({ error: 'access_denied', error_description: 'this request cannot be authorized through the HTTP authorization endpoint' }),
};

/** A denial whose status code is given as is (a number, a numeric string or an `envoy.type.v3.StatusCode` name). */
const deniedWith = (code: unknown): CheckResponse => ({
  status: { code: 7 },
  denied_response: { status: { code: code as number }, headers: [{ header: { key: 'X-Reason', value: 'r' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }], body: 'denied' },
});

t.test('OK: 200, empty body, the token header (lower-case), never stored by a cache between', async (t) => {
  t.same(httpAnswerOf(builder.allow('exchanged', alice)), { status: 200, headers: { 'cache-control': 'no-store', authorization: 'Bearer exchanged' }, body: '' });
  t.same(httpAnswerOf(builder.allow('exchanged', alice, { name: 'X-Upstream-Token', prefix: '', remove: [] })).headers, { 'cache-control': 'no-store', 'x-upstream-token': 'exchanged' });
});

t.test('OK: headers_to_remove becomes x-envoy-auth-headers-to-remove, comma-joined', async (t) => {
  const answer = httpAnswerOf(builder.allow('exchanged', alice, { name: 'x-upstream-token', prefix: '', remove: ['authorization', 'x-actor-token'] }));
  t.equal(HEADERS_TO_REMOVE, 'x-envoy-auth-headers-to-remove');
  t.same(answer.headers, { 'cache-control': 'no-store', 'x-upstream-token': 'exchanged', 'x-envoy-auth-headers-to-remove': 'authorization,x-actor-token' });
  const emptyList: CheckResponse = { status: { code: 0 }, ok_response: { headers: [], headers_to_remove: [] } };
  t.same(httpAnswerOf(emptyList), { status: 200, headers: { 'cache-control': 'no-store' }, body: '' }, 'an empty list adds no header');
});

t.test('denied: the outcome\'s status, headers and body, with no-store', async (t) => {
  const answer = httpAnswerOf(builder.deny(new AuthzError('invalid_token', 'the token has expired')));
  t.equal(answer.status, 401);
  t.equal(answer.headers['cache-control'], 'no-store');
  t.equal(answer.headers['content-type'], 'application/json');
  t.match(answer.headers['www-authenticate'], /^Bearer /);
  t.same(JSON.parse(answer.body), { error: 'invalid_token', error_description: 'the token has expired' });
  t.same(httpAnswerOf(deniedWith(429)), { status: 429, headers: { 'cache-control': 'no-store', 'x-reason': 'r' }, body: 'denied' }, 'header names lower-cased');
});

t.test('a status given as a numeric string or a StatusCode name is understood', async (t) => {
  const cases: Array<[unknown, number]> = [['503', 503], ['Unauthorized', 401], ['Forbidden', 403], ['TooManyRequests', 429], ['RequestHeaderFieldsTooLarge', 431], ['GatewayTimeout', 504], [400, 400], [599, 599]];
  for (const [code, status] of cases) t.equal(httpAnswerOf(deniedWith(code)).status, status, String(code));
});

t.test('anything but a 4xx/5xx denial is refused 403, so the request never reaches the upstream with the caller\'s token', async (t) => {
  t.equal(httpAnswerOf(builder.deny(new AuthzError('resource_metadata', 'metadata'))).status, 403, 'the 200 metadata local reply of the gRPC path');
  for (const code of [200, 'OK', 302, 399, 600, 401.5, 'Teapot', '4010', '', NaN]) t.same(httpAnswerOf(deniedWith(code)), NOT_AUTHORIZED, JSON.stringify(code));
  t.same(httpAnswerOf({ status: { code: 0 } }), NOT_AUTHORIZED, 'OK without ok_response');
  t.same(httpAnswerOf({ status: { code: 7 } }), NOT_AUTHORIZED, 'a denial without denied_response');
  t.same(httpAnswerOf({ status: { code: 7 }, ok_response: { headers: [] } }), NOT_AUTHORIZED, 'an ok_response does not make a denial an allow');
});
