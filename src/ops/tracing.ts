import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { RequestView } from '../request/view.js';
import { AuthzError } from '../errors.js';
import type { CallSpan, HttpTracer } from '../oauth/http.js';

/** The caller's trace context, carried down to the calls a check makes. */
export type TraceParent = Context;

/** The SERVER span of one check and the context its calls run under. */
export interface CheckSpan {
  readonly span: Span;
  readonly context: Context;
}

const fromView: TextMapGetter<RequestView | undefined> = {
  get: (view, key) => view?.headerValues(key)[0],
  keys: () => ['traceparent', 'tracestate'],
};

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/**
 * The proxy's B3 context (openzipkin b3-propagation): the single `b3` header
 * (`{TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`) or the multi-header
 * `x-b3-*` form. A 64-bit trace id is left-padded to 128 bits.
 */
export function b3Parent(view: RequestView | undefined): Context | undefined {
  if (!view) return undefined;
  const single = view.headerValues('b3')[0];
  const [rawTrace, spanId, sampled] = single !== undefined ? single.trim().toLowerCase().split('-') : [view.headerValues('x-b3-traceid')[0], view.headerValues('x-b3-spanid')[0], view.headerValues('x-b3-sampled')[0] ?? (view.headerValues('x-b3-flags')[0] === '1' ? 'd' : undefined)];
  const traceId = rawTrace?.trim().toLowerCase().padStart(32, '0');
  const span = spanId?.trim().toLowerCase();
  if (traceId === undefined || span === undefined || !TRACE_ID.test(traceId) || !SPAN_ID.test(span) || /^0+$/.test(traceId) || /^0+$/.test(span)) return undefined;
  const traceFlags = sampled === '0' || sampled === 'false' ? TraceFlags.NONE : TraceFlags.SAMPLED;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: span, traceFlags, isRemote: true });
}

/**
 * OpenTelemetry spans through `@opentelemetry/api`. The SDK (src/ops/tracing-sdk.ts)
 * registers the tracer provider, the context manager and the propagators when
 * tracing is on; when it is off no `Tracing` exists and nothing here runs.
 */
export class Tracing implements HttpTracer {
  readonly #tracer = trace.getTracer('token-exchange-authz');

  /**
   * Starts the SERVER span of one check, a child of the trace the proxy sent
   * in the request headers (W3C `traceparent`, else B3) when it sent one.
   */
  startServer(name: string, view: RequestView | undefined, attributes: Attributes): CheckSpan {
    const w3c = propagation.extract(ROOT_CONTEXT, view, fromView);
    const parent = trace.getSpanContext(w3c) ? w3c : (b3Parent(view) ?? w3c);
    const span = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Runs `call` with the check's context active, so calls made under it (jose's JWKS fetches) find their parent. */
  within<T>(check: CheckSpan, call: () => T): T {
    return context.with(check.context, call);
  }

  /** Ends a check's SERVER span with its outcome. */
  endServer(check: CheckSpan, attributes: Attributes, failed: boolean): void {
    check.span.setAttributes(attributes);
    if (failed) check.span.setStatus({ code: SpanStatusCode.ERROR });
    check.span.end();
  }

  /** `trace_id` and `span_id` of a check, for its log line. */
  ids(check: CheckSpan): { traceId: string; spanId: string } {
    const { traceId, spanId } = check.span.spanContext();
    return { traceId, spanId };
  }

  /**
   * One call to the authorization server in a CLIENT span, under `span.parent`
   * or the active context; outside any check (start-up warm-up, background
   * refreshes) no span is made. `call` receives the headers that continue the
   * trace at the server (`traceparent`).
   */
  async client<T extends { readonly status: number }>(call: CallSpan, method: string, url: string, send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const parent = call.parent ?? context.active();
    if (!trace.getSpan(parent)) return send({});
    const span = this.#tracer.startSpan(call.name, { kind: SpanKind.CLIENT, attributes: { ...clientAttributes(method, url), ...call.attributes } }, parent);
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), headers);
    try {
      const response = await send(headers);
      span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      return response;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof AuthzError ? error.code : 'error' });
      throw error;
    } finally {
      span.end();
    }
  }
}

/** OpenTelemetry HTTP client attributes; `url.full` without query, fragment or credentials. */
function clientAttributes(method: string, url: string): Attributes {
  const parsed = new URL(url);
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return {
    'server.address': parsed.hostname,
    'server.port': port,
    'http.request.method': method,
    'url.full': `${parsed.protocol}//${parsed.host}${parsed.pathname}`,
  };
}
