import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { HttpClient, httpResponseOf } from '../../src/oauth/http.js';

/** A real loopback server answering with `handler`; remembers the last request. */
async function server(t: Test, handler: (request: IncomingMessage, body: string, response: ServerResponse) => void) {
  const seen: { method?: string; headers?: IncomingMessage['headers']; body?: string } = {};
  const http = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      Object.assign(seen, { method: request.method, headers: request.headers, body });
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => http.close(() => resolve())));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, seen };
}

const LIMITS = { timeoutMs: 2000, maxResponseBytes: 1024 };

t.test('oauth4webapi requests go through the client: body, headers and the answer as sent', async (t) => {
  const { url, seen } = await server(t, (_request, _body, response) => {
    response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
    response.end('{"error":"slow_down"}');
  });
  const client = new HttpClient(LIMITS);
  t.teardown(() => client.close());
  const as = { issuer: url, token_endpoint: `${url}/token` };
  const response = await oauth.genericTokenEndpointRequest(as, { client_id: 'gateway' }, oauth.ClientSecretPost('s3cret'), 'urn:x', { subject_token: 'tok' }, {
    [oauth.customFetch]: client.fetcher({ name: 'test' }),
    [oauth.allowInsecureRequests]: true,
  });
  t.equal(seen.method, 'POST');
  t.equal(seen.headers!['content-type'], 'application/x-www-form-urlencoded', 'no charset parameter');
  t.same(Object.fromEntries(new URLSearchParams(seen.body)), { subject_token: 'tok', grant_type: 'urn:x', client_id: 'gateway', client_secret: 's3cret' });
  t.same(httpResponseOf(response), { status: 429, contentType: 'application/json', retryAfter: '7', body: '{"error":"slow_down"}' });
});

for (const kind of ['fetcher', 'statusFetcher'] as const) {
  t.test(`${kind}: statuses the Fetch API cannot hold still reach the processors`, async (t) => {
    let status = 204;
    const { url } = await server(t, (_request, _body, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(status === 204 ? undefined : 'odd');
    });
    const client = new HttpClient(LIMITS);
    t.teardown(() => client.close());
    const fetch = client[kind]({ name: 'test' });
    t.same(httpResponseOf(await fetch(`${url}/x`, { method: 'GET', headers: {} })).status, 204, 'a body-less status');
    status = 600;
    t.same(httpResponseOf(await fetch(`${url}/x`, { method: 'GET', headers: {} })).status, 502, 'past 599: a server fault');
  });
}

t.test('a response too large or a server that is gone is "unavailable"', async (t) => {
  const { url } = await server(t, (_request, _body, response) => response.end('x'.repeat(4096)));
  const client = new HttpClient(LIMITS);
  t.teardown(() => client.close());
  await t.rejects(client.fetcher({ name: 'test' })(`${url}/big`, { method: 'GET', headers: {} }), { code: 'unavailable' }, 'maxResponseBytes holds');
  await t.rejects(client.fetcher({ name: 'test' })('http://127.0.0.1:9/', { method: 'GET', headers: {} }), { code: 'unavailable' });
});

t.test('statusFetcher: the same request on the wire; the answer is read through httpResponseOf, the Response carries no body', async (t) => {
  const { url, seen } = await server(t, (_request, _body, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'retry-after': '3' });
    response.end('{"access_token":"x"}');
  });
  const client = new HttpClient(LIMITS);
  t.teardown(() => client.close());
  const as = { issuer: url, token_endpoint: `${url}/token` };
  const response = await oauth.genericTokenEndpointRequest(as, { client_id: 'gateway' }, oauth.ClientSecretPost('s3cret'), 'urn:x', { subject_token: 'tok' }, {
    [oauth.customFetch]: client.statusFetcher({ name: 'test' }),
    [oauth.allowInsecureRequests]: true,
  });
  t.equal(seen.headers!['content-type'], 'application/x-www-form-urlencoded', 'no charset parameter');
  t.same(Object.fromEntries(new URLSearchParams(seen.body)), { subject_token: 'tok', grant_type: 'urn:x', client_id: 'gateway', client_secret: 's3cret' });
  t.equal(response.status, 200);
  t.equal(response.body, null, 'no body stream');
  t.same(httpResponseOf(response), { status: 200, contentType: 'application/json', retryAfter: '3', body: '{"access_token":"x"}' });
});

t.test('a Response not made by the client is refused', async (t) => {
  t.throws(() => httpResponseOf(new Response('{}')), TypeError);
});
