/**
 * Traces from the built service as a process, configured only by the standard OTEL_* variables,
 * received by an OTLP/HTTP (JSON) receiver this test runs: the span tree of a Check.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { createEnvoyClient, summarize } from '../fixtures/envoy-client.js';
import { readyService } from '../fixtures/process.js';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}
const SERVER = 2;
const CLIENT = 3;

/** An OTLP/HTTP receiver on 127.0.0.1:0 that keeps every span posted to /v1/traces (JSON encoding). */
async function otlpReceiver(t: Test) {
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const message = JSON.parse(body) as { resourceSpans: Array<{ resource: unknown; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resourceSpans of message.resourceSpans) {
          resources.push(resourceSpans.resource);
          for (const scope of resourceSpans.scopeSpans) spans.push(...scope.spans);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, resources };
}

const attribute = (span: OtlpSpan | undefined, key: string) => {
  const value = span?.attributes.find((candidate) => candidate.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
};

async function until(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ready(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!ready()) throw new Error(`timed out waiting for ${what}`);
}

async function setUp(t: Test, extra: Record<string, string> = {}) {
  const receiver = await otlpReceiver(t);
  const as = await authorizationServer(t);
  const proc = await readyService(
    t,
    serviceEnv(as, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'authz-under-test',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      LOG_LEVEL: 'info',
      ...extra,
    }),
  );
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  return { receiver, as, proc, client };
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

t.test('W3C traceparent: a SERVER span for the Check, the exchange a CLIENT span under it, continued at the server', async (t) => {
  const { receiver, as, proc, client } = await setUp(t);
  const token = await as.mintAccessToken({ sub: 'alice' });
  const response = summarize(await client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` }, path: '/mcp?session=secret-query' }));
  t.ok(response.allowed);

  await until('the spans', () => receiver.spans.some((span) => span.kind === SERVER));
  const check = receiver.spans.find((span) => span.kind === SERVER)!;
  t.equal(check.name, 'envoy.service.auth.v3.Authorization/Check');
  t.equal(check.traceId, TRACE_ID, 'the proxy\'s trace');
  t.equal(check.parentSpanId, PARENT_SPAN, 'parented on the proxy\'s span');
  t.equal(attribute(check, 'rpc.system'), 'grpc');
  t.equal(attribute(check, 'rpc.service'), 'envoy.service.auth.v3.Authorization');
  t.equal(attribute(check, 'rpc.method'), 'Check');
  t.equal(attribute(check, 'rpc.grpc.status_code'), 0);
  t.equal(attribute(check, 'authz.outcome'), 'allowed');

  const exchange = receiver.spans.find((span) => span.name === 'token exchange');
  t.ok(exchange, 'an exchange span');
  t.equal(exchange?.kind, CLIENT);
  t.equal(exchange?.traceId, TRACE_ID);
  t.equal(exchange?.parentSpanId, check.spanId, 'a child of the Check span');
  const { port } = new URL(as.issuer);
  t.equal(attribute(exchange, 'server.address'), '127.0.0.1');
  t.equal(attribute(exchange, 'server.port'), Number(port));
  t.equal(attribute(exchange, 'http.request.method'), 'POST');
  t.equal(attribute(exchange, 'url.full'), as.tokenEndpoint);
  t.equal(attribute(exchange, 'http.response.status_code'), 200);
  t.equal(as.exchanges.at(-1)?.traceparent, `00-${TRACE_ID}-${exchange?.spanId}-01`, 'traceparent sent on to the authorization server');

  for (const span of receiver.spans) {
    const text = JSON.stringify(span.attributes);
    t.notOk(text.includes(token) || text.includes('secret') || text.includes('?'), `no token, secret or query in ${span.name}`);
  }
  t.match(JSON.stringify(receiver.resources), /"service.name","value":\{"stringValue":"authz-under-test"\}/, 'OTEL_SERVICE_NAME');

  t.comment(`span tree:\n${receiver.spans.map((span) => `${span.parentSpanId === PARENT_SPAN ? '' : '  '}${span.kind === SERVER ? 'SERVER' : 'CLIENT'} ${span.name} ${span.spanId} <- ${span.parentSpanId} ${JSON.stringify(Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue])))}`).join('\n')}`);
  const line = proc.stdout().split('\n').find((candidate) => candidate.includes('"msg":"check"'));
  t.match(line, `"trace_id":"${TRACE_ID}","span_id":"${check.spanId}"`, 'the check log line names its trace and span');

  receiver.spans.length = 0;
  t.ok(summarize(await client.check({ headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } })).allowed);
  await until('the cache hit\'s span', () => receiver.spans.length > 0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(receiver.spans.map((span) => span.kind), [SERVER], 'a cache hit: the Check span alone');
});

t.test('B3 from the proxy, single header and multi-header', async (t) => {
  const { receiver, as, client } = await setUp(t);
  const single = { trace: '80f198ee56343ba864fe8b2a57d3eff7', span: 'e457b5a2e4d86bd1' };
  const multi = { trace: '463ac35c9f6413ad48485a3953bb6124', span: '0020000000000001' };
  await client.check({ headers: { authorization: `Bearer ${await as.mintAccessToken({ sub: 'b3-single' })}`, b3: `${single.trace}-${single.span}-1` } });
  await client.check({ headers: { authorization: `Bearer ${await as.mintAccessToken({ sub: 'b3-multi' })}`, 'x-b3-traceid': multi.trace, 'x-b3-spanid': multi.span, 'x-b3-sampled': '1' } });
  await until('both Check spans', () => receiver.spans.filter((span) => span.kind === SERVER).length === 2 && receiver.spans.length >= 4);
  for (const { trace, span } of [single, multi]) {
    const check = receiver.spans.find((candidate) => candidate.kind === SERVER && candidate.traceId === trace);
    t.equal(check?.parentSpanId, span, `Check parented on the B3 span ${span}`);
    const exchange = receiver.spans.find((candidate) => candidate.kind === CLIENT && candidate.traceId === trace);
    t.equal(exchange?.parentSpanId, check?.spanId, 'the exchange under it');
  }
});

t.test('a JWKS fetch a Check causes (unknown kid) is a CLIENT span under it', async (t) => {
  const { receiver, as, client } = await setUp(t, { JWKS_COOLDOWN_SECONDS: '0' });
  await as.rotateKey();
  t.ok(summarize(await client.check({ headers: { authorization: `Bearer ${await as.mintAccessToken({ sub: 'new-key' })}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } })).allowed);
  await until('the spans', () => receiver.spans.some((span) => span.name === 'jwks') && receiver.spans.some((span) => span.kind === SERVER));
  const check = receiver.spans.find((span) => span.kind === SERVER)!;
  const jwks = receiver.spans.find((span) => span.name === 'jwks');
  t.equal(jwks?.kind, CLIENT);
  t.equal(jwks?.parentSpanId, check.spanId);
  t.equal(attribute(jwks, 'url.full'), as.jwksUri);
  t.equal(attribute(jwks, 'http.request.method'), 'GET');
});

t.test('introspection is a CLIENT span under the Check, next to the exchange', async (t) => {
  const receiver = await otlpReceiver(t);
  const as = await authorizationServer(t);
  const proc = await readyService(t, serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: as.introspectionEndpoint, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' }));
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  const opaque = await as.mintOpaqueToken({ sub: 'opaque-alice' });
  // The local server exchanges only its own JWTs (403 for an opaque subject token): the spans are what is asserted.
  t.equal(summarize(await client.check({ headers: { authorization: `Bearer ${opaque}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } })).httpStatus, 403);
  await until('the spans', () => receiver.spans.length >= 3);
  const check = receiver.spans.find((span) => span.kind === SERVER)!;
  const introspection = receiver.spans.find((span) => span.name === 'introspection');
  t.equal(introspection?.kind, CLIENT);
  t.equal(introspection?.parentSpanId, check.spanId);
  t.equal(attribute(introspection, 'url.full'), as.introspectionEndpoint);
  t.equal(attribute(introspection, 'http.response.status_code'), 200);
  t.equal(attribute(check, 'authz.outcome'), 'exchange_refused');
  t.equal(attribute(receiver.spans.find((span) => span.name === 'token exchange'), 'http.response.status_code'), 400);
  t.notOk(JSON.stringify(receiver.spans).includes(opaque), 'no token in any span');
});

t.test('the HTTP authorization mode: an HTTP SERVER span', async (t) => {
  const { receiver, as, proc } = await setUp(t, { AUTHZ_HTTP_PORT: '0' });
  const port = Number(/"authzHttpPort":(\d+)/.exec(proc.stdout())![1]);
  const token = await as.mintAccessToken({ sub: 'http-mode' });
  const response = await request(`http://127.0.0.1:${port}/mcp?x=1`, { headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  await response.body.text();
  t.equal(response.statusCode, 200);
  await until('the spans', () => receiver.spans.some((span) => span.kind === SERVER) && receiver.spans.some((span) => span.kind === CLIENT));
  const check = receiver.spans.find((span) => span.kind === SERVER)!;
  t.equal(check.parentSpanId, PARENT_SPAN);
  t.equal(attribute(check, 'http.request.method'), 'GET');
  t.equal(attribute(check, 'url.path'), '/mcp');
  t.equal(attribute(check, 'http.response.status_code'), 200);
  t.equal(attribute(check, 'authz.outcome'), 'allowed');
  t.equal(receiver.spans.find((span) => span.kind === CLIENT)?.parentSpanId, check.spanId);
});

t.test('OTEL_SDK_DISABLED=true: no traces, even with an endpoint set', async (t) => {
  const { receiver, as, proc, client } = await setUp(t, { OTEL_SDK_DISABLED: 'true' });
  t.ok(summarize(await client.check({ headers: { authorization: `Bearer ${await as.mintAccessToken({ sub: 'off' })}`, traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } })).allowed);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(receiver.spans.length, 0);
  t.notMatch(proc.stdout(), /trace_id/);
});
