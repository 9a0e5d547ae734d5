import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type TextMapGetter } from '@opentelemetry/api';
import type { RequestView } from '../check/request.js';
import { AuthzError } from '../errors.js';

/** The caller's trace context (W3C `traceparent` / `tracestate`), carried down to the calls a check makes. */
export type TraceParent = Context;

const fromView: TextMapGetter<RequestView> = {
  get: (view, key) => view.headerValues(key)[0],
  keys: () => ['traceparent', 'tracestate'],
};

/**
 * OpenTelemetry spans through `@opentelemetry/api` only: with no SDK registered
 * (or TRACING=false, when none of this is even called) it costs nothing. The
 * operator preloads an SDK, which registers the tracer provider and the W3C
 * propagator.
 */
export class Tracing {
  readonly #tracer = trace.getTracer('token-exchange-authz');

  /** The parent context from the request's `traceparent`. */
  parentOf(view: RequestView): TraceParent {
    return propagation.extract(ROOT_CONTEXT, view, fromView);
  }

  /**
   * Runs an outgoing call in a client span named `name`; `call` receives the
   * headers that continue the trace (`traceparent`) at the authorization server.
   */
  async span<T>(name: string, parent: TraceParent, attributes: Record<string, string>, call: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), headers);
    try {
      return await call(headers);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof AuthzError ? error.code : 'error' });
      throw error;
    } finally {
      span.end();
    }
  }
}
