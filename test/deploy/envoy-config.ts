// envoy/envoy.yaml is loaded into Envoy's OFFICIAL Bootstrap message (protos
// from @grpc/grpc-js-xds/deps) by a strict converter, and what the deployment
// relies on is checked on the decoded result. Each check is also shown to
// reject a mutated copy, so a green run means the checks can see mistakes.
import { readdirSync } from 'node:fs';
import t from 'tap';
import { loadBootstrap, envoyProblems, findProtoFile, envoyRoot, TYPES, BOOTSTRAP } from './fixtures/envoy.js';
import { ProtoConversionError, StrictConverter, structToJson } from './fixtures/proto-json.js';
import { clone, numericDefault, parseYaml, parseYamlDocuments, readRepoFile, repoPath, type Doc } from './fixtures/repo.js';

const source = readRepoFile('envoy', 'envoy.yaml');
const yaml = parseYaml(source, 'envoy/envoy.yaml');
const expected = { listenPort: 8080, grpcPort: await numericDefault('GRPC_PORT'), httpPort: await numericDefault('HTTP_PORT') };

// Paths into the raw YAML, for mutations.
const hcmOf = (doc: Doc): Doc => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthzOf = (doc: Doc): Doc => hcmOf(doc).http_filters.find((f: Doc) => f.name === 'envoy.filters.http.ext_authz').typed_config;
const routesOf = (doc: Doc): Doc[] => hcmOf(doc).route_config.virtual_hosts[0].routes;
const clusterOf = (doc: Doc, name: string): Doc => doc.static_resources.clusters.find((c: Doc) => c.name === name);

function mutated(change: (doc: Doc) => void): Doc {
  const copy = clone(yaml);
  change(copy);
  return copy;
}

function rename(object: Doc, from: string, to: string): void {
  if (!(from in object)) throw new Error(`test setup: no key ${from}`);
  object[to] = object[from];
  delete object[from];
}

/** The conversion error for a mutated copy ('' if it converted). */
function conversionError(change: (doc: Doc) => void): string {
  try {
    loadBootstrap(mutated(change));
    return '';
  } catch (error) {
    if (error instanceof ProtoConversionError) return error.message;
    throw error;
  }
}

t.test('every @type in envoy.yaml is found in the official protos', async (t) => {
  for (const name of Object.values(TYPES)) t.ok(findProtoFile(name), `${name} has a .proto file`);
  t.equal(findProtoFile('envoy.extensions.filters.http.ext_authz.v3.NoSuchMessage'), undefined, 'an unknown message has none');
});

t.test('envoy.yaml loads into the official envoy.config.bootstrap.v3.Bootstrap', async (t) => {
  const bootstrap = loadBootstrap(yaml);
  t.ok(bootstrap.static_resources.listeners.length > 0, 'listeners survive encode/decode');
  t.equal(bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config['@type'], `type.googleapis.com/${TYPES.hcm}`, 'Any is resolved and unpacked');
});

t.test('the decoded config has the semantics the deployment relies on', async (t) => {
  const bootstrap = loadBootstrap(yaml);
  t.same(envoyProblems(bootstrap, expected), []);

  // A few of them spelled out, on the decoded (= what Envoy receives) config:
  const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const authz = hcm.http_filters.find((f: Doc) => f.name === 'envoy.filters.http.ext_authz').typed_config;
  t.equal(authz.transport_api_version, 'V3');
  t.same(authz.grpc_service.timeout, { seconds: 2, nanos: 0 }, 'timeout 2s');
  t.equal(authz.failure_mode_allow ?? false, false, 'failure_mode_allow false');
  t.match(source, /^\s*failure_mode_allow: false\s*$/m, '… and written explicitly in the file');
  t.same(authz.status_on_error, { code: 'ServiceUnavailable' });
  t.equal(authz.with_request_body, undefined);
  t.equal(authz.validate_mutations, true, 'validate_mutations true: Envoy refuses an invalid header from the answer');
});

t.test('the strict converter rejects what Envoy would reject', async (t) => {
  const cases: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['a misspelled top-level field', (d) => rename(d, 'static_resources', 'static_resource'), /Bootstrap has no field "static_resource"/],
    ['a misspelled field inside a typed_config Any', (d) => rename(extAuthzOf(d), 'failure_mode_allow', 'failure_mode_alow'), /<envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz>\.failure_mode_alow: .*no field/],
    ['a misspelled field inside typed_per_filter_config', (d) => rename(routesOf(d)[0]!.typed_per_filter_config['envoy.filters.http.ext_authz'], 'disabled', 'disable'), /ExtAuthzPerRoute has no field "disable"/],
    ['a misspelled field inside typed_extension_protocol_options', (d) => rename(clusterOf(d, 'token_exchange_authz').typed_extension_protocol_options[TYPES.httpProtocolOptions], 'explicit_http_config', 'explicit_http'), /HttpProtocolOptions has no field "explicit_http"/],
    ['camelCase instead of the proto field name', (d) => rename(extAuthzOf(d), 'transport_api_version', 'transportApiVersion'), /no field "transportApiVersion" \(did you mean "transport_api_version"\?\)/],
    ['an unknown enum name', (d) => (extAuthzOf(d).transport_api_version = 'V4'), /"V4" is not a envoy\.config\.core\.v3\.ApiVersion value/],
    ['an enum given as a number', (d) => (extAuthzOf(d).transport_api_version = 2), /ApiVersion expects a value name/],
    ['a Duration without unit', (d) => (extAuthzOf(d).grpc_service.timeout = 2), /Duration expects a string like "2s"/],
    ['a Duration in milliseconds', (d) => (extAuthzOf(d).grpc_service.timeout = '2000ms'), /Duration expects a string/],
    ['a wrapper given as an object', (d) => (clusterOf(d, 'token_exchange_authz').circuit_breakers.thresholds[0].max_requests = { value: 10 }), /max_requests: uint32 expects an integer, got an object/],
    ['two members of one oneof', (d) => (routesOf(d)[1]!.match.prefix = '/mcp'), /path_separated_prefix and prefix are members of oneof path_specifier|prefix and path_separated_prefix/],
    ['an unknown @type', (d) => (extAuthzOf(d)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzz'), /unknown @type envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthzz/],
    ['an Any without @type', (d) => delete extAuthzOf(d)['@type'], /Any needs "@type"/],
    ['a list where a message is expected', (d) => (hcmOf(d).route_config = []), /route_config: expected envoy\.config\.route\.v3\.RouteConfiguration/],
    ['a scalar where a list is expected', (d) => (hcmOf(d).route_config.virtual_hosts[0].domains = '*'), /domains: repeated field expects a list/],
    ['a string where a number is expected', (d) => (d.admin.address.socket_address.port_value = '9901x'), /port_value: uint32 expects an integer/],
    ['null for a field', (d) => (extAuthzOf(d).grpc_service = null), /grpc_service: null is not a value/],
    ['a deprecated field', (d) => (d.admin.access_log_path = '/dev/stdout'), /Admin\.access_log_path is deprecated/],
    ['PGV: a required string left empty (stat_prefix min_len 1)', (d) => delete hcmOf(d).stat_prefix, /stat_prefix: must be at least 1 characters/],
    ['PGV: a required oneof left unset (route_specifier)', (d) => delete hcmOf(d).route_config, /one of rds, route_config, scoped_routes is required/],
    ['PGV: a duration that must be > 0 (connect_timeout)', (d) => (clusterOf(d, 'upstream').connect_timeout = '0s'), /connect_timeout: 0s is outside the allowed range/],
    ['PGV: bool const (ExtAuthzPerRoute.disabled must be true)', (d) => (routesOf(d)[0]!.typed_per_filter_config['envoy.filters.http.ext_authz'].disabled = false), /disabled: must be true/],
    ['PGV: string pattern (path_separated_prefix ending in /)', (d) => (routesOf(d)[1]!.match.path_separated_prefix = '/mcp/'), /does not match/],
  ];
  for (const [name, change, pattern] of cases) t.match(conversionError(change), pattern, name);
});

t.test('the converter handles maps, repeated fields, wrappers, Struct and well-known types inside Any', async (t) => {
  const root = envoyRoot([TYPES.extAuthz]);
  const converter = new StrictConverter(root);
  const roundTrip = (value: Doc): Doc => converter.decode(BOOTSTRAP, converter.encode(BOOTSTRAP, value));

  const metadata = { team: 'mcp', replicas: 2, tags: ['a', 'b'], nested: { on: true, none: null } };
  const decoded = roundTrip({
    node: { id: 'n', metadata },
    stats_flush_interval: '0.25s',
    bootstrap_extensions: [{ name: 'wkt', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Struct', value: { a: 1 } } }],
    static_resources: {
      clusters: [{ name: 'c', connect_timeout: '1.5s', per_connection_buffer_limit_bytes: 32768, metadata: { filter_metadata: { 'x.y': { k: 'v' } } } }],
    },
  });
  t.strictSame(structToJson(decoded.node.metadata), metadata, 'Struct: numbers, strings, lists, nested objects, booleans and null survive');
  t.same(decoded.stats_flush_interval, { seconds: 0, nanos: 250_000_000 }, 'Duration "0.25s"');
  t.same(decoded.static_resources.clusters[0].connect_timeout, { seconds: 1, nanos: 500_000_000 }, 'Duration "1.5s"');
  t.same(decoded.static_resources.clusters[0].per_connection_buffer_limit_bytes, { value: 32768 }, 'UInt32Value from a plain number');
  t.same(structToJson(decoded.static_resources.clusters[0].metadata.filter_metadata['x.y']), { k: 'v' }, 'map<string, Struct>');
  const extension = decoded.bootstrap_extensions[0].typed_config;
  t.equal(extension['@type'], 'type.googleapis.com/google.protobuf.Struct', 'a well-known type inside Any');
  t.same(structToJson(extension), { a: 1 }, '… given as { "@type", "value": <JSON> }');

  t.throws(() => roundTrip({ static_resources: { clusters: { name: 'c' } } }), /clusters: repeated field expects a list/);
  t.throws(() => roundTrip({ static_resources: { clusters: [{ name: 'c', typed_extension_protocol_options: [] }] } }), /map field expects an object/);
  t.throws(() => roundTrip({ static_resources: { clusters: [{ name: 'c', per_connection_buffer_limit_bytes: -1 }] } }), /outside the uint32 range/);
  t.throws(() => roundTrip({ stats_flush_interval: '1m' }), /Duration expects/);
});

t.test('the semantic checks reject a config that would misbehave', async (t) => {
  const problemsOf = (change: (doc: Doc) => void): string[] => envoyProblems(loadBootstrap(mutated(change)), expected);
  const cases: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['fail-open', (d) => (extAuthzOf(d).failure_mode_allow = true), /failure_mode_allow is true/],
    ['mutations not validated', (d) => delete extAuthzOf(d).validate_mutations, /validate_mutations is not true/],
    ['mutations validation off', (d) => (extAuthzOf(d).validate_mutations = false), /validate_mutations is not true/],
    ['no explicit timeout (Envoy default 200 ms)', (d) => delete extAuthzOf(d).grpc_service.timeout, /timeout is unset/],
    ['a timeout below 1s', (d) => (extAuthzOf(d).grpc_service.timeout = '0.2s'), /timeout is below 1s/],
    ['transport API left at AUTO', (d) => delete extAuthzOf(d).transport_api_version, /transport_api_version is AUTO/],
    ['transport API V2', (d) => (extAuthzOf(d).transport_api_version = 'V2'), /transport_api_version is V2/],
    ['request body buffering', (d) => (extAuthzOf(d).with_request_body = { max_request_bytes: 8192 }), /with_request_body is set/],
    ['ext_authz cluster not HTTP/2', (d) => (clusterOf(d, 'token_exchange_authz').typed_extension_protocol_options[TYPES.httpProtocolOptions].explicit_http_config = { http_protocol_options: {} }), /is not HTTP\/2/],
    ['ext_authz cluster misnamed', (d) => (extAuthzOf(d).grpc_service.envoy_grpc.cluster_name = 'token_exchange_auth'), /cluster token_exchange_auth is not defined/],
    ['ext_authz cluster on the HTTP port', (d) => (clusterOf(d, 'token_exchange_authz').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 9002), /does not point at the gRPC port/],
    ['circuit breakers left at the defaults', (d) => delete clusterOf(d, 'token_exchange_authz').circuit_breakers, /max_requests at Envoy's default/],
    ['router before ext_authz', (d) => hcmOf(d).http_filters.reverse(), /router is not the last|after the router/],
    ['RFC 9728 route with ext_authz enabled', (d) => delete routesOf(d)[0]!.typed_per_filter_config, /oauth-protected-resource: ext_authz is not disabled/],
    ['RFC 9728 route to the gRPC port', (d) => (routesOf(d)[0]!.route.cluster = 'token_exchange_authz'), /not to the service's HTTP port|gRPC ext_authz cluster/],
    ['ext_authz disabled on /mcp', (d) => (routesOf(d)[1]!.typed_per_filter_config['envoy.filters.http.ext_authz'] = { '@type': `type.googleapis.com/${TYPES.extAuthzPerRoute}`, disabled: true }), /\/mcp: ext_authz is disabled/],
    ['a plain prefix for the RFC 9728 route only', (d) => (routesOf(d)[0]!.match = { prefix: '/.well-known/' }), /openid-configuration: ext_authz is disabled/],
    ['no context_extensions target', (d) => delete routesOf(d)[2]!.typed_per_filter_config, /\/other: the route sets no context_extensions\.target/],
    ['a route to an undefined cluster', (d) => (routesOf(d)[2]!.route.cluster = 'upstreams'), /undefined cluster upstreams/],
    ['no path normalisation', (d) => delete hcmOf(d).normalize_path, /normalize_path is not true/],
    ['admin on all interfaces', (d) => (d.admin.address.socket_address.address = '0.0.0.0'), /admin listens on 0\.0\.0\.0/],
    ['listener on another port', (d) => (d.static_resources.listeners[0].address.socket_address.port_value = 10000), /no HTTP listener on port 8080/],
  ];
  for (const [name, change, pattern] of cases) {
    const problems = problemsOf(change);
    t.match(problems.join('\n'), pattern, name);
  }
});

t.test('every Envoy config shipped under envoy/ validates ext_authz mutations', async (t) => {
  const filtersIn = (value: unknown, into: Doc[] = []): Doc[] => {
    if (Array.isArray(value)) for (const item of value) filtersIn(item, into);
    else if (value && typeof value === 'object') {
      if ((value as Doc)['@type'] === `type.googleapis.com/${TYPES.extAuthz}`) into.push(value as Doc);
      for (const item of Object.values(value)) filtersIn(item, into);
    }
    return into;
  };
  const files = (readdirSync(repoPath('envoy'), { recursive: true }) as string[]).filter((name) => /\.ya?ml$/.test(name));
  const checked: string[] = [];
  for (const file of files) {
    for (const doc of parseYamlDocuments(readRepoFile('envoy', file), `envoy/${file}`)) {
      if (!doc.static_resources) continue;
      const filters = filtersIn(loadBootstrap(doc));
      for (const filter of filters) t.equal(filter.validate_mutations, true, `envoy/${file}: validate_mutations is true`);
      if (filters.length > 0) checked.push(file);
    }
  }
  t.same(checked.sort(), ['envoy.yaml', 'http-service/envoy-http-authz.yaml'], 'both shipped ext_authz configs were found and checked');
  t.same(filtersIn({ a: [{ '@type': `type.googleapis.com/${TYPES.extAuthz}` }] }).length, 1, 'negative: the walk finds a nested filter');
});
