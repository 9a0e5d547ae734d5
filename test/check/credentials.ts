import t from 'tap';
import { bearerToken, refuseBodyToken, refuseQueryToken } from '../../src/check/credentials.js';
import { requestView } from '../../src/request/view.js';
import { AuthzError } from '../../src/errors.js';

const viewOf = (headers: Record<string, string>) => requestView({ attributes: { request: { http: { headers } } } })!;
const rawViewOf = (entries: Array<[string, string | Buffer]>) =>
  requestView({ attributes: { request: { http: { header_map: { headers: entries.map(([key, value]) => (typeof value === 'string' ? { key, value } : { key, raw_value: value })) } } } } })!;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return (error as AuthzError).code;
  }
}

t.test('RFC 6750 §2.1 extraction', async (t) => {
  t.equal(bearerToken(viewOf({ authorization: 'Bearer abc.def-ghi_~+/==' }), 100), 'abc.def-ghi_~+/==');
  t.equal(bearerToken(viewOf({ authorization: 'bearer   abc  ' }), 100), 'abc', 'scheme case-insensitive, spaces trimmed');
  t.equal(bearerToken(viewOf({ Authorization: 'Bearer abc' }), 100), 'abc', 'header names case-insensitive');
  const cases: Array<[string, Record<string, string>, string]> = [
    ['no header', {}, 'missing_token'],
    ['Basic', { authorization: 'Basic dTpw' }, 'missing_token'],
    ['scheme only', { authorization: 'Bearer' }, 'missing_token'],
    ['scheme and spaces', { authorization: 'Bearer    ' }, 'invalid_token'],
    ['comma-joined', { authorization: 'Bearer a, Bearer b' }, 'invalid_request'],
    ['bearer plus basic', { authorization: 'Bearer a, Basic b' }, 'invalid_request'],
    ['space inside', { authorization: 'Bearer a b' }, 'invalid_token'],
    ['bad character', { authorization: 'Bearer a"b' }, 'invalid_token'],
    ['padding in the middle', { authorization: 'Bearer a=b' }, 'invalid_token'],
    ['too long', { authorization: `Bearer ${'a'.repeat(101)}` }, 'invalid_token'],
  ];
  for (const [name, headers, code] of cases) t.equal(codeOf(() => bearerToken(viewOf(headers), 100)), code, name);
  t.equal(codeOf(() => bearerToken(viewOf({ authorization: `Bearer ${'a'.repeat(100)}` }), 100)), 'ok', 'exactly the limit is fine');
});

t.test('header_map: raw bytes, repeated entries', async (t) => {
  t.equal(bearerToken(rawViewOf([['authorization', Buffer.from('Bearer raw-token')]]), 100), 'raw-token');
  t.equal(bearerToken(rawViewOf([['Authorization', 'Bearer value-token']]), 100), 'value-token', 'value when raw_value is empty');
  t.equal(codeOf(() => bearerToken(rawViewOf([['authorization', 'Bearer a'], ['authorization', 'Bearer b']]), 100)), 'invalid_request');
  t.equal(codeOf(() => bearerToken(rawViewOf([['authorization', Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xff, 0xfe])]]), 100)), 'invalid_token', 'non-UTF-8 bytes are a malformed token, not a crash');
});

t.test('no HTTP attributes → no view', async (t) => {
  t.equal(requestView({}), undefined);
  t.equal(requestView({ attributes: { request: {} } }), undefined);
  t.equal(requestView({ attributes: null }), undefined);
});

t.test('RFC 6750 §2: a bearer header and an access_token query parameter → invalid_request (SPEC §3)', async (t) => {
  const refused = [
    '/mcp?access_token=abc',
    '/mcp?a=1&access_token=abc',
    '/mcp?access_token=',
    '/mcp?access_token',
    '/mcp?a=1;access_token=abc',
    '/mcp?%61ccess_token=abc',
    '/mcp?access%5Ftoken=abc',
    '/mcp?access%5ftoken=abc',
    '/mcp?%61%63%63%65%73%73%5f%74%6f%6b%65%6e=abc',
    '/mcp?ACCESS_TOKEN=abc',
    '/mcp?access_token=a&access_token=b',
    '/mcp?access_token[]=abc',
    '/mcp?+access_token+=abc',
    '/mcp?x=%ZZ&access_token=abc',
    '/mcp?%ff%fe=1&access_token=abc',
  ];
  for (const path of refused) t.equal(codeOf(() => refuseQueryToken(path)), 'invalid_request', path);
  const allowed = [undefined, '/mcp', '/mcp?', '/mcp?a=1', '/mcp?token=abc', '/mcp?my_access_token=abc', '/mcp?access_tokens=1', '/access_token/x?a=1', '/mcp?q=access_token', '/mcp?x=%ZZ'];
  for (const path of allowed) t.equal(codeOf(() => refuseQueryToken(path)), 'ok', String(path));
});

t.test('RFC 6750 §2.2: a form body with access_token beside the header → invalid_request', async (t) => {
  const form = viewOf({ 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
  t.equal(codeOf(() => refuseBodyToken(form, 'a=1&access_token=abc')), 'invalid_request');
  t.equal(codeOf(() => refuseBodyToken(form, '%61ccess_token=abc')), 'invalid_request', 'percent-encoded name');
  t.equal(codeOf(() => refuseBodyToken(form, 'a=1&b=2')), 'ok');
  t.equal(codeOf(() => refuseBodyToken(form, undefined)), 'ok', 'no body sent');
  t.equal(codeOf(() => refuseBodyToken(viewOf({ 'content-type': 'application/json' }), '{"access_token":"abc"}')), 'ok', 'not a form body: RFC 6750 §2.2 does not apply');
});
