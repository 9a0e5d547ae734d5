/**
 * HttpAuthzServer with a stub pipeline: the CheckRequest it builds, how a
 * CheckResponse becomes HTTP, failures (fail closed, never a crash), onDecision,
 * listen/close. Real HTTP on 127.0.0.1:0; the real ResponseBuilder unless a case
 * needs a response the builder cannot produce.
 */
import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import type { CheckRequest } from '../../src/request/check-request.js';
import type { Decision } from '../../src/check/pipeline.js';
import { ResponseBuilder, type CheckResponse } from '../../src/check/response.js';
import { AuthzError } from '../../src/errors.js';
import { HttpAuthzServer, type HttpAuthzOptions } from '../../src/http-authz/server.js';
import { httpAnswerOf } from '../../src/http-authz/response.js';
import { createLogger } from '../../src/log.js';
import { send } from './fixtures/service.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: ['mcp:tools'], expiresAt: 2e9 };

function allowed(header = { name: 'authorization', prefix: 'Bearer ', remove: [] as string[] }): Decision {
  return { allowed: true, exchanged: { value: 'exchanged.jwt.value' }, cached: false, principal, token: { value: TOKEN, hash: 'h' }, exchanger: { target: { name: 't', header } } } as unknown as Decision;
}
const denied = (code: AuthzError['code'], description = 'nope'): Decision => ({ allowed: false, error: new AuthzError(code, description) });

interface Harness {
  url: string;
  requests: CheckRequest[];
  reported: Array<[Decision, number]>;
  logText: () => string;
  server: HttpAuthzServer;
}

async function start(t: Test, decide: (request: CheckRequest) => Decision | Promise<Decision>, overrides: Partial<HttpAuthzOptions> = {}): Promise<Harness> {
  const requests: CheckRequest[] = [];
  const reported: Array<[Decision, number]> = [];
  const lines: string[] = [];
  const server = new HttpAuthzServer({
    pipeline: {
      decide: (request) => {
        requests.push(request);
        return decide(request);
      },
    },
    responses: new ResponseBuilder(RESOURCE),
    log: createLogger('debug', (line) => void lines.push(line)),
    onDecision: (decision, seconds) => void reported.push([decision, seconds]),
    ...overrides,
  });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${port}`, requests, reported, logText: () => lines.join(''), server };
}

t.test('the CheckRequest: headers map as Envoy builds it, host / path / method from the proxy headers', async (t) => {
  const h = await start(t, () => denied('missing_token'));

  await send(h.url, { method: 'POST', path: '/mcp/x?y=1', headers: { host: 'mcp.example.com', 'X-Custom': 'A', authorization: ['Bearer a', 'Bearer b'], 'x-multi': ['1', '2'] } });
  const envoy = h.requests.at(-1)!.attributes!.request!.http!;
  t.equal(envoy.method, 'POST');
  t.equal(envoy.path, '/mcp/x?y=1');
  t.equal(envoy.host, 'mcp.example.com');
  t.equal(envoy.headers!.authorization, 'Bearer a,Bearer b', 'repeated authorization lines joined with "," (Envoy headers map)');
  t.equal(envoy.headers!['x-multi'], '1,2');
  t.equal(envoy.headers!['x-custom'], 'A', 'names lower-cased');

  await send(h.url, { path: '/_authz', headers: { host: 'authz', 'x-original-uri': '/billing/7?x', 'x-original-method': 'delete' } });
  const nginx = h.requests.at(-1)!.attributes!.request!.http!;
  t.same([nginx.path, nginx.method, nginx.host], ['/billing/7?x', 'DELETE', 'authz']);

  await send(h.url, { path: '/', headers: { host: 'authz:9003', 'x-forwarded-host': 'orders.internal', 'x-forwarded-uri': '/o/1', 'x-forwarded-method': 'PATCH', 'x-original-uri': '/ignored', 'x-original-method': 'PUT' } });
  const traefik = h.requests.at(-1)!.attributes!.request!.http!;
  t.same([traefik.path, traefik.method, traefik.host], ['/o/1', 'PATCH', 'orders.internal'], 'X-Forwarded-* wins over X-Original-*');

  await send(h.url, { path: '/', headers: { 'x-forwarded-host': ['client.example', 'proxy-set.example'], 'x-forwarded-uri': ['/client', '/proxy-set'] } });
  const appended = h.requests.at(-1)!.attributes!.request!.http!;
  t.same([appended.host, appended.path], ['proxy-set.example', '/proxy-set'], 'a repeated forwarded header: the last line (the nearest proxy)');
  t.equal(h.requests.at(-1)!.attributes!.context_extensions, undefined, 'no context_extensions over HTTP');
});

t.test('allowed → 200, the header to set, and headers_to_remove for Envoy', async (t) => {
  let decision = allowed();
  const h = await start(t, () => decision);
  const plain = await send(h.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(plain.status, 200);
  t.equal(plain.headers.authorization, 'Bearer exchanged.jwt.value');
  t.equal(plain.headers['content-length'], '0');
  t.equal(plain.headers['cache-control'], 'no-store');
  t.equal(plain.text.includes(TOKEN), false);

  decision = allowed({ name: 'x-upstream-token', prefix: '', remove: ['authorization'] });
  const elsewhere = await send(h.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(elsewhere.headers['x-upstream-token'], 'exchanged.jwt.value');
  t.equal(elsewhere.headers['x-envoy-auth-headers-to-remove'], 'authorization');
  t.equal(elsewhere.headers.authorization, undefined);
  t.equal(h.reported.length, 2, 'onDecision once per request');
  t.ok(h.reported.every(([, seconds]) => typeof seconds === 'number' && seconds >= 0 && seconds < 5), 'with the duration in seconds');
});

t.test('denials: status, headers and body from the ResponseBuilder', async (t) => {
  const cases: Array<[AuthzError['code'], number, string | undefined]> = [
    ['missing_token', 401, 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'],
    ['invalid_request', 400, 'Bearer error="invalid_request", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'],
    ['exchange_refused', 403, undefined],
    ['misconfigured', 500, undefined],
    ['unavailable', 503, undefined],
  ];
  let next = cases[0]!;
  const h = await start(t, () => denied(next[0], 'described'));
  for (const entry of cases) {
    next = entry;
    const [code, status, challenge] = entry;
    const reply = await send(h.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: 'ignored' });
    t.equal(reply.status, status, code);
    t.equal(reply.headers['www-authenticate'], challenge, `${code}: challenge`);
    t.equal(reply.headers['content-type'], 'application/json');
    t.equal(reply.headers['retry-after'], status === 503 ? '1' : undefined, `${code}: retry-after`);
    t.match(JSON.parse(reply.body), { error: String, error_description: 'described' });
    t.equal(reply.text.includes(TOKEN), false);
  }
});

t.test('failures fail closed with a 500 JSON answer, never a crash, and log no token', async (t) => {
  const secret = `leaked ${TOKEN}`;
  let mode = 'throw';
  const h = await start(t, () => {
    if (mode === 'throw') throw new Error(secret);
    if (mode === 'reject') return Promise.reject(new TypeError(secret));
    return allowed();
  });
  for (const which of ['throw', 'reject']) {
    mode = which;
    const reply = await send(h.url, { headers: { authorization: `Bearer ${TOKEN}` } });
    t.equal(reply.status, 500, which);
    t.same(JSON.parse(reply.body), { error: 'server_error', error_description: 'the check failed unexpectedly' });
    const [decision] = h.reported.at(-1)!;
    t.equal(!decision.allowed && decision.error.code, 'internal', `${which}: reported as internal`);
  }
  t.match(h.logText(), /"msg":"http authorization failed unexpectedly",[^\n]*"cause":"Error"/);
  t.match(h.logText(), /"cause":"TypeError"/);
  t.equal(h.logText().includes(TOKEN), false, 'the exception message is not logged');

  mode = 'allow';
  const responses = new ResponseBuilder(RESOURCE);
  const broken = await start(t, () => allowed(), {
    responses: { allow: () => { throw new Error(secret); }, deny: (error) => responses.deny(error) },
    onDecision: () => { throw new Error('metrics down'); },
  });
  const reply = await send(broken.url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(reply.status, 500, 'the answer could not be built → 500');
  t.equal(reply.text.includes(TOKEN), false);

  const nothing = await start(t, () => allowed(), { responses: { allow: () => { throw new Error('a'); }, deny: () => { throw new Error('b'); } } });
  t.equal((await send(nothing.url)).status, 500, 'even the denial cannot be built → a fixed 500');

  const crlf = await start(t, () => allowed({ name: 'authorization', prefix: 'Bearer x\r\nset-cookie: y ', remove: [] }));
  const injected = await send(crlf.url);
  t.equal(injected.status, 500, 'a header value Node refuses → 500, not a crash or a split header');
  t.equal(injected.headers['set-cookie'], undefined);

  t.equal((await send(h.url, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'the server still answers afterwards');
});

t.test('httpAnswerOf: status names, non-error denials, odd responses', async (t) => {
  const deny = (code: number | string): CheckResponse => ({ status: { code: 7 }, denied_response: { status: { code: code as number }, headers: [], body: '{}' } });
  t.equal(httpAnswerOf(deny('Unauthorized')).status, 401, 'enum name');
  t.equal(httpAnswerOf(deny('ServiceUnavailable')).status, 503);
  t.equal(httpAnswerOf(deny('BadRequest')).status, 400);
  t.equal(httpAnswerOf(deny('429')).status, 429, 'numeric string');
  for (const code of [200, 204, 302, 'OK', 0, 'Bogus', 600, 401.5]) {
    const answer = httpAnswerOf(deny(code));
    t.equal(answer.status, 403, `a denial with status ${JSON.stringify(code)} → 403 (a 2xx would mean "allow")`);
    t.match(JSON.parse(answer.body), { error: 'access_denied' });
  }
  t.equal(httpAnswerOf({ status: { code: 7 } }).status, 403, 'neither ok_response nor denied_response');
  t.equal(httpAnswerOf({ status: { code: 0 } }).status, 403, 'OK without ok_response is not an allow');
  t.equal(httpAnswerOf({ status: { code: 16 }, ok_response: { headers: [] } }).status, 403, 'ok_response without OK status is not an allow');
  const ok = httpAnswerOf({ status: { code: 0 }, ok_response: { headers: [{ header: { key: 'Authorization', value: 'Bearer z' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }], headers_to_remove: ['a', 'b'] } });
  t.same(ok, { status: 200, headers: { 'cache-control': 'no-store', authorization: 'Bearer z', 'x-envoy-auth-headers-to-remove': 'a,b' }, body: '' });
});

t.test('the RFC 9728 "200 local reply" denial is refused, not allowed', async (t) => {
  const h = await start(t, () => denied('resource_metadata' as AuthzError['code']), {
    responses: { allow: () => { throw new Error('unused'); }, deny: () => ({ status: { code: 7 }, denied_response: { status: { code: 200 }, headers: [], body: '{"resource":"x"}' } }) },
  });
  const reply = await send(h.url, { path: '/.well-known/oauth-protected-resource/mcp' });
  t.equal(reply.status, 403);
  t.match(JSON.parse(reply.body), { error: 'access_denied' });
});

t.test('listen and close', async (t) => {
  let release: () => void = () => {};
  const h = await start(t, (request) => (request.attributes?.request?.http?.path === '/slow' ? new Promise((resolve) => (release = () => resolve(allowed()))) : allowed()));
  const port = Number(new URL(h.url).port);
  t.ok(port > 0, 'port 0 → an ephemeral port');
  const again = new HttpAuthzServer({ pipeline: { decide: () => allowed() }, responses: new ResponseBuilder(RESOURCE), log: createLogger('fatal') });
  await t.rejects(again.listen('127.0.0.1', port), { code: 'EADDRINUSE' }, 'a port in use rejects');

  // A keep-alive connection that is idle, and one with a request in flight.
  const idle = await rawSocket(port);
  idle.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await readResponse(idle);
  const busy = await rawSocket(port);
  busy.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 50));

  const started = Date.now();
  const closing = h.server.close(10_000);
  await once(idle, 'close');
  t.pass('the idle keep-alive connection is closed at once');
  setTimeout(release, 100);
  const answer = await readResponse(busy);
  t.match(answer, /^HTTP\/1\.1 200 /, 'the in-flight request is answered within the grace period');
  t.match(answer, /\r\nconnection: close\r\n/i, '… with connection: close');
  await closing;
  t.ok(Date.now() - started < 5000, `closed once the last answer went out (${Date.now() - started} ms), not at the end of the grace period`);
  await t.rejects(send(h.url), { code: 'ECONNREFUSED' }, 'no longer listening');
  await h.server.close();
  t.pass('close twice is fine');
});

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function once(socket: Socket, event: string): Promise<void> {
  return new Promise((resolve) => socket.once(event, () => resolve()));
}

/** Reads one response (headers + content-length body) as text. */
function readResponse(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length >= end + 4 + length) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => resolve(text));
  });
}

t.test('the proxy\'s stated deadline: a 503 just before it while the pipeline still waits, the same rule as gRPC', async (t) => {
  const waiting: Array<(decision: Decision) => void> = [];
  let asked!: () => void;
  const h = await start(t, () => {
    asked();
    return new Promise<Decision>((resolve) => waiting.push(resolve));
  });
  const called = () => new Promise<void>((resolve) => (asked = resolve));

  let pipelineCalled = called();
  const reply = await send(h.url, { headers: { authorization: `Bearer ${TOKEN}`, 'x-envoy-expected-rq-timeout-ms': '50' } });
  await pipelineCalled;
  t.equal(reply.status, 503, 'answered before the proxy gives up');
  t.equal(JSON.parse(reply.body).error_description, 'the authorization server did not answer in time');
  const [decision] = h.reported.at(-1)!;
  t.equal(!decision.allowed && decision.error.code, 'deadline', 'reported as deadline');
  waiting[0]!(allowed());

  pipelineCalled = called();
  const pending = send(h.url, { headers: { authorization: `Bearer ${TOKEN}`, 'x-envoy-expected-rq-timeout-ms': 'soon' } });
  await pipelineCalled;
  waiting[1]!(allowed());
  t.equal((await pending).status, 200, 'no usable deadline: the decision, however long it takes');
});
