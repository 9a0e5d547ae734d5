// envoy/http-service/envoy-http-authz.yaml is loaded into Envoy's OFFICIAL
// Bootstrap message (protos from @grpc/grpc-js-xds/deps) by the strict
// converter of test/deploy (unknown and deprecated fields, bad enums, oneof
// conflicts and a subset of the PGV rules fail), then what HTTP authorization
// mode relies on is checked on the decoded result. Every semantic check is also
// shown to reject a mutated copy.
import t from 'tap';
import { clusters, endpointsOf, EXT_AUTHZ_FILTER, httpListeners, isHttp2, loadBootstrap, routeFor, TYPES, WELL_KNOWN_PATHS } from '../deploy/fixtures/envoy.js';
import { durationNanos, ProtoConversionError, type Decoded } from '../deploy/fixtures/proto-json.js';
import { clone, numericDefault, parseYaml, readRepoFile, type Doc } from '../deploy/fixtures/repo.js';
import { HTTP_AUTHZ_LIMITS } from '../../src/http-authz/server.js';

const FILE = ['envoy', 'http-service', 'envoy-http-authz.yaml'] as const;
const source = readRepoFile(...FILE);
const yaml = parseYaml(source, FILE.join('/'));
/** The port the example gives AUTHZ_HTTP_PORT (the setting itself has no default: unset = off). */
const AUTHZ_HTTP_PORT = 9003;
const expected = { listenPort: 8080, grpcPort: await numericDefault('GRPC_PORT'), httpPort: await numericDefault('HTTP_PORT'), authzPort: AUTHZ_HTTP_PORT };

const hcmOf = (doc: Doc): Doc => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthzOf = (doc: Doc): Doc => hcmOf(doc).http_filters.find((f: Doc) => f.name === EXT_AUTHZ_FILTER).typed_config;
const clusterOf = (doc: Doc, name: string): Doc => doc.static_resources.clusters.find((c: Doc) => c.name === name);
const seconds = (duration: Decoded | undefined) => Number(durationNanos(duration?.seconds, duration?.nanos)) / 1e9;

/** Does a decoded ListStringMatcher match this (lower-case) header name? */
function matches(list: Decoded | undefined, name: string): boolean {
  return (list?.patterns ?? []).some((p: Decoded) => {
    const value: string = p.ignore_case ? name.toLowerCase() : name;
    const cased = (s: string | undefined) => (s !== undefined && p.ignore_case ? s.toLowerCase() : s);
    if (p.exact !== undefined) return value === cased(p.exact);
    if (p.prefix !== undefined) return value.startsWith(cased(p.prefix)!);
    if (p.suffix !== undefined) return value.endsWith(cased(p.suffix)!);
    if (p.contains !== undefined) return value.includes(cased(p.contains)!);
    if (p.safe_regex !== undefined) return new RegExp(`^(?:${p.safe_regex.regex})$`).test(name);
    return false;
  });
}

/** What the HTTP-mode deployment relies on, as problems ([] = fine). */
function problems(bootstrap: Decoded): string[] {
  const out: string[] = [];
  const listener = httpListeners(bootstrap).find((l) => l.port === expected.listenPort);
  if (!listener) return [`no HTTP listener on port ${expected.listenPort}`];
  const { hcm } = listener;
  const byName = clusters(bootstrap);

  const filters: Decoded[] = hcm.http_filters ?? [];
  const authzIndex = filters.findIndex((f) => f.name === EXT_AUTHZ_FILTER);
  if (authzIndex < 0) return ['no ext_authz filter'];
  if (filters.at(-1)?.name !== 'envoy.filters.http.router') out.push('the router is not the last filter');
  if (authzIndex > filters.findIndex((f) => f.name === 'envoy.filters.http.router')) out.push('ext_authz comes after the router');
  if (hcm.normalize_path?.value !== true) out.push('normalize_path is not true (path-prefix targets and the unchecked metadata prefix need normalised paths)');

  const authz = filters[authzIndex]!.typed_config;
  const service = authz.http_service;
  if (!service) return [...out, 'ext_authz does not use http_service'];
  if (authz.failure_mode_allow === true) out.push('failure_mode_allow is true (fail open forwards the original token)');
  if (authz.status_on_error?.code !== 'ServiceUnavailable') out.push('status_on_error is not ServiceUnavailable');
  if (authz.with_request_body !== undefined) out.push('with_request_body is set (the service never reads a body)');
  if (authz.validate_mutations !== true) out.push('validate_mutations is not true (Envoy would write an invalid header value from the answer)');
  if ((service.path_prefix ?? '') !== '') out.push(`path_prefix "${service.path_prefix}" would be seen by path-prefix target rules`);

  const uri = service.server_uri ?? {};
  if (uri.timeout === undefined) out.push('server_uri.timeout is unset');
  else if (seconds(uri.timeout) < 1) out.push('server_uri.timeout is below 1s (a cold exchange needs a round trip)');
  const cluster = byName.get(uri.cluster);
  if (!cluster) out.push(`cluster ${uri.cluster} is not defined`);
  else {
    if (isHttp2(cluster)) out.push(`cluster ${uri.cluster} speaks HTTP/2; the HTTP authorization listener is HTTP/1.1`);
    const ports = endpointsOf(cluster).map((e) => e.port);
    if (ports.length === 0 || ports.some((port) => port !== expected.authzPort)) out.push(`cluster ${uri.cluster} does not point at the HTTP authorization port ${expected.authzPort} (${ports.join(', ')})`);
    const idle = cluster.typed_extension_protocol_options?.[TYPES.httpProtocolOptions]?.common_http_protocol_options?.idle_timeout;
    if (idle === undefined || seconds(idle) * 1000 >= HTTP_AUTHZ_LIMITS.keepAliveTimeoutMs) out.push(`cluster ${uri.cluster}: idle_timeout must be set below the service's keep-alive (${HTTP_AUTHZ_LIMITS.keepAliveTimeoutMs} ms)`);
    const health = cluster.health_checks?.[0];
    const probePorts = (cluster.load_assignment?.endpoints ?? []).flatMap((g: Decoded) => (g.lb_endpoints ?? []).map((lb: Decoded) => lb.endpoint?.health_check_config?.port_value));
    if (health && (health.http_health_check?.path !== '/readyz' || probePorts.some((port: unknown) => port !== expected.httpPort))) {
      out.push(`cluster ${uri.cluster}: health checks must probe /readyz on the ops port ${expected.httpPort}`);
    }
  }

  const response = service.authorization_response ?? {};
  if (!matches(response.allowed_upstream_headers, 'authorization')) out.push('allowed_upstream_headers does not include authorization: the exchanged token would not replace the inbound one');
  for (const header of ['www-authenticate', 'content-type']) {
    if (!matches(response.allowed_client_headers, header) && response.allowed_client_headers !== undefined) out.push(`allowed_client_headers drops ${header}`);
  }
  if (response.allowed_client_headers === undefined) out.push('allowed_client_headers is unset (every response header reaches the client on a denial)');
  if (matches(response.allowed_client_headers_on_success, 'authorization')) out.push('allowed_client_headers_on_success sends the exchanged token to the client');
  if (matches(response.allowed_upstream_headers_to_append, 'authorization')) out.push('authorization is appended upstream, not overwritten (two tokens)');

  for (const path of WELL_KNOWN_PATHS) {
    const choice = routeFor(hcm, path);
    if (choice?.extAuthz?.disabled !== true) out.push(`${path}: ext_authz is not disabled`);
    const ports = endpointsOf(byName.get(choice?.cluster ?? '')).map((e) => e.port);
    if (ports.length === 0 || ports.some((port) => port !== expected.httpPort)) out.push(`${path}: not routed to the ops port ${expected.httpPort}`);
  }
  for (const path of ['/mcp', '/', '/billing/x', '/.well-known/oauth-protected-resourceX']) {
    const choice = routeFor(hcm, path);
    if (!choice) out.push(`${path}: no route`);
    else if (choice.extAuthz?.disabled === true) out.push(`${path}: ext_authz is disabled`);
    else if (!byName.has(choice.cluster ?? '')) out.push(`${path}: routed to undefined cluster ${choice.cluster}`);
  }
  if (bootstrap.admin?.address?.socket_address?.address !== '127.0.0.1') out.push('admin does not listen on loopback');
  return out;
}

function mutated(change: (doc: Doc) => void): Doc {
  const copy = clone(yaml);
  change(copy);
  return copy;
}

function conversionError(change: (doc: Doc) => void): string {
  try {
    loadBootstrap(mutated(change));
    return '';
  } catch (error) {
    if (error instanceof ProtoConversionError) return error.message;
    throw error;
  }
}

t.test('the file loads into the official envoy.config.bootstrap.v3.Bootstrap', async (t) => {
  const bootstrap = loadBootstrap(yaml);
  const authz = httpListeners(bootstrap)[0]!.hcm.http_filters[0].typed_config;
  t.equal(authz['@type'], `type.googleapis.com/${TYPES.extAuthz}`, 'ExtAuthz resolved from its Any');
  t.ok(authz.http_service.server_uri, 'http_service.server_uri decoded');
  t.match(source, /^\s*failure_mode_allow: false\s*$/m, 'failure_mode_allow: false is written explicitly');
});

t.test('the decoded config has the semantics HTTP authorization mode relies on', async (t) => {
  t.same(problems(loadBootstrap(yaml)), []);
});

t.test('field names come from the official ext_authz proto: misspelled, moved or deprecated ones fail', async (t) => {
  const cases: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['allowed_headers under authorization_request (deprecated)', (d) => (extAuthzOf(d).http_service.authorization_request = { allowed_headers: { patterns: [{ exact: 'authorization' }] } }), /AuthorizationRequest\.allowed_headers is deprecated/],
    ['allowed_upstream_headers misspelled', (d) => { const r = extAuthzOf(d).http_service.authorization_response; r.allowed_upstream_header = r.allowed_upstream_headers; delete r.allowed_upstream_headers; }, /AuthorizationResponse has no field "allowed_upstream_header"/],
    ['server_uri without a cluster (required oneof)', (d) => delete extAuthzOf(d).http_service.server_uri.cluster, /one of cluster is required|http_upstream_type/],
    ['server_uri without a timeout (required)', (d) => delete extAuthzOf(d).http_service.server_uri.timeout, /timeout/],
    ['both http_service and grpc_service', (d) => (extAuthzOf(d).grpc_service = { envoy_grpc: { cluster_name: 'x' } }), /oneof services|grpc_service and http_service|http_service and grpc_service/],
    ['a header matcher that is not a StringMatcher', (d) => (extAuthzOf(d).http_service.authorization_response.allowed_upstream_headers.patterns[0] = { exactly: 'authorization' }), /StringMatcher has no field "exactly"/],
    ['an empty pattern list (min_items 1)', (d) => (extAuthzOf(d).allowed_headers.patterns = []), /must have at least 1|min_items|at least 1 item/],
    ['status_on_error by number', (d) => (extAuthzOf(d).status_on_error = { code: 503 }), /StatusCode expects a value name/],
  ];
  for (const [name, change, pattern] of cases) t.match(conversionError(change), pattern, name);
});

t.test('the semantic checks reject a config that would misbehave', async (t) => {
  const problemsOf = (change: (doc: Doc) => void) => problems(loadBootstrap(mutated(change))).join('\n');
  const cases: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['fail-open', (d) => (extAuthzOf(d).failure_mode_allow = true), /failure_mode_allow is true/],
    ['status_on_error left at 403', (d) => delete extAuthzOf(d).status_on_error, /status_on_error/],
    ['no timeout below 1 s', (d) => (extAuthzOf(d).http_service.server_uri.timeout = '0.2s'), /below 1s/],
    ['gRPC instead of HTTP', (d) => { delete extAuthzOf(d).http_service; extAuthzOf(d).grpc_service = { envoy_grpc: { cluster_name: 'token_exchange_authz_http' } }; }, /does not use http_service/],
    ['mutations not validated', (d) => delete extAuthzOf(d).validate_mutations, /validate_mutations is not true/],
    ['body buffering', (d) => (extAuthzOf(d).with_request_body = { max_request_bytes: 8192 }), /with_request_body/],
    ['a path_prefix', (d) => (extAuthzOf(d).http_service.path_prefix = '/authz'), /path_prefix "\/authz"/],
    ['authorization not copied upstream', (d) => (extAuthzOf(d).http_service.authorization_response.allowed_upstream_headers.patterns = [{ exact: 'x-token' }]), /does not include authorization/],
    ['authorization appended instead', (d) => (extAuthzOf(d).http_service.authorization_response.allowed_upstream_headers_to_append = { patterns: [{ prefix: 'auth' }] }), /appended upstream/],
    ['the token sent to the client on success', (d) => (extAuthzOf(d).http_service.authorization_response.allowed_client_headers_on_success = { patterns: [{ exact: 'Authorization', ignore_case: true }] }), /to the client/],
    ['content-type dropped on denials', (d) => (extAuthzOf(d).http_service.authorization_response.allowed_client_headers.patterns = [{ exact: 'www-authenticate' }]), /drops content-type/],
    ['client headers unrestricted', (d) => delete extAuthzOf(d).http_service.authorization_response.allowed_client_headers, /allowed_client_headers is unset/],
    ['the authz cluster on the gRPC port', (d) => (clusterOf(d, 'token_exchange_authz_http').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 9001), /does not point at the HTTP authorization port/],
    ['the authz cluster speaking HTTP/2', (d) => (clusterOf(d, 'token_exchange_authz_http').typed_extension_protocol_options[TYPES.httpProtocolOptions].explicit_http_config = { http2_protocol_options: {} }), /speaks HTTP\/2/],
    ['an undefined authz cluster', (d) => (extAuthzOf(d).http_service.server_uri.cluster = 'nope'), /cluster nope is not defined/],
    ['idle connections kept longer than the service keeps them', (d) => (clusterOf(d, 'token_exchange_authz_http').typed_extension_protocol_options[TYPES.httpProtocolOptions].common_http_protocol_options.idle_timeout = '300s'), /idle_timeout must be set below/],
    ['health checks on the authorization port', (d) => delete clusterOf(d, 'token_exchange_authz_http').load_assignment.endpoints[0].lb_endpoints[0].endpoint.health_check_config, /health checks must probe/],
    ['metadata route checked', (d) => delete hcmOf(d).route_config.virtual_hosts[0].routes[0].typed_per_filter_config, /oauth-protected-resource: ext_authz is not disabled/],
    ['metadata route to the authorization port', (d) => (hcmOf(d).route_config.virtual_hosts[0].routes[0].route.cluster = 'token_exchange_authz_http'), /not routed to the ops port/],
    ['ext_authz disabled for everything', (d) => (hcmOf(d).route_config.virtual_hosts[0].routes[1].typed_per_filter_config = { [EXT_AUTHZ_FILTER]: { '@type': `type.googleapis.com/${TYPES.extAuthzPerRoute}`, disabled: true } }), /\/mcp: ext_authz is disabled/],
    ['router first', (d) => hcmOf(d).http_filters.reverse(), /router is not the last|after the router/],
    ['no path normalisation', (d) => delete hcmOf(d).normalize_path, /normalize_path/],
  ];
  for (const [name, change, pattern] of cases) t.match(problemsOf(change), pattern, name);
});
