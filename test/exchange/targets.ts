/**
 * Target selection, in SPEC §2 order: the route's context_extensions (an
 * unknown name is denied, never routed elsewhere), the host, the longest path
 * prefix, the destination principal (Istio), then the default; else 403.
 */
import t from 'tap';
import type { ClientConfig, TargetConfig, TargetMatch } from '../../src/config/model.js';
import { TargetSelector } from '../../src/exchange/targets.js';
import type { CheckRequest } from '../../src/request/check-request.js';
import { targetConfig } from '../fixtures/target.js';

const client: ClientConfig = { id: 'gw', authMethod: 'client_secret_basic', secret: 's', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const entry = (name: string, match: Partial<TargetMatch> = {}) => ({
  target: targetConfig({ name, client, match: { context: [name], hosts: [], pathPrefixes: [], destinationPrincipals: [], ...match } }),
});

const orders = entry('orders', { context: ['orders', 'orders-v2'], hosts: ['orders.internal'] });
const api = entry('api', { pathPrefixes: ['/api'] });
const apiAdmin = entry('api-admin', { pathPrefixes: ['/api/admin'] });
const mesh = entry('mesh', { destinationPrincipals: ['spiffe://cluster.local/ns/shop/sa/billing'] });
const fallback = entry('fallback');
const ALL = [orders, api, apiAdmin, mesh, fallback];

const selector = (defaultTarget: string | undefined, targets = ALL, targetContextKey = 'target') => new TargetSelector(targets, { targetContextKey, defaultTarget });
const http = (fields: { host?: string; path?: string }): CheckRequest => ({ attributes: { request: { http: fields } } });
const nameOf = (picked: { target: TargetConfig }) => picked.target.name;

t.test('context_extensions name the target, before any other rule', async (t) => {
  const pick = selector('fallback');
  t.equal(nameOf(pick.select({ attributes: { context_extensions: { target: 'orders-v2' } } })), 'orders', 'any of its context values');
  t.equal(nameOf(pick.select({ attributes: { context_extensions: { target: 'api' }, request: { http: { host: 'orders.internal' } } } })), 'api', 'the route wins over the host');
  t.equal(nameOf(selector(undefined, ALL, 'route').select({ attributes: { context_extensions: { route: 'mesh', target: 'orders' } } })), 'mesh', 'under TARGET_CONTEXT_KEY');
  t.equal(nameOf(pick.select({ attributes: { context_extensions: { other: 'orders' } } })), 'fallback', 'another key is not a route name');
});

t.test('a route naming an unknown target is denied, even with a default', async (t) => {
  t.throws(() => selector('fallback').select({ attributes: { context_extensions: { target: 'nope' } } }), { code: 'no_target', message: 'the route names target "nope", which is not configured' });
});

t.test('the host, lower-cased and without its port', async (t) => {
  const pick = selector(undefined);
  for (const host of ['orders.internal', 'ORDERS.Internal', 'orders.internal:8443']) t.equal(nameOf(pick.select(http({ host, path: '/api/x' }))), 'orders', `${host}, before the path`);
  t.equal(nameOf(pick.select(http({ host: 'other.internal', path: '/api' }))), 'api', 'an unknown host goes on to the path');
});

t.test('the longest matching path prefix, the query left out', async (t) => {
  const pick = selector('fallback');
  t.equal(nameOf(pick.select(http({ path: '/api/admin/users' }))), 'api-admin');
  t.equal(nameOf(selector('fallback', [apiAdmin, api].reverse()).select(http({ path: '/api/admin' }))), 'api-admin', 'whatever the configured order');
  t.equal(nameOf(pick.select(http({ path: '/api/orders' }))), 'api');
  t.equal(nameOf(pick.select(http({ path: '/apix' }))), 'api', 'a prefix is a string prefix (configure "/api/" to stop at the segment)');
  t.equal(nameOf(pick.select(http({ path: '/other?next=/api/admin' }))), 'fallback', 'the query is not the path');
  t.equal(nameOf(selector('fallback', [orders, fallback]).select(http({ path: '/api' }))), 'fallback', 'no prefixes configured');
});

t.test('the destination principal (Istio), after host and path', async (t) => {
  const pick = selector('fallback');
  const principal = 'spiffe://cluster.local/ns/shop/sa/billing';
  t.equal(nameOf(pick.select({ attributes: { destination: { principal } } })), 'mesh');
  t.equal(nameOf(pick.select({ attributes: { destination: { principal }, request: { http: { path: '/api' } } } })), 'api');
  t.equal(nameOf(pick.select({ attributes: { destination: { principal: '' } } })), 'fallback', 'an empty principal matches nothing');
  t.equal(nameOf(pick.select({ attributes: { destination: { principal: 'spiffe://cluster.local/ns/shop/sa/other' } } })), 'fallback');
});

t.test('no rule matches: the default target, or no_target (403)', async (t) => {
  t.equal(nameOf(selector('fallback').select({})), 'fallback', 'a request without attributes');
  t.equal(nameOf(selector('orders').select(http({ host: 'x', path: '/x' }))), 'orders');
  const none = { code: 'no_target', message: 'no exchange target matches this request' };
  t.throws(() => selector(undefined).select(http({ host: 'x', path: '/x' })), none);
  t.throws(() => selector('not-configured').select({}), none, 'a default that names no target is no default');
  t.throws(() => selector(undefined, []).select({ attributes: null as never }), none);
});
