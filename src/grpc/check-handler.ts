import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CheckRequest } from '../check/check-request.js';
import type { CheckPipeline, Decision } from '../check/pipeline.js';
import type { CheckResponse, ResponseBuilder } from '../check/response.js';
import { AuthzError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { fingerprintOf } from '../validation/inbound-token.js';

/**
 * `Authorization/Check`. Always answers with a `CheckResponse`, never a gRPC
 * error (SPEC §3: Envoy would turn an error into its own `status_on_error`),
 * and every path returns the callback so no branch answers twice.
 */
export function createCheckHandler(pipeline: CheckPipeline, responses: ResponseBuilder, metrics: Metrics, log: Logger) {
  return (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>): void => {
    pipeline.decide(call.request ?? {}).then(
      (decision) => {
        metrics.checks.inc(decision.allowed ? 'allowed' : decision.error.code);
        logDecision(log, decision);
        return callback(null, decision.allowed ? responses.allow(decision.exchangedToken, decision.principal, decision.exchanger.target.header) : responses.deny(decision.error));
      },
      (error: unknown) => {
        metrics.checks.inc('internal');
        log.error('check failed unexpectedly', { err: error });
        return callback(null, responses.deny(new AuthzError('internal', 'the check failed unexpectedly')));
      },
    );
  };
}

/** Denials that point at the operator's side are logged louder than a client's bad token. */
const LEVEL_BY_CODE = { misconfigured: 'error', internal: 'error', unavailable: 'warn' } as const;

function logDecision(log: Logger, decision: Decision): void {
  if (decision.allowed) {
    if (log.enabled('debug')) log.debug('check allowed', { target: decision.exchanger.target.name, subject: decision.principal.subject, fp: fingerprintOf(decision.token) });
    return;
  }
  const { error } = decision;
  const level = LEVEL_BY_CODE[error.code as keyof typeof LEVEL_BY_CODE] ?? 'info';
  log[level]('check denied', {
    code: error.code,
    reason: error.description,
    target: decision.exchanger?.target.name,
    fp: decision.token ? fingerprintOf(decision.token) : undefined,
    subject: decision.principal?.subject,
    cause: causeName(error.cause),
  });
}

/** The cause's code or class only: messages can quote response bodies (a JSON parse error does). */
function causeName(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return undefined;
  return String((cause as { code?: unknown }).code ?? cause.name);
}
