import type { sendUnaryData } from '@grpc/grpc-js';
import type { CheckRequest } from '../request/check-request.js';
import { GRPC_OK, OUTCOMES } from '../check/outcomes.js';
import type { CheckPipeline, Decision } from '../check/pipeline.js';
import type { CheckResponse, ResponseBuilder } from '../check/response.js';
import { answerBefore } from '../check/deadline.js';
import { unexpected } from '../check/failures.js';
import { reportDecision } from '../check/report.js';
import { AuthzError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { CheckSpan, Tracing } from '../ops/tracing.js';
import { requestView } from '../request/view.js';
import { exceedsHeaderLimits } from './codec.js';
import type { EncodedAllows } from './encoded-allow.js';
import type { UnaryCall } from './fast-check.js';

const HEADERS_TOO_LARGE = new AuthzError('headers_too_large', 'the request has too many or too large headers');

/**
 * `Authorization/Check`. Always answers with a `CheckResponse`, never a gRPC
 * error (SPEC §3: Envoy would turn an error into its own `status_on_error`);
 * answers 503 just before the call's deadline when the pipeline is still
 * waiting (the exchange goes on and fills the cache for the retry); every path
 * returns the callback so no branch answers twice.
 */
export function createCheckHandler(pipeline: Pick<CheckPipeline, 'decide'>, responses: ResponseBuilder, encoded: EncodedAllows, metrics: Metrics, log: Logger, tracing?: Tracing) {
  const answer = (decision: Decision, started: number, callback: sendUnaryData<CheckResponse | Buffer>, span?: CheckSpan) => {
    const seconds = (performance.now() - started) / 1000;
    metrics.grpcHandled(decision.allowed ? GRPC_OK : OUTCOMES[decision.error.code].grpcCode, seconds);
    if (span) {
      const outcome = decision.allowed ? 'allowed' : decision.error.code;
      tracing!.endServer(span, { 'rpc.grpc.status_code': 0, 'authz.outcome': outcome }, SERVER_SIDE.has(outcome));
    }
    reportDecision(metrics, log, decision, seconds, span && tracing!.ids(span));
    return callback(null, decision.allowed ? encoded.allowEncoded(decision.exchanged, decision.principal, decision.exchanger.target.header) : responses.deny(decision.error));
  };

  return (call: UnaryCall<CheckRequest>, callback: sendUnaryData<CheckResponse | Buffer>): void => {
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
      decision = { allowed: false, error: unexpected(error) };
    }
    if (!(decision instanceof Promise)) return answer(decision, started, callback, span);
    answerBefore(decision, Number(call.getDeadline()) - Date.now(), (settled) => answer(settled, started, callback, span));
  };
}

/** The SERVER span of a Check: OpenTelemetry RPC conventions (`{service}/{method}`). */
const CHECK_METHOD = 'envoy.service.auth.v3.Authorization/Check';
const CHECK_ATTRIBUTES = { 'rpc.system': 'grpc', 'rpc.service': 'envoy.service.auth.v3.Authorization', 'rpc.method': 'Check' } as const;
/** Outcomes that are this side's failure (answered 5xx): the Check span is marked as an error, though gRPC itself answered OK. */
const SERVER_SIDE = new Set(['internal', 'misconfigured', 'unavailable', 'deadline']);
