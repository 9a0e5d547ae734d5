/** Several exchange targets from a CONFIG_FILE, chosen per request, against the real authorization server. */
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { decodeJwt } from 'jose';
import { summarize } from '../fixtures/envoy-client.js';
import { authorizationServer, bearer, EXCHANGE_CLIENT, RESOURCE, startService } from '../fixtures/service.js';

const ORDERS = 'https://orders.example.com/';
const BILLING = 'https://billing.example.com/';
const SEARCH = 'https://search.example.com/';

function configFile(t: Test, content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'authz-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, stringify(content));
  return path;
}

async function setUp(t: Test, extra: Record<string, unknown> = {}) {
  const as = await authorizationServer(t, { exchangeTargets: [ORDERS, BILLING, SEARCH] });
  const path = configFile(t, {
    mcp_resource_url: RESOURCE,
    authorization_server_url: as.issuer,
    client_id: EXCHANGE_CLIENT.id,
    client_secret: EXCHANGE_CLIENT.secret,
    listen_address: '127.0.0.1',
    grpc_port: 0,
    http_port: 0,
    targets: [
      { name: 'orders', exchange_resource: ORDERS, match: { hosts: ['orders.internal'] } },
      { name: 'billing', exchange_resource: BILLING, exchange_scope: 'billing:read', match: { path_prefixes: ['/billing'], destination_principals: ['spiffe://cluster.local/ns/billing/sa/billing'] } },
      { name: 'search', exchange_audience: [SEARCH, ORDERS], exchange_token_header: 'x-upstream-token', exchange_token_prefix: 'none', exchange_extra_params: { tenant: 'acme' }, match: { context: ['search'] } },
    ],
    ...extra,
  });
  const service = await startService(t, { CONFIG_FILE: path });
  const token = await as.mintAccessToken({ sub: 'alice' });
  return { as, service, token };
}

const audienceOf = (result: ReturnType<typeof summarize>, header = 'authorization') => decodeJwt(result.headers[header]!.replace(/^Bearer /, '')).aud;

t.test('each rule picks its target', async (t) => {
  const { as, service, token } = await setUp(t);
  const check = async (input: object) => summarize(await service.client.check({ ...bearer(token), ...input }));

  t.equal(audienceOf(await check({ host: 'orders.internal:8443' })), ORDERS, 'host, port ignored');
  t.equal(audienceOf(await check({ host: 'mcp.example.com', path: '/billing/invoices?x=1' })), BILLING, 'path prefix');
  t.equal(audienceOf(await check({ host: 'mcp.example.com', destinationPrincipal: 'spiffe://cluster.local/ns/billing/sa/billing' })), BILLING, 'destination principal');
  const search = await check({ host: 'orders.internal', contextExtensions: { target: 'search' } });
  t.same(decodeJwt(search.headers['x-upstream-token']!).aud, [SEARCH, ORDERS], 'context_extensions wins over the host; audience repeated');
  t.equal(search.headers.authorization, undefined, 'the exchanged token goes to the configured header, with no prefix');

  const raw = await service.client.check({ ...bearer(token), contextExtensions: { target: 'search' } });
  t.same(raw.ok_response?.headers_to_remove, ['authorization'], 'the inbound authorization header is removed when the token goes elsewhere');

  const params = as.exchanges.map((exchange) => exchange.params);
  t.ok(params.some((p) => p.tenant === 'acme' && Array.isArray(p.audience)), 'extra parameters and repeated audience reached the server');
  t.ok(params.some((p) => p.resource === BILLING && p.scope === 'billing:read'), 'the billing target sent its own scope');
});

t.test('one token, two targets: two cache entries, never shared', async (t) => {
  const { as, service, token } = await setUp(t);
  const orders = summarize(await service.client.check({ ...bearer(token), host: 'orders.internal' }));
  const billing = summarize(await service.client.check({ ...bearer(token), path: '/billing' }));
  const ordersAgain = summarize(await service.client.check({ ...bearer(token), host: 'orders.internal' }));
  t.equal(as.exchanges.length, 2, 'one exchange per target');
  t.not(orders.headers.authorization, billing.headers.authorization);
  t.equal(ordersAgain.headers.authorization, orders.headers.authorization, 'each target hits its own entry');
});

t.test('no match and no default → 403; an unknown named target → 403', async (t) => {
  const { service, token } = await setUp(t);
  const none = summarize(await service.client.check({ ...bearer(token), host: 'elsewhere.example.com', path: '/other' }));
  t.same([none.httpStatus, none.grpcCode], [403, 7]);
  const unknown = summarize(await service.client.check({ ...bearer(token), host: 'orders.internal', contextExtensions: { target: 'nope' } }));
  t.same([unknown.httpStatus, unknown.grpcCode], [403, 7], 'a route that names an unknown target is not sent elsewhere');
});

t.test('no match → the default target', async (t) => {
  const { service, token } = await setUp(t, { default_target: 'orders' });
  t.equal(audienceOf(summarize(await service.client.check({ ...bearer(token), host: 'elsewhere.example.com', path: '/other' }))), ORDERS);
});

t.test('actor token from a request header: sent with its type, part of the cache key', async (t) => {
  const as = await authorizationServer(t);
  const path = configFile(t, {
    mcp_resource_url: RESOURCE,
    authorization_server_url: as.issuer,
    client_id: EXCHANGE_CLIENT.id,
    client_secret: EXCHANGE_CLIENT.secret,
    exchange_resource: 'https://upstream.example.com/api',
    exchange_actor_source: 'header',
    exchange_actor_header: 'x-actor-token',
    listen_address: '127.0.0.1',
    grpc_port: 0,
    http_port: 0,
  });
  const service = await startService(t, { CONFIG_FILE: path });
  const token = await as.mintAccessToken({ sub: 'alice' });
  const [agentA, agentB] = await Promise.all([as.mintAccessToken({ sub: 'agent-a' }), as.mintAccessToken({ sub: 'agent-b' })]);
  await service.client.check({ headers: { authorization: `Bearer ${token}`, 'x-actor-token': agentA } });
  await service.client.check({ headers: { authorization: `Bearer ${token}`, 'x-actor-token': agentA } });
  await service.client.check({ headers: { authorization: `Bearer ${token}`, 'x-actor-token': agentB } });
  await service.client.check({ headers: { authorization: `Bearer ${token}` } });
  t.equal(as.exchanges.length, 3, 'same actor hits the cache; another actor, or none, is another exchange');
  t.same(
    as.exchanges.map((exchange) => [exchange.params.actor_token === undefined ? 'none' : exchange.params.actor_token === agentA ? 'a' : 'b', exchange.params.actor_token_type ?? 'none']),
    [['a', 'urn:ietf:params:oauth:token-type:access_token'], ['b', 'urn:ietf:params:oauth:token-type:access_token'], ['none', 'none']],
  );
  const twoActors = summarize(await service.client.check({ raw: true, headers: { authorization: `Bearer ${token}`, 'x-actor-token': [agentA, agentB] } }));
  t.same([twoActors.httpStatus, twoActors.grpcCode], [400, 3], 'two actor tokens are refused');
});
