import { GarbageAnswerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { fingerprintOf } from '../validation/inbound-token.js';
import { causeName } from './failures.js';
import type { Decision } from './pipeline.js';

/** The trace a decision was made under, when tracing is on. */
export type TraceIds = { readonly traceId: string; readonly spanId: string };

/**
 * What both transports report for every answered check (SPEC §5): the checks
 * counter by outcome and target, and the decision log line. Each transport
 * adds its own request metric (gRPC status or HTTP status).
 */
export function reportDecision(metrics: Metrics, log: Logger, decision: Decision, seconds: number, trace?: TraceIds): void {
  metrics.check(decision.allowed ? 'allowed' : decision.error.code, decision.exchanger?.target.name ?? '');
  logDecision(log, decision, seconds, trace);
}

/** Denials that point at the operator's side are logged louder than a client's bad token. */
const LEVEL_BY_CODE = { misconfigured: 'error', internal: 'error', unavailable: 'warn', deadline: 'warn', no_target: 'warn' } as const;

/**
 * One line per check (SPEC §5 logs): outcome, target, subject and token
 * fingerprints, duration, and the trace when there is one. Never a token. Written as a template rather than
 * through the generic logger (this runs once per Check): every member is a
 * fixed name, and every value is a number, a boolean, a base64url fingerprint
 * or a JSON-quoted string.
 */
export function logDecision(log: Logger, decision: Decision, seconds: number, trace?: TraceIds): void {
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
