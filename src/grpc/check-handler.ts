import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CheckRequest } from '../check/check-request.js';
import { GRPC_OK, OUTCOMES } from '../check/outcomes.js';
import type { CheckPipeline, Decision } from '../check/pipeline.js';
import type { CheckResponse, ResponseBuilder } from '../check/response.js';
import { AuthzError, GarbageAnswerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { CheckSpan, Tracing } from '../ops/tracing.js';
import { requestView } from '../check/request.js';
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
export function createCheckHandler(pipeline: Pick<CheckPipeline, 'decide'>, responses: ResponseBuilder, metrics: Metrics, log: Logger, tracing?: Tracing) {
  const answer = (decision: Decision, started: number, callback: sendUnaryData<CheckResponse | Buffer>, span?: CheckSpan) => {
    const seconds = (performance.now() - started) / 1000;
    const outcome = decision.allowed ? 'allowed' : decision.error.code;
    metrics.check(outcome, decision.exchanger?.target.name ?? '');
    metrics.grpcHandled(decision.allowed ? GRPC_OK : OUTCOMES[decision.error.code].grpcCode, seconds);
    if (span) tracing!.endServer(span, { 'rpc.grpc.status_code': 0, 'authz.outcome': outcome }, SERVER_SIDE.has(outcome));
    logDecision(log, decision, seconds, span && tracing!.ids(span));
    return callback(null, decision.allowed ? responses.allowEncoded(decision.exchanged, decision.principal, decision.exchanger.target.header) : responses.deny(decision.error));
  };

  return (call: ServerUnaryCall<CheckRequest, CheckResponse | Buffer>, callback: sendUnaryData<CheckResponse | Buffer>): void => {
    const started = performance.now();
    metrics.grpcStarted();
    const request = call.request ?? {};
    // Tracing off: no span, no context, nothing allocated (the cache-hit path stays as it is).
    const span = tracing ? tracing.startServer(CHECK_METHOD, requestView(request), CHECK_ATTRIBUTES) : undefined;
    let decision: Decision | Promise<Decision>;
    try {
      // SPEC §5: the decoder stopped reading headers at the caps; what it read must not decide.
      if (exceedsHeaderLimits(call.request)) decision = { allowed: false, error: HEADERS_TOO_LARGE };
      else decision = span ? tracing!.within(span, () => pipeline.decide(request, span.context)) : pipeline.decide(request);
    } catch (error) {
      decision = { allowed: false, error: new AuthzError('internal', 'the check failed unexpectedly', { cause: error }) };
    }
    if (!(decision instanceof Promise)) return answer(decision, started, callback, span);

    let answered = false;
    const once = (settled: Decision) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      return answer(settled, started, callback, span);
    };
    const budget = Number(call.getDeadline()) - Date.now();
    const timer = Number.isFinite(budget) ? setTimeout(() => once({ allowed: false, error: DEADLINE_PASSED }), Math.max(0, budget - deadlineMargin(budget))) : undefined;
    decision.then(once, (error: unknown) => once({ allowed: false, error: new AuthzError('internal', 'the check failed unexpectedly', { cause: error }) }));
  };
}

/** The SERVER span of a Check: OpenTelemetry RPC conventions (`{service}/{method}`). */
const CHECK_METHOD = 'envoy.service.auth.v3.Authorization/Check';
const CHECK_ATTRIBUTES = { 'rpc.system': 'grpc', 'rpc.service': 'envoy.service.auth.v3.Authorization', 'rpc.method': 'Check' } as const;
/** Outcomes that are this side's failure (answered 5xx): the Check span is marked as an error, though gRPC itself answered OK. */
const SERVER_SIDE = new Set(['internal', 'misconfigured', 'unavailable', 'deadline']);

/** Denials that point at the operator's side are logged louder than a client's bad token. */
const LEVEL_BY_CODE = { misconfigured: 'error', internal: 'error', unavailable: 'warn', deadline: 'warn', no_target: 'warn' } as const;

/**
 * One line per check (SPEC §5 logs): outcome, target, subject and token
 * fingerprints, duration, and the trace when there is one. Never a token. Written as a template rather than
 * through the generic logger (this runs once per Check): every member is a
 * fixed name, and every value is a number, a boolean, a base64url fingerprint
 * or a JSON-quoted string.
 */
export function logDecision(log: Logger, decision: Decision, seconds: number, trace?: { readonly traceId: string; readonly spanId: string }): void {
  // SPEC §3: a garbage answer from the token endpoint is logged as an error naming the fault.
  const level = decision.allowed ? 'info' : decision.error instanceof GarbageAnswerError ? 'error' : (LEVEL_BY_CODE[decision.error.code as keyof typeof LEVEL_BY_CODE] ?? 'info');
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
  // Hex ids from the tracer: safe unquoted-content strings.
  if (trace) members += `,"trace_id":"${trace.traceId}","span_id":"${trace.spanId}"`;
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
