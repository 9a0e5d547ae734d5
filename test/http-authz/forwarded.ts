/**
 * Host, path and method as each proxy reports them pick the exchange target
 * (CONFIG_FILE with several targets, as in test/e2e/targets.ts): Envoy
 * `http_service` (the original method, path and Host), nginx `auth_request`
 * (`X-Original-URI` / `X-Original-Method` on a fixed URI) and Traefik
 * `forwardAuth` (GET with `X-Forwarded-Host` / `-Uri` / `-Method`).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { authorizationServer, EXCHANGE_CLIENT, RESOURCE } from '../fixtures/service.js';
import { bearer, send, startHttpAuthz, type Reply } from './fixtures/service.js';

const ORDERS = 'https://orders.example.com/';
const BILLING = 'https://billing.example.com/';
const SEARCH = 'https://search.example.com/';

async function setUp(t: Test, extra: Record<string, unknown> = {}) {
  const as = await authorizationServer(t, { exchangeTargets: [ORDERS, BILLING, SEARCH] });
  const dir = mkdtempSync(join(tmpdir(), 'http-authz-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    stringify({
      mcp_resource_url: RESOURCE,
      authorization_server_url: as.issuer,
      client_id: EXCHANGE_CLIENT.id,
      client_secret: EXCHANGE_CLIENT.secret,
      listen_address: '127.0.0.1',
      grpc_port: 0,
      http_port: 0,
      targets: [
        { name: 'orders', exchange_resource: ORDERS, match: { hosts: ['orders.internal'] } },
        { name: 'billing', exchange_resource: BILLING, match: { path_prefixes: ['/billing'] } },
        // The token goes to another header: the inbound authorization must not reach the upstream either.
        { name: 'search', exchange_resource: SEARCH, exchange_token_header: 'x-upstream-token', exchange_token_prefix: 'none', match: { path_prefixes: ['/search'] } },
      ],
      ...extra,
    }),
  );
  const service = await startHttpAuthz(t, { CONFIG_FILE: path });
  const token = await as.mintAccessToken({ sub: 'alice' });
  return { as, service, token };
}

const audienceOf = (reply: Reply, header = 'authorization') => decodeJwt(String(reply.headers[header]).replace(/^Bearer /, '')).aud;

t.test('Traefik forwardAuth: GET to a fixed address, X-Forwarded-Host / -Uri / -Method', async (t) => {
  const { service, token } = await setUp(t);
  const forwarded = (host: string, uri: string) => ({ ...bearer(token), 'x-forwarded-host': host, 'x-forwarded-uri': uri, 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', host: 'authz:9003' });

  t.equal(audienceOf(await send(service.url, { path: '/', headers: forwarded('orders.internal', '/anything') })), ORDERS, 'X-Forwarded-Host picks the host rule');
  t.equal(audienceOf(await send(service.url, { path: '/', headers: forwarded('mcp.example.com', '/billing/invoices?x=1') })), BILLING, 'X-Forwarded-Uri picks the path rule');
  const none = await send(service.url, { path: '/billing', headers: forwarded('mcp.example.com', '/orders') });
  t.equal(none.status, 403, 'the forwarded URI, not the request path, is matched: no rule → 403');
  t.match(JSON.parse(none.body), { error: 'access_denied' });
  t.equal(audienceOf(await send(service.url, { path: '/', headers: { ...forwarded('orders.internal', '/x'), 'x-forwarded-host': 'orders.internal, proxy.internal' } })), ORDERS, 'a host chain: the first (original) host');
});

t.test('nginx auth_request: a fixed URI with X-Original-URI / X-Original-Method', async (t) => {
  const { service, token } = await setUp(t);
  const original = (uri: string) => ({ ...bearer(token), 'x-original-uri': uri, 'x-original-method': 'DELETE', host: 'authz' });
  t.equal(audienceOf(await send(service.url, { path: '/_authz', headers: original('/billing/invoices/7') })), BILLING);
  t.equal((await send(service.url, { path: '/_authz', headers: original('/orders/7') })).status, 403, 'no rule matches /orders on host "authz"');
  t.equal(
    audienceOf(await send(service.url, { path: '/_authz', headers: { ...original('/orders/7'), 'x-forwarded-host': 'orders.internal' } })),
    ORDERS,
    'X-Forwarded-Host (nginx: proxy_set_header X-Forwarded-Host $host) picks the host rule',
  );
  const both = await send(service.url, { path: '/_authz', headers: { ...original('/orders/7'), 'x-forwarded-uri': '/billing' } });
  t.equal(audienceOf(both), BILLING, 'X-Forwarded-Uri wins over X-Original-URI');
});

t.test('Envoy http_service: the original method, path and Host', async (t) => {
  const { service, token } = await setUp(t);
  t.equal(audienceOf(await send(service.url, { method: 'POST', path: '/billing/invoices', headers: { ...bearer(token), host: 'mcp.example.com' } })), BILLING);
  t.equal(audienceOf(await send(service.url, { method: 'PUT', path: '/mcp', headers: { ...bearer(token), host: 'orders.internal:8443' } })), ORDERS, 'host, port ignored');
  t.equal((await send(service.url, { method: 'GET', path: '/other', headers: { ...bearer(token), host: 'elsewhere.example.com' } })).status, 403);
});

t.test('a target with its own header: the token goes there, and authorization is listed for removal', async (t) => {
  const { service, token } = await setUp(t);
  const reply = await send(service.url, { path: '/search?q=1', headers: { ...bearer(token), host: 'mcp.example.com' } });
  t.equal(reply.status, 200);
  t.equal(reply.headers.authorization, undefined, 'no authorization header in the answer');
  t.equal(audienceOf(reply, 'x-upstream-token'), SEARCH, 'no prefix');
  t.equal(reply.headers['x-envoy-auth-headers-to-remove'], 'authorization', "Envoy's HTTP form of headers_to_remove");
  t.equal(reply.text.includes(token), false);
});

t.test('no rule matches → the default target', async (t) => {
  const { service, token } = await setUp(t, { default_target: 'orders' });
  t.equal(audienceOf(await send(service.url, { path: '/', headers: { ...bearer(token), 'x-forwarded-host': 'elsewhere.example.com', 'x-forwarded-uri': '/other' } })), ORDERS);
});
