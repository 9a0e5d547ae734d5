// docker-compose.yml is consistent with envoy/envoy.yaml, the Keycloak realm
// export, the Dockerfile and the service's own configuration loader. Each
// cross-check is also shown to reject a broken copy.
import t from 'tap';
import { cacheKeyProblems, composeProblems, secretFiles, environmentOf, SERVICE, KEYCLOAK, ENVOY, type Realm } from './fixtures/compose.js';
import { loadBootstrap } from './fixtures/envoy.js';
import { acceptedEnvNames, clone, loadServiceConfig, parseYaml, readRepoFile, SHARED_CACHE_SETTINGS, type Doc } from './fixtures/repo.js';

const compose = parseYaml(readRepoFile('docker-compose.yml'), 'docker-compose.yml');
const realm = JSON.parse(readRepoFile('deploy', 'keycloak', 'realm-mesh.json')) as Realm;
const envoy = loadBootstrap(parseYaml(readRepoFile('envoy', 'envoy.yaml'), 'envoy/envoy.yaml'));
const acceptedEnv = new Set([...(await acceptedEnvNames()), ...SHARED_CACHE_SETTINGS]);
const secretPaths = Object.values<Doc>(compose.secrets ?? {}).map((s) => String(s.file).replace(/^\.\//, ''));
const files = Object.fromEntries(secretPaths.map((path) => [path, readRepoFile(path)]));

const serviceEnv = (doc: Doc): Doc => doc.services[SERVICE].environment;
const client = (r: Realm, id: string): Doc => r.clients.find((c: Doc) => c.clientId === id);

function problemsWith(change: { compose?: (doc: Doc) => void; realm?: (r: Realm) => void; files?: (f: Record<string, string>) => void }): string {
  const c = clone(compose);
  const r = clone(realm);
  const f = { ...files };
  change.compose?.(c);
  change.realm?.(r);
  change.files?.(f);
  return composeProblems({ compose: c, envoy, realm: r, files: f, acceptedEnv }).join('\n');
}

t.test('compose, Envoy, the realm and the service settings agree', async (t) => {
  t.same(composeProblems({ compose, envoy, realm, files, acceptedEnv }), []);
  t.ok(compose.services[ENVOY] && compose.services[SERVICE] && compose.services[KEYCLOAK] && compose.services.echo, 'the four services are there');
  t.ok(compose.services.redis, '… and Redis, the shared cache');
  t.equal(compose.services[SERVICE].deploy.replicas, 2, 'two service replicas');
  t.same(Object.values<Doc>(compose.services).flatMap((s) => s.ports ?? []), ['127.0.0.1:8080:8080', '127.0.0.1:8180:8080'], 'only Envoy and Keycloak are published, on 127.0.0.1');
  const grpc = envoy.static_resources.clusters.find((c: Doc) => c.name === 'token_exchange_authz');
  t.same([grpc.type, grpc.lb_policy ?? 'ROUND_ROBIN'], ['STRICT_DNS', 'ROUND_ROBIN'], 'Envoy resolves every replica and alternates between them');
  t.same(environmentOf(compose.services[SERVICE]).REDIS_URL, 'redis://redis:6379', 'REDIS_URL names the Redis service');
  t.same(cacheKeyProblems(files['deploy/compose/cache-keys']!), [], 'the demo cache key file is well formed and marked DEMO');
  t.ok(secretPaths.length > 0, 'the client secret comes from a file, as CLIENT_SECRET_FILE');
});

t.test("the service's own loadConfig accepts its compose environment", async (t) => {
  const env = environmentOf(compose.services[SERVICE]);
  const { config, problems } = await loadServiceConfig(env, secretFiles(compose, files));
  t.same(problems, [], 'no configuration error (the service would exit 78)');
  t.ok(config, 'a config is built');
  t.equal(config?.issuer ?? config?.issuers?.[0]?.issuer, 'http://localhost:8180/realms/mesh', 'the issuer tokens carry');

  // Every context_extensions target Envoy sends must name a configured target (an unknown one is denied).
  const targets: Doc[] | undefined = config?.targets;
  if (Array.isArray(targets)) {
    const names = targets.map((target) => target.name);
    const hcm = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    for (const route of hcm.route_config.virtual_hosts[0].routes) {
      const target = route.typed_per_filter_config?.['envoy.filters.http.ext_authz']?.check_settings?.context_extensions?.target;
      if (target !== undefined) t.ok(names.includes(target), `Envoy's target "${target}" is one of the service's targets (${names.join(', ')})`);
    }
  }

  // Negative: the same loader refuses a broken copy.
  const { problems: broken } = await loadServiceConfig({ ...env, ALLOW_INSECURE_HTTP: 'false' }, secretFiles(compose, files));
  t.match(broken.join('\n'), /JWKS_URI: http:\/\/ is allowed only for loopback/, 'plain http to keycloak:8080 needs ALLOW_INSECURE_HTTP');
  const { problems: noSecret } = await loadServiceConfig(env, {});
  t.match(noSecret.join('\n'), /CLIENT_SECRET_FILE: cannot read/, 'a missing secret file is reported');
});

t.test('the cross-checks reject an inconsistent copy', async (t) => {
  const cases: Array<[string, Parameters<typeof problemsWith>[0], RegExp]> = [
    ['requester client id differs from the realm', { compose: (c) => (serviceEnv(c).CLIENT_ID = 'mcp-gateway2') }, /no client mcp-gateway2/],
    ['token exchange not enabled on the requester', { realm: (r) => delete client(r, 'mcp-gateway').attributes['standard.token.exchange.enabled'] }, /standard\.token\.exchange\.enabled/],
    ['requester is a public client', { realm: (r) => (client(r, 'mcp-gateway').publicClient = true) }, /not an enabled confidential client/],
    ['secret file and realm secret differ', { files: (f) => (f[Object.keys(f)[0]!] = 'other\n') }, /secret differs/],
    ['exchange audience is not a client', { compose: (c) => (serviceEnv(c).EXCHANGE_AUDIENCE = 'orders-api') }, /EXCHANGE_AUDIENCE orders-api is not a client/],
    ['requester cannot obtain the audience', { realm: (r) => (client(r, 'mcp-gateway').protocolMappers = []) }, /Requested audience not available/],
    ['user tokens lack the requester in aud', { realm: (r) => (client(r, 'mcp-client').protocolMappers = client(r, 'mcp-client').protocolMappers.filter((m: Doc) => !m.config['included.client.audience'])) }, /do not carry mcp-gateway in aud/],
    ['user tokens lack the MCP resource in aud', { compose: (c) => (serviceEnv(c).MCP_RESOURCE_URL = 'http://localhost:8080/mcp/v2') }, /do not carry MCP_RESOURCE_URL/],
    ['no password grant for the walkthrough', { realm: (r) => (client(r, 'mcp-client').directAccessGrantsEnabled = false) }, /no public client with direct access grants/],
    ['demo user without profile fields', { realm: (r) => delete r.users[0].email }, /Account is not fully set up/],
    ['issuer does not match KC_HOSTNAME + realm', { compose: (c) => (serviceEnv(c).AUTHORIZATION_SERVER_URL = 'http://keycloak:8080/realms/mesh') }, /is not Keycloak's issuer http:\/\/localhost:8180\/realms\/mesh/],
    ['realm renamed', { realm: (r) => (r.realm = 'other') }, /is not Keycloak's issuer .*realms\/other/],
    ['KC_HOSTNAME on a port that is not published', { compose: (c) => (c.services.keycloak.environment.KC_HOSTNAME = 'http://localhost:8181') }, /KC_HOSTNAME http:\/\/localhost:8181 is not the published port/],
    ['no dynamic back channel', { compose: (c) => delete c.services.keycloak.environment.KC_HOSTNAME_BACKCHANNEL_DYNAMIC }, /KC_HOSTNAME_BACKCHANNEL_DYNAMIC/],
    ['JWKS_URI on the wrong realm', { compose: (c) => (serviceEnv(c).JWKS_URI = 'http://keycloak:8080/realms/master/protocol/openid-connect/certs') }, /JWKS_URI .* is not http:\/\/keycloak:8080\/realms\/mesh/],
    ['discovery against localhost inside the network', { compose: (c) => delete serviceEnv(c).TOKEN_EXCHANGE_ENDPOINT_URL }, /must both be set/],
    ['a misspelled environment variable', { compose: (c) => (serviceEnv(c).EXCHANGE_AUDEINCE = 'upstream-api') }, /EXCHANGE_AUDEINCE is not a setting/],
    ['an interpolated value', { compose: (c) => (serviceEnv(c).LOG_LEVEL = '${LOG_LEVEL:-info}') }, /LOG_LEVEL uses compose interpolation/],
    ['GRPC_PORT differs from the Envoy cluster', { compose: (c) => (serviceEnv(c).GRPC_PORT = '9003') }, /GRPC_PORT 9003 is not the port Envoy's ext_authz cluster calls/],
    ['HTTP_PORT differs from the Envoy cluster', { compose: (c) => (serviceEnv(c).HTTP_PORT = '9004') }, /HTTP_PORT 9004 is not where Envoy sends/],
    ['a port Envoy calls is not exposed', { compose: (c) => (c.services[SERVICE].expose = ['9002']) }, /port 9001 is not exposed|does not expose 9001/],
    ['Envoy cluster address is not a service', { compose: (c) => (c.services.upstream = c.services.echo, delete c.services.echo) }, /echo is not a compose service/],
    ['service timeout not below Envoy timeout', { compose: (c) => (serviceEnv(c).AUTHORIZATION_SERVER_TIMEOUT_MS = '2000') }, /not below Envoy's ext_authz timeout/],
    ['MCP_RESOURCE_URL not on the published Envoy port', { compose: (c) => (c.services.envoy.ports = ['8081:8080']) }, /is not Envoy's published address/],
    ['an unpinned image', { compose: (c) => (c.services.echo.image = 'mendhak/http-https-echo:latest') }, /echo: image .* is not pinned/],
    ['Envoy image not an official release tag', { compose: (c) => (c.services.envoy.image = 'envoyproxy/envoy:dev') }, /not an official envoyproxy\/envoy:vX\.Y\.Z/],
    ['Keycloak before 26.2', { compose: (c) => (c.services.keycloak.image = 'quay.io/keycloak/keycloak:26.1.4') }, /predates standard token exchange v2/],
    ['realm not imported', { compose: (c) => (c.services.keycloak.command = ['start-dev']) }, /--import-realm/],
    ['Envoy does not wait for a healthy service', { compose: (c) => (c.services.envoy.depends_on[SERVICE].condition = 'service_started') }, /envoy: depends_on token-exchange-authz/],
    ['Keycloak without a healthcheck', { compose: (c) => delete c.services.keycloak.healthcheck }, /keycloak: no healthcheck/],
    ['health endpoints not enabled', { compose: (c) => delete c.services.keycloak.environment.KC_HEALTH_ENABLED }, /KC_HEALTH_ENABLED/],
    ['Envoy published on every interface', { compose: (c) => (c.services.envoy.ports = ['8080:8080']) }, /envoy: published port "8080:8080" does not bind 127\.0\.0\.1/],
    ['Keycloak published on every interface (long syntax)', { compose: (c) => (c.services.keycloak.ports = [{ target: 8080, published: 8180 }]) }, /keycloak: published port .* does not bind 127\.0\.0\.1/],
    ['Redis published', { compose: (c) => (c.services.redis.ports = ['127.0.0.1:6379:6379']) }, /redis: publishes a port/],
    ['one replica', { compose: (c) => delete c.services[SERVICE].deploy }, /deploy\.replicas undefined is not at least 2/],
    ['a fixed container name', { compose: (c) => (c.services[SERVICE].container_name = 'authz') }, /container_name forbids a second replica/],
    ['REDIS_URL to a host outside compose', { compose: (c) => (serviceEnv(c).REDIS_URL = 'redis://cache.example.com:6379') }, /REDIS_URL .* is not redis:\/\/ to a compose service/],
    ['REDIS_URL on a port Redis does not expose', { compose: (c) => (serviceEnv(c).REDIS_URL = 'redis://redis:6380') }, /redis: does not expose 6380/],
    ['Redis persisting', { compose: (c) => (c.services.redis.command = ['redis-server']) }, /redis: persists data/],
    ['start-up waiting on Redis health', { compose: (c) => (c.services[SERVICE].depends_on.redis.condition = 'service_healthy') }, /Redis is a cache, never a start-up condition/],
    ['cache keys not a secret file', { compose: (c) => (serviceEnv(c).CACHE_KEYS_FILE = '/etc/cache-keys') }, /CACHE_KEYS_FILE \/etc\/cache-keys is not a compose secret/],
    ['a 16-byte cache key', { files: (f) => (f['deploy/compose/cache-keys'] = `DEMO-ONLY-not-secret:${Buffer.alloc(16).toString('base64')}\n`) }, /line 1 is not kid:base64\(32 bytes\)/],
    ['a cache key not marked as demo', { files: (f) => (f['deploy/compose/cache-keys'] = `k1:${Buffer.alloc(32).toString('base64')}\n`) }, /not marked DEMO/],
    ['envoy.yaml not mounted', { compose: (c) => (c.services.envoy.volumes = ['./envoy/front.yaml:/etc/envoy/envoy.yaml:ro']) }, /is not mounted at \/etc\/envoy\/envoy\.yaml/],
  ];
  for (const [name, change, pattern] of cases) t.match(problemsWith(change), pattern, name);
});

t.test('docs/deploy.md names the versions compose pins', async (t) => {
  const docs = readRepoFile('docs', 'deploy.md');
  for (const name of [ENVOY, KEYCLOAK, 'echo', 'redis']) {
    const image: string = compose.services[name].image;
    t.ok(docs.includes(image), `docs/deploy.md mentions ${image}`);
  }
});
