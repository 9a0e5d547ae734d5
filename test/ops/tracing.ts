/** Tracing in process: the span tree of a Check under the request's trace, and B3 parsing. */
import t from 'tap';
import { propagation, trace, TraceFlags } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { b3Parent } from '../../src/ops/tracing.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

// What src/ops/tracing-sdk.ts registers, with an in-memory exporter.
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

t.test('the Check span under the request trace, the exchange span under it', async (t) => {
  exporter.reset();
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { TRACING: 'true' }));
  const token = await as.mintAccessToken({ sub: 'alice' });
  await service.client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  const check = exporter.getFinishedSpans().find((span) => span.name === 'envoy.service.auth.v3.Authorization/Check');
  const exchange = exporter.getFinishedSpans().find((span) => span.name === 'token exchange');
  t.equal(check?.spanContext().traceId, TRACE_ID, 'same trace as the request');
  t.equal(check?.parentSpanContext?.spanId, PARENT_SPAN, 'child of the request span');
  t.equal(exchange?.parentSpanContext?.spanId, check?.spanContext().spanId, 'the exchange under the Check');
  t.equal(exchange?.attributes['authz.target'], 'default');
  t.equal(JSON.stringify(exporter.getFinishedSpans().map((span) => span.attributes)).includes(token), false, 'no token in span attributes');
  t.match(service.logText(), `"trace_id":"${TRACE_ID}","span_id":"${check?.spanContext().spanId}"`);

  exporter.reset();
  await service.client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  t.same(exporter.getFinishedSpans().map((span) => span.name), ['envoy.service.auth.v3.Authorization/Check'], 'a cache hit makes no call and no client span');
});

t.test('TRACING=false: no spans even with an SDK registered, no trace ids in the log', async (t) => {
  exporter.reset();
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { TRACING: 'false' }));
  await service.client.check({ ...bearer(await as.mintAccessToken({ sub: 'bob' })) });
  t.equal(exporter.getFinishedSpans().length, 0);
  t.notMatch(service.logText(), /trace_id/);
});

t.test('B3: single and multi-header, 64-bit ids padded, bad ids ignored', async (t) => {
  const view = (headers: Record<string, string>) => ({ headerValues: (name: string) => (headers[name] === undefined ? [] : [headers[name]!]) });
  const context = (headers: Record<string, string>) => {
    const parent = b3Parent(view(headers));
    return parent && trace.getSpanContext(parent);
  };
  t.match(context({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90' }), { traceId: '80f198ee56343ba864fe8b2a57d3eff7', spanId: 'e457b5a2e4d86bd1', traceFlags: TraceFlags.SAMPLED, isRemote: true });
  t.match(context({ b3: 'a3ce929d0e0e4736-00f067aa0ba902b7-0' }), { traceId: '0000000000000000a3ce929d0e0e4736', traceFlags: TraceFlags.NONE });
  t.match(context({ 'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124', 'x-b3-spanid': '0020000000000001', 'x-b3-sampled': '1' }), { spanId: '0020000000000001', traceFlags: TraceFlags.SAMPLED });
  t.equal(context({ b3: '0' }), undefined, 'a sampling decision alone');
  t.equal(context({ b3: 'zz-00f067aa0ba902b7-1' }), undefined);
  t.equal(context({ 'x-b3-traceid': '00000000000000000000000000000000', 'x-b3-spanid': '0020000000000001' }), undefined, 'an all-zero id');
  t.equal(context({}), undefined);
});
