import t from 'tap';
import type { Decision } from '../../src/check/pipeline.js';
import { logDecision, reportDecision } from '../../src/check/report.js';
import { AuthzError, GarbageAnswerError } from '../../src/errors.js';
import type { TokenExchanger } from '../../src/exchange/token-exchange.js';
import { createLogger, type LogLevel } from '../../src/log.js';
import { Metrics } from '../../src/ops/metrics.js';
import { fingerprintOf, inboundToken } from '../../src/validation/inbound-token.js';
import type { Principal } from '../../src/validation/principal.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const token = inboundToken(TOKEN);
const principal: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'c3ViamVjdGZw', clientId: 'app', scopes: ['read'], expiresAt: 2e9 };
/** Only the target's name is read from the exchanger. */
const exchangerFor = (name: string) => ({ target: { name } }) as unknown as TokenExchanger;
const allowed = (name = 'orders'): Decision => ({ allowed: true, exchanged: { value: 'exchanged-secret' }, cached: true, principal, token, exchanger: exchangerFor(name) });

/** A real logger at `level` writing into an array, parsed line by line. */
function capture(level: LogLevel = 'trace') {
  const lines: string[] = [];
  const log = createLogger(level, (line) => void lines.push(line), { service: 'svc', version: 't' });
  return { log, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

t.test('an allowed check: one info line with target, fingerprints, cached and ms; never a token', async (t) => {
  const { log, lines, records } = capture();
  logDecision(log, allowed(), 0.01234);
  t.equal(lines.length, 1);
  t.ok(lines[0]!.endsWith('}\n'));
  const [record] = records();
  t.match(record, { level: 'info', msg: 'check', service: 'svc', version: 't', outcome: 'allowed', target: 'orders', sub_fp: 'c3ViamVjdGZw', fp: fingerprintOf(token), cached: true, ms: 12.3 });
  t.notOk('reason' in record! || 'cause' in record! || 'trace_id' in record!, 'no reason, cause or trace');
  t.notOk(lines[0]!.includes(TOKEN) || lines[0]!.includes('exchanged-secret'), 'neither the inbound nor the exchanged token');
});

t.test('a denial: its code as the outcome, its description as the reason, the cause by code or class only', async (t) => {
  const { log, lines, records } = capture();
  const cause = new SyntaxError(`Unexpected token in ${TOKEN}`);
  logDecision(log, { allowed: false, error: new AuthzError('invalid_token', 'the access token expired', { cause }), token }, 0.5);
  const [record] = records();
  t.match(record, { level: 'info', outcome: 'invalid_token', reason: 'the access token expired', cause: 'SyntaxError', fp: fingerprintOf(token), ms: 500 });
  t.notOk('target' in record! || 'sub_fp' in record! || 'cached' in record!, 'what the denial does not know is left out');
  t.notOk(lines[0]!.includes(TOKEN), 'the cause\'s message is not logged');
});

t.test('the level follows whose side the denial points at', async (t) => {
  const cases: Array<[AuthzError, LogLevel]> = [
    [new AuthzError('misconfigured', 'x'), 'error'],
    [new AuthzError('internal', 'x'), 'error'],
    [new GarbageAnswerError('"access_token" is missing'), 'error'],
    [new AuthzError('unavailable', 'x'), 'warn'],
    [new AuthzError('deadline', 'x'), 'warn'],
    [new AuthzError('no_target', 'x'), 'warn'],
    [new AuthzError('missing_token', 'x'), 'info'],
    [new AuthzError('insufficient_scope', 'x'), 'info'],
    [new AuthzError('exchange_refused', 'x'), 'info'],
  ];
  for (const [error, level] of cases) {
    const { log, records } = capture();
    logDecision(log, { allowed: false, error }, 0);
    t.equal(records()[0]!.level, level, error instanceof GarbageAnswerError ? 'garbage answer' : error.code);
  }
});

t.test('nothing is written below the logger\'s level', async (t) => {
  const quiet = capture('warn');
  logDecision(quiet.log, allowed(), 0);
  logDecision(quiet.log, { allowed: false, error: new AuthzError('invalid_token', 'x') }, 0);
  t.equal(quiet.lines.length, 0);
  logDecision(quiet.log, { allowed: false, error: new AuthzError('unavailable', 'x') }, 0);
  t.equal(quiet.lines.length, 1);
});

t.test('the trace ids, when there is a trace', async (t) => {
  const { log, records } = capture();
  logDecision(log, allowed(), 0, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' });
  t.match(records()[0], { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331' });
});

t.test('a target name is JSON-quoted, whatever it holds', async (t) => {
  const { log, records } = capture();
  const name = 'a "quoted"\nname';
  logDecision(log, allowed(name), 0);
  logDecision(log, allowed(name), 0);
  t.strictSame(records().map((record) => record.target), [name, name]);
  const other = capture();
  logDecision(other.log, { allowed: false, error: new AuthzError('exchange_refused', 'refused'), principal: { ...principal, subjectFingerprint: undefined }, exchanger: exchangerFor('billing') }, 0);
  t.match(other.records()[0], { outcome: 'exchange_refused', target: 'billing' });
  t.notOk('sub_fp' in other.records()[0]!, 'no subject, no subject fingerprint');
});

t.test('reportDecision: the checks counter by outcome and target, and the line', async (t) => {
  const metrics = new Metrics({ version: 't', nodeVersion: 'v' });
  const { log, records } = capture();
  reportDecision(metrics, log, allowed(), 0.001);
  reportDecision(metrics, log, allowed(), 0.001);
  reportDecision(metrics, log, { allowed: false, error: new AuthzError('missing_token', 'x') }, 0.001);
  const counter = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === 'authz_checks_total')!;
  const counts = Object.fromEntries(counter.values.map(({ labels, value }) => [`${labels.outcome}/${labels.target}`, value]));
  t.strictSame(counts, { 'allowed/orders': 2, 'missing_token/': 1 }, 'a denial without a target counts under ""');
  t.equal(records().length, 3);
});
