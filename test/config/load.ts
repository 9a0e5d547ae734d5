import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const BASE = {
  MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
  AUTHORIZATION_SERVER_URL: 'https://as.example.com',
  CLIENT_ID: 'gateway',
  CLIENT_SECRET: 's3cret',
};

/** Problems loadConfig reports for an environment, or [] when it loads. */
function problems(env: Record<string, string | undefined>, files: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig(env, (path) => {
      if (path in files) return files[path]!;
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

t.test('the minimal environment loads with the documented defaults', async (t) => {
  const config = loadConfig(BASE);
  const [issuer] = config.issuers;
  const [target] = config.targets;
  t.equal(config.issuers.length, 1);
  t.equal(issuer?.issuer, 'https://as.example.com');
  t.same(issuer?.audiences, ['https://mcp.example.com/mcp'], 'MCP_RESOURCE_URL is the accepted audience');
  t.same(issuer?.algorithms, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
  t.equal(issuer?.tokenTypes, undefined, 'typ is not checked by default');
  t.equal(issuer?.introspection, undefined);
  t.equal(config.targets.length, 1);
  t.equal(target?.name, 'default');
  t.equal(config.defaultTarget, 'default');
  t.equal(target?.client.id, 'gateway');
  t.equal(target?.client.secret, 's3cret');
  t.equal(target?.client.authMethod, 'client_secret_basic');
  t.equal(target?.profile, 'rfc8693');
  t.equal(target?.subjectTokenType, 'urn:ietf:params:oauth:token-type:access_token');
  t.equal(target?.requestedTokenType, undefined);
  t.same(target?.header, { name: 'authorization', prefix: 'Bearer ', remove: [] });
  t.same(target?.actor, { source: 'none', header: undefined, token: undefined, tokenType: 'urn:ietf:params:oauth:token-type:access_token' });
  t.equal(config.validation.clockToleranceSeconds, 30);
  t.equal(config.validation.maxTokenBytes, 16384);
  t.same(config.cache, { ttlSeconds: 300, max: 10000, introspectionMaxSeconds: 60, introspectionInactiveSeconds: 5 });
  t.equal(config.authorizationServer.timeoutMs, 5000);
  t.same(config.listen, { address: '0.0.0.0', grpcPort: 9001, httpPort: 9002 });
  t.equal(config.logLevel, 'info');
  t.equal(config.heapGrowingPercent, 10, 'the heap grows at least 10 % past the live data…');
  t.equal(config.settings.heapLimitFloorMb, 48, '…and to 48 MB whatever is live');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.targets[0]?.client), 'frozen');
});

t.test('EXCHANGE_CLIENT_* win over CLIENT_*', async (t) => {
  const config = loadConfig({ ...BASE, EXCHANGE_CLIENT_ID: 'exchanger', EXCHANGE_CLIENT_SECRET: 'other' });
  t.same([config.targets[0]?.client.id, config.targets[0]?.client.secret], ['exchanger', 'other']);
});

t.test('secrets from _FILE, one trailing newline stripped', async (t) => {
  const config = loadConfig({ ...BASE, CLIENT_SECRET: undefined, CLIENT_SECRET_FILE: '/run/secret' }, () => 'from-file\n');
  t.equal(config.targets[0]?.client.secret, 'from-file');
  const twoNewlines = loadConfig({ ...BASE, CLIENT_SECRET: undefined, CLIENT_SECRET_FILE: '/run/secret' }, () => 'line\n\n');
  t.equal(twoNewlines.targets[0]?.client.secret, 'line\n', 'only one newline is stripped');
});

const INVALID: Array<[string, Record<string, string | undefined>, RegExp[]]> = [
  ['nothing set', { MCP_RESOURCE_URL: undefined, AUTHORIZATION_SERVER_URL: undefined, CLIENT_ID: undefined, CLIENT_SECRET: undefined }, [/^MCP_RESOURCE_URL: is required$/, /^AUTHORIZATION_SERVER_URL: is required$/, /^EXCHANGE_CLIENT_ID \(or CLIENT_ID\): is required$/, /^EXCHANGE_CLIENT_SECRET \(or CLIENT_SECRET\): is required for client_secret_basic$/]],
  ['resource not a URL', { MCP_RESOURCE_URL: 'mcp' }, [/^MCP_RESOURCE_URL: "mcp" is not an absolute URL$/]],
  ['resource with a fragment', { MCP_RESOURCE_URL: 'https://x.example/mcp#a' }, [/^MCP_RESOURCE_URL: .*fragment/]],
  ['issuer over http, not loopback', { AUTHORIZATION_SERVER_URL: 'http://as.example.com' }, [/^AUTHORIZATION_SERVER_URL: http:\/\/ is allowed only for loopback/]],
  ['token endpoint over http', { TOKEN_EXCHANGE_ENDPOINT_URL: 'http://as.example.com/token' }, [/^TOKEN_EXCHANGE_ENDPOINT_URL: http:\/\//]],
  ['JWKS over ftp', { JWKS_URI: 'ftp://as.example.com/jwks' }, [/^JWKS_URI: .*https/]],
  ['symmetric algorithm', { ALLOWED_ALGORITHMS: 'RS256 HS256' }, [/^ALLOWED_ALGORITHMS: "HS256" is not accepted/]],
  ['alg none', { ALLOWED_ALGORITHMS: 'none' }, [/^ALLOWED_ALGORITHMS: "none" is not accepted/]],
  ['unknown algorithm', { ALLOWED_ALGORITHMS: 'RS257' }, [/^ALLOWED_ALGORITHMS: "RS257" is not a supported algorithm/]],
  ['port out of range', { GRPC_PORT: '70000' }, [/^GRPC_PORT: 70000 is outside 0..65535$/]],
  ['port not a number', { HTTP_PORT: 'nine' }, [/^HTTP_PORT: "nine" is not a whole number$/]],
  ['negative tolerance', { CLOCK_TOLERANCE: '-1' }, [/^CLOCK_TOLERANCE: "-1" is not a whole number$/]],
  ['zero cache size', { EXCHANGE_CACHE_MAX: '0' }, [/^EXCHANGE_CACHE_MAX: 0 is outside/]],
  ['bad boolean', { ALLOW_INSECURE_HTTP: 'yes' }, [/^ALLOW_INSECURE_HTTP: "yes" must be true or false$/]],
  ['bad log level', { LOG_LEVEL: 'verbose' }, [/^LOG_LEVEL: "verbose" must be one of fatal, error, warn, info, debug, trace$/]],
  ['bad auth method', { EXCHANGE_CLIENT_AUTH_METHOD: 'basic' }, [/^EXCHANGE_CLIENT_AUTH_METHOD: "basic" must be one of/]],
  ['private_key_jwt without a key', { EXCHANGE_CLIENT_AUTH_METHOD: 'private_key_jwt' }, [/^EXCHANGE_CLIENT_PRIVATE_KEY_FILE \(or CLIENT_PRIVATE_KEY_FILE\): is required for private_key_jwt$/]],
  ['tls_client_auth without a certificate', { EXCHANGE_CLIENT_AUTH_METHOD: 'tls_client_auth' }, [/^EXCHANGE_CLIENT_CERT_FILE \(or CLIENT_CERT_FILE\): is required/, /^EXCHANGE_CLIENT_KEY_FILE \(or CLIENT_KEY_FILE\): is required/]],
  ['introspection over http', { INTROSPECTION_ENDPOINT_URL: 'http://as.example.com/introspect' }, [/^INTROSPECTION_ENDPOINT_URL: http:\/\/ is allowed only for loopback/]],
  ['unreadable config file', { CONFIG_FILE: '/etc/authz.yaml' }, [/^CONFIG_FILE: cannot read \/etc\/authz.yaml \(ENOENT\)$/]],
  ['no secret at all', { CLIENT_SECRET: undefined }, [/^EXCHANGE_CLIENT_SECRET \(or CLIENT_SECRET\): is required for client_secret_basic$/]],
  ['secret and secret file', { CLIENT_SECRET_FILE: '/run/secret' }, [/^CLIENT_SECRET: set CLIENT_SECRET or CLIENT_SECRET_FILE, not both$/]],
  ['unreadable secret file', { CLIENT_SECRET: undefined, CLIENT_SECRET_FILE: '/missing' }, [/^CLIENT_SECRET_FILE: cannot read \/missing \(ENOENT\)$/]],
  ['resource not absolute', { EXCHANGE_RESOURCE: 'api' }, [/^EXCHANGE_RESOURCE: "api" is not an absolute URI$/]],
  ['blank scope', { EXCHANGE_SCOPE: '   ' }, [/^EXCHANGE_SCOPE: must hold at least one value$/]],
  ['inherited key file unreadable names CLIENT_*', { CLIENT_AUTH_METHOD: 'private_key_jwt', CLIENT_PRIVATE_KEY_FILE: '/missing.pem' }, [/^CLIENT_PRIVATE_KEY_FILE: cannot read \/missing\.pem \(ENOENT\)$/]],
  ['own key file unreadable names EXCHANGE_CLIENT_*', { EXCHANGE_CLIENT_AUTH_METHOD: 'private_key_jwt', EXCHANGE_CLIENT_PRIVATE_KEY_FILE: '/missing.pem' }, [/^EXCHANGE_CLIENT_PRIVATE_KEY_FILE: cannot read \/missing\.pem \(ENOENT\)$/]],
  ['HEAP_LIMIT_FLOOR_MB not a number', { HEAP_LIMIT_FLOOR_MB: 'lots' }, [/^HEAP_LIMIT_FLOOR_MB: /]],
  ['HEAP_LIMIT_FLOOR_MB negative', { HEAP_LIMIT_FLOOR_MB: '-1' }, [/^HEAP_LIMIT_FLOOR_MB: /]],
  ['HEAP_GROWING_PERCENT past 100', { HEAP_GROWING_PERCENT: '101' }, [/^HEAP_GROWING_PERCENT: /]],
];

t.test('every bad setting is one line naming its variable', async (t) => {
  for (const [name, overrides, expected] of INVALID) {
    const found = problems({ ...BASE, ...overrides });
    t.equal(found.length, expected.length, `${name}: ${expected.length} problem(s), got ${JSON.stringify(found)}`);
    expected.forEach((pattern, i) => t.match(found[i], pattern, `${name}: line ${i + 1}`));
    for (const line of found) t.notMatch(line, /\n|at .*\(.*:\d+:\d+\)/, `${name}: one line, no stack`);
  }
});

t.test('all problems are reported at once', async (t) => {
  const found = problems({ ...BASE, GRPC_PORT: 'x', HTTP_PORT: 'y', LOG_LEVEL: 'z' });
  t.same(found.map((line) => line.split(':')[0]), ['GRPC_PORT', 'HTTP_PORT', 'LOG_LEVEL']);
});

t.test('a secret is never quoted in a problem', async (t) => {
  const found = problems({ ...BASE, CLIENT_SECRET: '   ' });
  t.same(found, ['CLIENT_SECRET: is not a valid value']);
});

t.test('loopback http is allowed; other http only with ALLOW_INSECURE_HTTP=true', async (t) => {
  t.same(problems({ ...BASE, AUTHORIZATION_SERVER_URL: 'http://127.0.0.1:8080' }), []);
  t.same(problems({ ...BASE, AUTHORIZATION_SERVER_URL: 'http://localhost:8080' }), []);
  t.same(problems({ ...BASE, AUTHORIZATION_SERVER_URL: 'http://keycloak:8080/realms/mesh', ALLOW_INSECURE_HTTP: 'true' }), []);
});

t.test('an empty variable counts as unset', async (t) => {
  t.equal(loadConfig({ ...BASE, LOG_LEVEL: '' }).logLevel, 'info');
});

t.test('Config.settings holds every service setting as parsed, typed from the table', async (t) => {
  const config = loadConfig({ ...BASE, GRPC_PORT: '7000' });
  t.equal(config.settings.grpcPort, 7000);
  t.equal(config.settings.httpPort, 9002, 'a default applies');
  t.equal(config.settings.logLevel, config.logLevel);
  t.equal(config.settings.redisUrl, undefined, 'unset without a default');
  t.equal(config.settings.resourceUrl, config.resourceUrl);
  t.ok(Object.isFrozen(config.settings), 'frozen');
});

t.test('a bad client value in one target does not hide a missing one in another', async (t) => {
  const yaml = [
    'mcp_resource_url: https://mcp.example.com/mcp',
    'authorization_server_url: https://as.example.com',
    'client_secret: s',
    'targets:',
    '  - name: a',
    '    exchange_client_id: "  "',
    '  - name: b',
  ].join('\n');
  t.same(problems({ CONFIG_FILE: '/etc/authz.yaml' }, { '/etc/authz.yaml': yaml }), [
    'authz.yaml:6: targets[0].exchange_client_id: must not be empty',
    'authz.yaml:7: targets[1].exchange_client_id: is required',
  ]);
});
