/** TRACING=true: a span around each exchange, a child of the request's W3C traceparent, continued at the authorization server. */
import t from 'tap';
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

// What an operator's preloaded SDK would register.
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

t.test('exchange span under the request trace', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { TRACING: 'true' }));
  const token = await as.mintAccessToken({ sub: 'alice' });
  await service.client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  const [span] = exporter.getFinishedSpans();
  t.equal(span?.name, 'token exchange');
  t.equal(span?.spanContext().traceId, TRACE_ID, 'same trace as the request');
  t.equal(span?.parentSpanContext?.spanId, PARENT_SPAN, 'child of the request span');
  t.equal(span?.attributes['authz.target'], 'default');
  t.equal(JSON.stringify(span?.attributes).includes(token), false, 'no token in span attributes');

  exporter.reset();
  await service.client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  t.equal(exporter.getFinishedSpans().length, 0, 'a cache hit makes no call and no span');
});

t.test('TRACING=false (the default): no spans even with an SDK registered', async (t) => {
  exporter.reset();
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  await service.client.check(bearer(await as.mintAccessToken({ sub: 'bob' })));
  t.equal(exporter.getFinishedSpans().length, 0);
});
