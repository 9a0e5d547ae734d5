/**
 * SPEC §3: a 429 from the token endpoint is the authorization server's answer
 * about this call, not a fault of the server. The Check gets 503 with the
 * server's `retry-after` (at most 60 s), the same key is not retried before
 * then, and the circuit breaker stays closed: one subject's 429s never turn
 * another subject's first exchange into a 503. By contrast, 5xx faults still
 * open it.
 *
 * The token endpoint is a FAKE over real HTTP that answers 429 for the
 * subject "flooder" only; time is the injected clock.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../fixtures/clock.js';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';
import {
  assertNotEchoed, check, expectedPair, goodAnswer, startBothListeners, startScriptedTokenEndpoint, statusPair,
  type BothListeners, type ExchangeCall, type Mode, type ScriptedAnswer, type ScriptedTokenEndpoint,
} from '../fixtures/security.js';
import type { AuthorizationServer } from '../fixtures/authorization-server/index.js';

const FLOODER = 'flooder';

interface Setup {
  as: AuthorizationServer;
  endpoint: ScriptedTokenEndpoint;
  service: BothListeners;
  clock: ManualClock;
  /** what the token endpoint answers for the flooder; everyone else gets a good answer */
  flooderAnswer: ScriptedAnswer;
}

async function setup(t: Test): Promise<Setup> {
  const as = await authorizationServer(t);
  const endpoint = await startScriptedTokenEndpoint(t);
  const clock = new ManualClock();
  const service = await startBothListeners(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: endpoint.url }), { clock: clock.now });
  const state: Setup = { as, endpoint, service, clock, flooderAnswer: tooMany('7') };
  const good = goodAnswer();
  endpoint.answer = (call: ExchangeCall) => (call.subject === FLOODER ? state.flooderAnswer : good(call));
  return state;
}

/** 429 with this `retry-after` (none when undefined), and an OAuth-looking body. */
function tooMany(retryAfter: string | undefined): ScriptedAnswer {
  return { status: 429, headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter }, body: JSON.stringify({ error: 'slow_down' }) };
}

const httpDate = (ms: number) => new Date(ms).toUTCString();
const callsFor = (endpoint: ScriptedTokenEndpoint, subject: string) => endpoint.calls.filter((call) => call.subject === subject).length;
const bearerOf = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('429 with retry-after: 7 → 503 with retry-after 7; the same token is held back until then', async (t) => {
  const s = await setup(t);
  for (const mode of ['grpc', 'http'] as Mode[]) {
    t.test(mode, async (t) => {
      const token = await s.as.mintAccessToken({ sub: FLOODER });
      const before = callsFor(s.endpoint, FLOODER);
      const first = await check(s.service, mode, { headers: bearerOf(token) });
      t.same(statusPair(first), expectedPair(mode, 503, 14), '503, gRPC 14');
      t.equal(first.headers['retry-after'], '7', "the server's retry-after");
      t.equal(first.headers.authorization, undefined);
      assertNotEchoed(t, first, [token], '429');
      t.equal(callsFor(s.endpoint, FLOODER), before + 1, 'one call');

      s.clock.advance(3000);
      const held = await check(s.service, mode, { headers: bearerOf(token) });
      t.same(statusPair(held), expectedPair(mode, 503, 14), 'still 503 within the retry-after');
      t.ok(Number(held.headers['retry-after']) >= 1 && Number(held.headers['retry-after']) <= 7, `retry-after ${held.headers['retry-after']} within the server's 7 s`);
      t.equal(callsFor(s.endpoint, FLOODER), before + 1, 'no new call to the token endpoint within the retry-after');

      s.flooderAnswer = goodAnswer()({ params: new URLSearchParams(), subject: FLOODER });
      s.clock.advance(5000);
      const after = await check(s.service, mode, { headers: bearerOf(token) });
      t.equal(after.allowed, true, 'after the retry-after the token is exchanged again, and allowed');
      t.equal(callsFor(s.endpoint, FLOODER), before + 2, 'one new call');
      s.flooderAnswer = tooMany('7');
    });
  }
});

t.test("retry-after is capped at 60 s and parsed, never copied", async (t) => {
  const s = await setup(t);
  const cases: Array<[string, string | undefined, (value: number) => boolean]> = [
    ['120 → 60', '120', (value) => value === 60],
    ['60 → 60', '60', (value) => value === 60],
    ['1 → 1', '1', (value) => value === 1],
    ['absent → 1..60', undefined, (value) => value >= 1 && value <= 60],
    ['"soon" → 1..60', 'soon', (value) => value >= 1 && value <= 60],
    ['"-1" → 1..60', '-1', (value) => value >= 1 && value <= 60],
    ['"1.5" → 1..60', '1.5', (value) => value >= 1 && value <= 60],
    ['"99999999999999999999" → 1..60', '99999999999999999999', (value) => value >= 1 && value <= 60],
    ['"7, x-injected: 1" → 1..60', '7, x-injected: 1', (value) => value >= 1 && value <= 60],
    // RFC 9110 §10.2.3: an HTTP-date, read against the service's clock.
    ['an HTTP-date 30 s ahead → about 30', httpDate(s.clock.now() + 30_000), (value) => value >= 29 && value <= 31],
    ['an HTTP-date 10 min ahead → 60', httpDate(s.clock.now() + 600_000), (value) => value === 60],
    ['an HTTP-date in the past → 1..60', httpDate(s.clock.now() - 600_000), (value) => value >= 1 && value <= 60],
  ];
  for (const [name, retryAfter, ok] of cases) {
    for (const mode of ['grpc', 'http'] as Mode[]) {
      s.flooderAnswer = tooMany(retryAfter);
      const verdict = await check(s.service, mode, { headers: bearerOf(await s.as.mintAccessToken({ sub: FLOODER })) });
      t.same(statusPair(verdict), expectedPair(mode, 503, 14), `${name} (${mode}): 503`);
      const value = verdict.headers['retry-after'] ?? '';
      t.ok(/^[1-9]\d*$/.test(value) && ok(Number(value)), `${name} (${mode}): retry-after "${value}"`);
    }
  }
});

t.test("many 429s for one subject do not open the breaker: another subject's first exchange is allowed", async (t) => {
  const s = await setup(t);
  const flood = await Promise.all(Array.from({ length: 12 }, () => s.as.mintAccessToken({ sub: FLOODER })));
  for (const token of flood) {
    const verdict = await check(s.service, 'grpc', { headers: bearerOf(token) });
    t.same(statusPair(verdict), [503, 14], 'the flooder gets 503');
  }
  // More 429 answers than the breaker's five consecutive failures, or this proves nothing.
  t.ok(callsFor(s.endpoint, FLOODER) > 5, `${callsFor(s.endpoint, FLOODER)} calls answered 429`);
  for (const mode of ['grpc', 'http'] as Mode[]) {
    const token = await s.as.mintAccessToken({ sub: `alice-${mode}` });
    const verdict = await check(s.service, mode, { headers: bearerOf(token) });
    t.equal(verdict.allowed, true, `${mode}: another subject's fresh token is exchanged and allowed (${verdict.status} ${verdict.body})`);
    t.equal(callsFor(s.endpoint, `alice-${mode}`), 1, `${mode}: its exchange reached the token endpoint`);
  }
});

t.test('by contrast, 5xx faults open the breaker for everyone', async (t) => {
  const s = await setup(t);
  s.flooderAnswer = { status: 500, body: JSON.stringify({ error: 'server_error' }) };
  for (let i = 0; i < 6; i++) {
    const verdict = await check(s.service, 'grpc', { headers: bearerOf(await s.as.mintAccessToken({ sub: FLOODER })) });
    t.same(statusPair(verdict), [503, 14]);
  }
  const alice = await check(s.service, 'grpc', { headers: bearerOf(await s.as.mintAccessToken({ sub: 'alice' })) });
  t.same(statusPair(alice), [503, 14], 'open: another subject gets 503');
  t.equal(callsFor(s.endpoint, 'alice'), 0, 'without a call');
  s.clock.advance(60_000);
  const probe = await check(s.service, 'grpc', { headers: bearerOf(await s.as.mintAccessToken({ sub: 'alice' })) });
  t.equal(probe.allowed, true, 'after the open interval a probe goes through and succeeds');
});
