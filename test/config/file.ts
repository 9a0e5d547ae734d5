/** CONFIG_FILE: the schema, inheritance from the top level and the environment, and every kind of error with its position. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const fixture = (name: string) => new URL(`../fixtures/config/${name}`, import.meta.url).pathname;
const SECRETS: Record<string, string> = { '/run/secrets/exchange': 'from-secret-file\n' };
const readFile = (path: string) => {
  if (path in SECRETS) return SECRETS[path]!;
  return readFileSync(path, 'utf8');
};

function problems(name: string, env: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig({ CONFIG_FILE: fixture(name), ...env }, readFile);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

t.test('a file with two issuers and three targets', async (t) => {
  const config = loadConfig({ CONFIG_FILE: fixture('valid-targets.yaml') }, readFile);
  t.same(config.issuers.map((issuer) => issuer.issuer), ['https://login.example.com/tenant/v2.0', 'https://sts.example.com/tenant/']);
  t.same(config.issuers[0]?.audiences, ['api://mcp', 'https://mcp.example.com/mcp']);
  t.same(config.issuers[0]?.tokenTypes, ['at+jwt', 'jwt']);
  t.same(config.issuers[1]?.audiences, ['https://mcp.example.com/mcp'], 'defaults to MCP_RESOURCE_URL');
  t.same(config.issuers[1]?.algorithms, ['RS256']);
  t.equal(config.logLevel, 'warn');
  t.equal(config.defaultTarget, 'billing');

  const [orders, billing, search] = config.targets;
  t.equal(orders?.profile, 'entra_obo');
  t.equal(orders?.issuer, 'https://login.example.com/tenant/v2.0', 'the first issuer by default');
  t.same(orders?.match.hosts, ['orders.internal', 'orders.example.com'], 'hosts lower-cased');
  t.same(orders?.match.context, ['orders'], 'context defaults to the name');
  t.equal(orders?.client.id, 'mcp-gateway', 'inherited from the top level');
  t.equal(orders?.client.secret, 'from-secret-file', 'a _file key reads the file, one newline stripped');
  t.equal(orders?.client.authMethod, 'client_secret_post');
  t.same(billing?.audience, ['billing-api', 'ledger-api']);
  t.same(billing?.resource, ['https://billing.example.com/']);
  t.same(billing?.extraParams, [['tenant', 'acme']]);
  t.same(billing?.header, { name: 'x-upstream-token', prefix: '', remove: ['authorization'] }, 'the inbound token is removed when the exchanged one goes elsewhere');
  t.same(billing?.requiredScopes, ['billing:read']);
  t.same(billing?.match.pathPrefixes, ['/billing', '/billing/v2']);
  t.same(billing?.match.destinationPrincipals, ['spiffe://cluster.local/ns/billing/sa/billing']);
  t.equal(search?.issuer, 'https://sts.example.com/tenant/');
  t.equal(search?.actor.source, 'subject');
  t.same(search?.match.context, ['search', 'find']);
});

t.test('the environment wins over the file\'s top level, never over an entry', async (t) => {
  const config = loadConfig({ CONFIG_FILE: fixture('valid-targets.yaml'), LOG_LEVEL: 'debug', EXCHANGE_SCOPE: 'from-env' }, readFile);
  t.equal(config.logLevel, 'debug');
  t.equal(config.targets[0]?.scope, 'api://orders/.default', 'the entry keeps its own');
  t.equal(config.targets[2]?.scope, 'from-env', 'an entry without one inherits');
});

const INVALID: Array<[string, RegExp[]]> = [
  ['invalid-syntax.yaml', [/^invalid-syntax\.yaml:4: /]],
  ['invalid-not-a-mapping.yaml', [/^invalid-not-a-mapping\.yaml: the file must hold a mapping of settings$/]],
  [
    'invalid-unknown-keys.yaml',
    [
      /^invalid-unknown-keys\.yaml:5: exchange_audiance: unknown setting$/,
      /^invalid-unknown-keys\.yaml:8: targets\[0\]\.audience: unknown setting$/,
      /^invalid-unknown-keys\.yaml:9: targets\[0\]\.match\.host: unknown rule/,
    ],
  ],
  [
    'invalid-values.yaml',
    [
      /^invalid-values\.yaml:6: issuers\[0\]\.allowed_algorithms: "HS256" is not accepted/,
      /^invalid-values\.yaml:5: issuers\[0\]\.authorization_server_url: http:\/\/ is allowed only for loopback/,
      /^invalid-values\.yaml:9: targets\[0\]\.exchange_resource: "not-a-uri" is not an absolute URI$/,
      /^invalid-values\.yaml:10: targets\[0\]\.exchange_extra_params: "subject_token" is set by the service/,
      /^invalid-values\.yaml:12: targets\[1\]\.issuer: "https:\/\/unknown\.example\.com" is not one of the issuers$/,
      /^invalid-values\.yaml:13: targets\[2\]\.name: each target needs a name/,
      /^invalid-values\.yaml:11: targets\[1\]\.name: target name "a" is used twice$/,
      /^DEFAULT_TARGET: "missing" is not one of the targets \(a, a\)$/,
    ],
  ],
  [
    'invalid-profiles.yaml',
    [
      /^invalid-profiles\.yaml:6: targets\[0\]\.exchange_audience: the target client id is required with the keycloak profile$/,
      /^invalid-profiles\.yaml:8: targets\[0\]\.exchange_resource: is not supported with the keycloak profile$/,
      /^invalid-profiles\.yaml:9: targets\[1\]\.exchange_actor_source: an actor token is required with the okta profile$/,
      /^invalid-profiles\.yaml:15: targets\[2\]\.exchange_subject_token_type: a custom token type URI of your own namespace is required with the auth0 profile$/,
      /^invalid-profiles\.yaml:16: targets\[3\]\.exchange_scope: the API scope .* is required with the entra_obo profile$/,
      /^invalid-profiles\.yaml:18: targets\[3\]\.exchange_audience: is not a parameter of On-Behalf-Of with the entra_obo profile$/,
      /^invalid-profiles\.yaml:19: targets\[4\]\.exchange_actor_header: is required when the actor source is header$/,
    ],
  ],
];

t.test('every kind of error names its file position', async (t) => {
  for (const [name, expected] of INVALID) {
    const found = problems(name);
    t.equal(found.length, expected.length, `${name}: ${expected.length} problems, got ${JSON.stringify(found, null, 1)}`);
    for (const pattern of expected) t.ok(found.some((line) => pattern.test(line)), `${name}: ${pattern}`);
  }
});

t.test('CONFIG_FILE that cannot be read', async (t) => {
  t.same(problems('does-not-exist.yaml'), [`CONFIG_FILE: cannot read ${fixture('does-not-exist.yaml')} (ENOENT)`]);
});
