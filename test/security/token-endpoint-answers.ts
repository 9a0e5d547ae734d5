/**
 * SPEC §3 "What the service accepts from the token endpoint", from outside:
 * the token endpoint (a FAKE that answers each exchange as scripted, over real
 * HTTP) returns hostile `access_token`, `token_type` and `expires_in` values;
 * the real service answers through its real gRPC and HTTP authorization
 * listeners. Inbound tokens are minted by the real authorization server.
 *
 * "Cached" is seen from outside: a second Check with the same inbound token
 * makes no call to the token endpoint. Between cases a well-formed exchange
 * for a fresh token succeeds, which also closes the circuit breaker again, so
 * garbage answers never add up to an open breaker here.
 */
import t, { type Test } from 'tap';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';
import {
  assertNotEchoed, check, expectedPair, goodAnswer, startBothListeners, startScriptedTokenEndpoint, statusPair, tokenResponse,
  type BothListeners, type ScriptedAnswer, type ScriptedTokenEndpoint, type Verdict,
} from '../fixtures/security.js';
import type { AuthorizationServer } from '../fixtures/authorization-server/index.js';

const KIB16 = 16 * 1024;
/** RFC 8693 §2.2.1: the `issued_token_type` every well-formed answer here carries. */
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

interface Setup {
  as: AuthorizationServer;
  endpoint: ScriptedTokenEndpoint;
  service: BothListeners;
  /** a fresh inbound token for a new subject */
  fresh(): Promise<string>;
}

async function setup(t: Test, env: Record<string, string | undefined> = {}): Promise<Setup> {
  const as = await authorizationServer(t);
  const endpoint = await startScriptedTokenEndpoint(t);
  const service = await startBothListeners(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: endpoint.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '3000', ...env }));
  let n = 0;
  return { as, endpoint, service, fresh: () => as.mintAccessToken({ sub: `user-${++n}` }) };
}

const grpcCheck = (s: Setup, token: string) => check(s.service, 'grpc', { headers: { authorization: `Bearer ${token}` } });
const httpCheck = (s: Setup, token: string) => check(s.service, 'http', { headers: { authorization: `Bearer ${token}` } });

/** The answer is a garbage-answer denial: 503 (gRPC 14) with retry-after, no exchanged token anywhere. */
function assertGarbage(t: Test, verdict: Verdict, inbound: string, what: string, statuses: Array<[number, number]> = [[503, 14]]): void {
  const pair = statusPair(verdict);
  t.ok(
    statuses.some(([httpStatus, grpcCode]) => JSON.stringify(pair) === JSON.stringify(expectedPair(verdict.mode, httpStatus, grpcCode))),
    `${what} (${verdict.mode}): ${JSON.stringify(pair)}, expected ${statuses.map((s) => JSON.stringify(expectedPair(verdict.mode, ...s))).join(' or ')}`,
  );
  t.equal(verdict.allowed, false, `${what} (${verdict.mode}): not allowed`);
  t.equal(verdict.headers.authorization, undefined, `${what} (${verdict.mode}): no authorization header in the answer`);
  if (verdict.status === 503) t.match(verdict.headers['retry-after'], /^[1-9]\d*$/, `${what} (${verdict.mode}): retry-after`);
  assertNotEchoed(t, verdict, [inbound], what);
}

/**
 * The token endpoint answers `answer` to every call: a Check through gRPC is refused, a second
 * Check with the same token calls the token endpoint again (nothing was cached), the same through
 * the HTTP listener; then a well-formed answer for a fresh token is allowed again.
 */
async function assertRefusedNotCached(t: Test, s: Setup, answer: ScriptedAnswer, what: string, statuses?: Array<[number, number]>): Promise<void> {
  s.endpoint.answer = () => answer;
  const token = await s.fresh();
  const before = s.endpoint.calls.length;
  assertGarbage(t, await grpcCheck(s, token), token, what, statuses);
  t.equal(s.endpoint.calls.length, before + 1, `${what}: the token endpoint was called`);
  assertGarbage(t, await grpcCheck(s, token), token, `${what}, again`, statuses);
  t.equal(s.endpoint.calls.length, before + 2, `${what}: not cached, the second Check called the token endpoint again`);
  const overHttp = await s.fresh();
  assertGarbage(t, await httpCheck(s, overHttp), overHttp, what, statuses);
  t.equal(s.endpoint.calls.length, before + 3, `${what}: HTTP listener called the token endpoint`);

  s.endpoint.answer = goodAnswer();
  const healed = await grpcCheck(s, await s.fresh());
  t.equal(healed.allowed, true, `${what}: a well-formed answer afterwards is allowed`);
}

/** The token endpoint answers `fields`; the Check is allowed with exactly `Bearer <access_token>`; `cached` says whether a second Check calls again. */
async function assertAllowed(t: Test, s: Setup, fields: Record<string, unknown> | string, accessToken: string, cached: boolean, what: string): Promise<void> {
  s.endpoint.answer = () => tokenResponse(fields);
  for (const mode of ['grpc', 'http'] as const) {
    const token = await s.fresh();
    const before = s.endpoint.calls.length;
    const first = await check(s.service, mode, { headers: { authorization: `Bearer ${token}` } });
    t.equal(first.allowed, true, `${what} (${mode}): allowed (${first.status} ${first.body})`);
    t.equal(first.headers.authorization, `Bearer ${accessToken}`, `${what} (${mode}): authorization is exactly Bearer + the access_token`);
    assertNotEchoed(t, first, [token], what);
    const second = await check(s.service, mode, { headers: { authorization: `Bearer ${token}` } });
    t.equal(second.allowed, true, `${what} (${mode}): the second Check is allowed too`);
    t.equal(s.endpoint.calls.length - before, cached ? 1 : 2, cached ? `${what} (${mode}): cached, the second Check made no call` : `${what} (${mode}): never cached, the second Check called again`);
  }
}

/** A token response with this `access_token` and otherwise well-formed fields. */
const withToken = (accessToken: unknown) => tokenResponse({ access_token: accessToken, token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 });

t.test('access_token: anything but a non-empty RFC 6750 b64token of at most 16 KiB is a garbage answer (503, never cached)', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, unknown]> = [
    ['CR', 'abc\rdef'],
    ['LF', 'abc\ndef'],
    ['CRLF + an injected header', 'abc\r\nx-injected: yes'],
    ['CRLF CRLF + an injected body', 'abc\r\n\r\n<html>'],
    ['NUL', 'abc\u0000def'],
    ['DEL', 'abc\u007fdef'],
    ['TAB', 'abc\tdef'],
    ['trailing TAB', 'abcdef\t'],
    ['other C0: SOH', 'abc\u0001def'],
    ['other C0: ESC', 'abc\u001b[31mdef'],
    ['other C0: US', 'abc\u001fdef'],
    ['vertical tab and form feed', 'abc\u000b\u000cdef'],
    ['C1: NEL', 'abc\u0085def'],
    ['space inside', 'abc def'],
    ['leading space', ' abcdef'],
    ['trailing space', 'abcdef '],
    ['a lone space', ' '],
    ['comma (a second value once joined)', 'abc,def'],
    ['semicolon', 'abc;def'],
    ['double quote', 'abc"def'],
    ['backslash', 'abc\\def'],
    ['colon', 'abc:def'],
    ['parentheses', 'abc(def)'],
    ['padding in the middle', 'ab=cd'],
    ['padding only', '=='],
    ['non-ASCII (é)', 'abcédef'],
    ['non-ASCII (emoji)', 'abc😀def'],
    ['U+2028 LINE SEPARATOR', 'abc\u2028def'],
    ['U+2029 PARAGRAPH SEPARATOR', 'abc\u2029def'],
    ['a lone surrogate', 'abc\ud800def'],
    ['BOM', '\ufeffabcdef'],
    ['fullwidth letters', 'ａｂｃ'],
    ['empty', ''],
    ['16 KiB + 1', 'a'.repeat(KIB16 + 1)],
    ['1 MiB', 'a'.repeat(1024 * 1024)],
    ['a number', 12345],
    ['null', null],
    ['true', true],
    ['an object', { token: 'abc' }],
    ['an array', ['abc']],
    ['missing', undefined],
  ];
  for (const [name, value] of cases) {
    await t.test(name, async (t) => assertRefusedNotCached(t, s, withToken(value), `access_token ${name}`));
  }

  t.test('the boundaries that are valid: exactly 16 KiB, every b64token character, padding', async (t) => {
    await assertAllowed(t, s, { access_token: 'a'.repeat(KIB16), token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 }, 'a'.repeat(KIB16), true, '16 KiB');
    const every = 'ABCXYZabcxyz0189-._~+/';
    await assertAllowed(t, s, { access_token: every, token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 }, every, true, 'every b64token character');
    await assertAllowed(t, s, { access_token: 'YWJj==', token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 }, 'YWJj==', true, 'trailing padding');
  });

  t.test('the logs name the fault as an error, never the value or the inbound token', async (t) => {
    const lines = s.service.logText().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    t.ok(lines.some((line) => line.level === 'error' && JSON.stringify(line).includes('access_token')), 'an error line names the access_token fault');
    t.equal(s.service.logText().includes('x-injected'), false, 'the hostile value is not logged');
    t.equal(s.service.logText().includes('eyJ'), false, 'no inbound JWT in the logs');
  });
});

t.test('token_type: Bearer in any case is accepted; anything else is refused, never cached', async (t) => {
  const s = await setup(t);
  for (const type of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    await t.test(type, async (t) => assertAllowed(t, s, { access_token: 'tok-abc', token_type: type, issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 }, 'tok-abc', true, `token_type ${type}`));
  }
  // SPEC §3: every such answer is garbage: 503, never cached.
  const refusal: Array<[number, number]> = [[503, 14]];
  const cases: Array<[string, unknown]> = [
    ['DPoP', 'DPoP'],
    ['mac', 'mac'],
    ['N_A for an access token request (RFC 8693 §2.2.1)', 'N_A'],
    ['empty', ''],
    ['"Bearer " with a trailing space', 'Bearer '],
    ['"Bearer\\r\\n"', 'Bearer\r\n'],
    ['a number', 1],
    ['null', null],
    ['missing', undefined],
  ];
  for (const [name, type] of cases) {
    await t.test(name, async (t) => assertRefusedNotCached(t, s, tokenResponse({ access_token: 'tok-abc', token_type: type, issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300 }), `token_type ${name}`, refusal));
  }
});

t.test('issued_token_type is REQUIRED (RFC 8693 §2.2.1): without it the answer is garbage (503, never cached), logged as an error naming it', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, unknown]> = [
    ['missing', undefined],
    ['null', null],
    ['a number', 1],
  ];
  for (const [name, type] of cases) {
    await t.test(name, async (t) => assertRefusedNotCached(t, s, tokenResponse({ access_token: 'tok-abc', token_type: 'Bearer', issued_token_type: type, expires_in: 300 }), `issued_token_type ${name}`));
  }
  const lines = s.service.logText().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.ok(lines.some((line) => line.level === 'error' && JSON.stringify(line).includes('issued_token_type is missing')), 'an error line names the missing issued_token_type');
});

t.test('token_type N_A is accepted where RFC 8693 allows it (a token type other than access_token requested)', async (t) => {
  const s = await setup(t, { EXCHANGE_REQUESTED_TOKEN_TYPE: 'urn:ietf:params:oauth:token-type:jwt' });
  const answer = { access_token: 'eyJhbGciOiJub25lIn0.e30.', token_type: 'N_A', issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', expires_in: 300 };
  await assertAllowed(t, s, answer, answer.access_token, true, 'N_A');
  await assertRefusedNotCached(t, s, tokenResponse({ ...answer, access_token: 'eyJ\r\nx: y' }), 'N_A with a hostile token');
});

t.test('expires_in of every JSON type and sign', async (t) => {
  const s = await setup(t);
  const body = (expiresIn: string) => `{"access_token":"tok-exp","token_type":"Bearer","issued_token_type":"${ACCESS_TOKEN_TYPE}","expires_in":${expiresIn}}`;

  const cachedCases: Array<[string, string]> = [
    ['a positive number', '300'],
    ['a positive fraction', '300.5'],
    ['a huge finite number (capped by the inbound token\'s exp)', '1e300'],
    ['a numeric string "120"', '"120"'],
    ['null (as absent: the fallback TTL)', 'null'],
  ];
  for (const [name, json] of cachedCases) {
    await t.test(`${name} → allowed and cached`, async (t) => assertAllowed(t, s, body(json), 'tok-exp', true, `expires_in ${json}`));
  }
  await t.test('absent → allowed and cached (the fallback TTL)', async (t) =>
    assertAllowed(t, s, { access_token: 'tok-exp', token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE }, 'tok-exp', true, 'no expires_in'),
  );

  const onceCases: Array<[string, string]> = [
    ['zero', '0'],
    ['a negative number', '-5'],
    ['a negative fraction', '-0.5'],
    ['a negative numeric string "-5"', '"-5"'],
    ['the numeric string "0"', '"0"'],
  ];
  for (const [name, json] of onceCases) {
    await t.test(`${name} → allowed for this request, never cached`, async (t) => assertAllowed(t, s, body(json), 'tok-exp', false, `expires_in ${json}`));
  }

  const garbageCases: Array<[string, string]> = [
    ['true', 'true'],
    ['false', 'false'],
    ['an object', '{}'],
    ['an array', '[]'],
    ['an array of a number', '[300]'],
    ['a non-numeric string', '"abc"'],
    ['an empty string', '""'],
    ['a number with a unit', '"300s"'],
    ['1e400 (parses to Infinity)', '1e400'],
  ];
  for (const [name, json] of garbageCases) {
    await t.test(`${name} → garbage: 503, not cached`, async (t) => assertRefusedNotCached(t, s, tokenResponse(body(json)), `expires_in ${json}`));
  }
});
