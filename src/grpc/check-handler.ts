import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CheckRequest } from '../check/check-request.js';
import type { CheckPipeline, Decision } from '../check/pipeline.js';
import type { CheckResponse, ResponseBuilder } from '../check/response.js';
import { AuthzError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { fingerprintOf } from '../validation/inbound-token.js';
import { exceedsHeaderLimits } from './codec.js';

/**
 * Answer this long before Envoy's deadline, so the 503 arrives before Envoy
 * gives up on its own: a fifth of the budget, between 5 and 100 ms (a busy event
 * loop fires timers late).
 */
const deadlineMargin = (budgetMs: number) => Math.min(100, Math.max(5, budgetMs / 5));
const DEADLINE_PASSED = new AuthzError('deadline', 'the authorization server did not answer in time');
const HEADERS_TOO_LARGE = new AuthzError('headers_too_large', 'the request has too many or too large headers');

/**
 * `Authorization/Check`. Always answers with a `CheckResponse`, never a gRPC
 * error (SPEC §3: Envoy would turn an error into its own `status_on_error`);
 * answers 503 just before the call's deadline when the pipeline is still
 * waiting (the exchange goes on and fills the cache for the retry); every path
 * returns the callback so no branch answers twice.
 */
export function createCheckHandler(pipeline: CheckPipeline, responses: ResponseBuilder, metrics: Metrics, log: Logger) {
  const answer = (decision: Decision, started: number, callback: sendUnaryData<CheckResponse | Buffer>) => {
    const seconds = (performance.now() - started) / 1000;
    const outcome = decision.allowed ? 'allowed' : decision.error.code;
    metrics.check(outcome, decision.exchanger?.target.name ?? '', seconds);
    logDecision(log, decision, seconds);
    return callback(null, decision.allowed ? responses.allowEncoded(decision.exchanged, decision.principal, decision.exchanger.target.header) : responses.deny(decision.error));
  };

  return (call: ServerUnaryCall<CheckRequest, CheckResponse | Buffer>, callback: sendUnaryData<CheckResponse | Buffer>): void => {
    const started = performance.now();
    let decision: Decision | Promise<Decision>;
    try {
      // SPEC §5: the decoder stopped reading headers at the caps; what it read must not decide.
      decision = exceedsHeaderLimits(call.request) ? { allowed: false, error: HEADERS_TOO_LARGE } : pipeline.decide(call.request ?? {});
    } catch (error) {
      decision = { allowed: false, error: new AuthzError('internal', 'the check failed unexpectedly', { cause: error }) };
    }
    if (!(decision instanceof Promise)) return answer(decision, started, callback);

    let answered = false;
    const once = (settled: Decision) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      return answer(settled, started, callback);
    };
    const budget = Number(call.getDeadline()) - Date.now();
    const timer = Number.isFinite(budget) ? setTimeout(() => once({ allowed: false, error: DEADLINE_PASSED }), Math.max(0, budget - deadlineMargin(budget))) : undefined;
    decision.then(once, (error: unknown) => once({ allowed: false, error: new AuthzError('internal', 'the check failed unexpectedly', { cause: error }) }));
  };
}

/** Denials that point at the operator's side are logged louder than a client's bad token. */
const LEVEL_BY_CODE = { misconfigured: 'error', internal: 'error', unavailable: 'warn', deadline: 'warn', no_target: 'warn' } as const;

/**
 * One line per check (issue 4 item 7): outcome, target, subject and token
 * fingerprints, duration. Never a token. Written as a template rather than
 * through the generic logger (this runs once per Check): every member is a
 * fixed name, and every value is a number, a boolean, a base64url fingerprint
 * or a JSON-quoted string.
 */
export function logDecision(log: Logger, decision: Decision, seconds: number): void {
  const level = decision.allowed ? 'info' : (LEVEL_BY_CODE[decision.error.code as keyof typeof LEVEL_BY_CODE] ?? 'info');
  if (!log.enabled(level)) return;
  let members = `"outcome":"${decision.allowed ? 'allowed' : decision.error.code}"`;
  if (decision.exchanger) members += `,"target":${quoted(decision.exchanger.target.name)}`;
  if (decision.principal?.subjectFingerprint !== undefined) members += `,"sub_fp":"${decision.principal.subjectFingerprint}"`;
  if (decision.token) members += `,"fp":"${fingerprintOf(decision.token)}"`;
  if (decision.allowed) members += `,"cached":${decision.cached}`;
  members += `,"ms":${Math.round(seconds * 10_000) / 10}`;
  if (!decision.allowed) {
    members += `,"reason":${JSON.stringify(decision.error.description)}`;
    const cause = causeName(decision.error.cause);
    if (cause !== undefined) members += `,"cause":${JSON.stringify(cause)}`;
  }
  log.preformatted(level, 'check', members);
}

/** Target names come from the configuration: quoted once each. */
const quotedNames = new Map<string, string>();
function quoted(name: string): string {
  let json = quotedNames.get(name);
  if (json === undefined) quotedNames.set(name, (json = JSON.stringify(name)));
  return json;
}

/** The cause's code or class only: messages can quote response bodies (a JSON parse error does). */
function causeName(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return undefined;
  return String((cause as { code?: unknown }).code ?? cause.name);
}
