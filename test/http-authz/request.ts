/**
 * An HTTP authorization request read as a CheckRequest, over a real node:http
 * server on 127.0.0.1:0 and a raw socket that writes each request head byte
 * for byte (repeated lines, forwarded headers, HTTP/1.0 without Host).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import t from 'tap';
import { checkRequestOf } from '../../src/http-authz/request.js';
import type { CheckRequest } from '../../src/request/check-request.js';

const seen: IncomingMessage[] = [];
const server = createServer((request, response) => {
  seen.push(request);
  response.end();
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
t.teardown(() => server.close());
const { port } = server.address() as AddressInfo;

/** Sends one request head as written and returns the CheckRequest the server read from it. */
async function checkRequestFor(head: string): Promise<CheckRequest> {
  const before = seen.length;
  const socket = connect(port, '127.0.0.1');
  socket.end(`${head.replace(/\n/g, '\r\n')}\r\n\r\n`);
  socket.resume();
  await once(socket, 'close');
  if (seen.length !== before + 1) throw new Error('the server did not receive the request');
  return checkRequestOf(seen[before]!);
}

const httpOf = async (head: string) => (await checkRequestFor(head)).attributes!.request!.http!;

t.test('Envoy http_service: the original method, path and Host', async (t) => {
  const http = await httpOf('POST /mcp/tools?x=1 HTTP/1.1\nHost: Orders.Internal:8080\nAuthorization: Bearer abc\nConnection: close');
  t.same(http, { headers: { host: 'Orders.Internal:8080', authorization: 'Bearer abc', connection: 'close' }, host: 'Orders.Internal:8080', path: '/mcp/tools?x=1', method: 'POST' });
});

t.test('repeated header lines are joined with "," as Envoy\'s headers map joins them', async (t) => {
  const http = await httpOf('GET / HTTP/1.1\nHost: a\nAuthorization: Bearer one\nAuthorization: Bearer two\nX-Tag: a\nX-Tag: b\nConnection: close');
  t.equal(http.headers!.authorization, 'Bearer one,Bearer two', 'two credentials stay two (and are refused later)');
  t.equal(http.headers!['x-tag'], 'a,b');
});

t.test('nginx auth_request: X-Original-URI and X-Original-Method on a fixed URI', async (t) => {
  const http = await httpOf('GET /auth HTTP/1.1\nHost: gw\nX-Original-URI: /billing/v1\nX-Original-Method: delete\nConnection: close');
  t.match(http, { host: 'gw', path: '/billing/v1', method: 'DELETE' }, 'the method upper-cased');
});

t.test('Traefik forwardAuth: X-Forwarded-Host, -Uri and -Method win over nginx\'s and the request\'s own', async (t) => {
  const http = await httpOf('GET /auth HTTP/1.1\nHost: traefik\nX-Forwarded-Host: orders.internal\nX-Forwarded-Uri: /orders\nX-Original-URI: /nginx\nX-Forwarded-Method:  patch \nX-Original-Method: PUT\nConnection: close');
  t.match(http, { host: 'orders.internal', path: '/orders', method: 'PATCH' });
});

t.test('a forwarded header set twice: the last line counts (a proxy that appends adds its own last)', async (t) => {
  const http = await httpOf('GET /auth HTTP/1.1\nHost: h\nX-Forwarded-Host: evil.example\nX-Forwarded-Host: orders.internal\nX-Forwarded-Uri: /evil\nX-Forwarded-Uri: /orders\nX-Forwarded-Method: GET\nX-Forwarded-Method: POST\nConnection: close');
  t.match(http, { host: 'orders.internal', path: '/orders', method: 'POST' });
  t.equal(http.headers!['x-forwarded-host'], 'evil.example,orders.internal', 'the headers map keeps both');
});

t.test('X-Forwarded-Host as a list: its first host, trimmed', async (t) => {
  t.equal((await httpOf('GET / HTTP/1.1\nHost: h\nX-Forwarded-Host:  orders.internal , proxy.internal\nConnection: close')).host, 'orders.internal');
  t.equal((await httpOf('GET / HTTP/1.1\nHost: h\nX-Forwarded-Host: , proxy.internal\nConnection: close')).host, 'h', 'an empty first entry: the Host header');
});

t.test('blank forwarded headers are ignored', async (t) => {
  const http = await httpOf('PUT /own HTTP/1.1\nHost: h\nX-Forwarded-Host:   \nX-Forwarded-Uri: \nX-Original-URI:  \nX-Forwarded-Method: \nConnection: close');
  t.match(http, { host: 'h', path: '/own', method: 'PUT' });
});

t.test('no Host at all (HTTP/1.0): no host attribute', async (t) => {
  const http = await httpOf('GET /x HTTP/1.0');
  t.same(http, { headers: {}, path: '/x', method: 'GET' });
  t.notOk('host' in http);
});
