/**
 * Issue "Fast and unbreakable", item 6.4: random configuration values.
 * `loadConfig` with a random environment (known variable names → random
 * strings: unicode, huge, empty, numbers out of range, values that are almost
 * right) and a file reader that finds nothing (ENOENT) must either return a
 * deeply frozen config or throw a ConfigError whose every problem is one line
 * starting with a variable name (or a `file:line:` position), and no line may
 * contain a secret given in CLIENT_SECRET, EXCHANGE_CLIENT_SECRET or
 * EXCHANGE_ACTOR_TOKEN.
 */
import t from 'tap';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.js';
import { ISSUER_SETTINGS, SERVICE_SETTINGS, TARGET_SETTINGS } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { checkProperty, SEED, truncate } from '../fixtures/property-wire.js';
import { anyText, hugeText } from '../fixtures/property-requests.js';

const specs = [...Object.values(SERVICE_SETTINGS), ...Object.values(ISSUER_SETTINGS), ...Object.values(TARGET_SETTINGS)] as Array<{ env: string; secret?: boolean }>;
/** Every variable the service reads: each setting, and `<NAME>_FILE` for the secrets. */
const NAMES = [...new Set(specs.flatMap((spec) => (spec.secret ? [spec.env, `${spec.env}_FILE`] : [spec.env])))];
const SECRETS = ['CLIENT_SECRET', 'EXCHANGE_CLIENT_SECRET', 'EXCHANGE_ACTOR_TOKEN'] as const;

/** A reader that finds no file: CONFIG_FILE, *_FILE secrets, keys and certificates all fail to read. */
const readFile = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
};

/** Values that are nearly right for some setting, so that runs get past parsing into the cross-checks. */
const plausible = fc.constantFrom(
  'https://mcp.example.com/mcp', 'https://login.example.com/realms/mesh', 'http://127.0.0.1:8080', 'http://login.example.com', 'https://user:pw@login.example.com/', 'https://x.example.com/#frag',
  'urn:ietf:params:oauth:token-type:access_token', 'urn:acme:mcp-access-token', 'omit', 'none', 'true', 'false', 'TRUE', 'yes',
  'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'rfc8693', 'keycloak', 'okta', 'auth0', 'entra_obo',
  'header', 'static', 'subject', 'x-agent-token', 'RS256 ES256', 'HS256', 'none RS256', 'a=1&b=2', 'grant_type=x', 'scope=a', '%zz=1',
  'api://orders/.default', 'mcp:tools mcp:read', 'Bearer ', 'token_endpoint', 'issuer', 'info', 'trace', 'default', 'orders',
  '0', '1', '-1', '65535', '65536', '70000', '300', '301', '86400', '1e3', '0x10', ' 42 ', '١٢', '99999999999999999999999', '1.5', '',
);

const numeric = fc.oneof(fc.integer().map(String), fc.bigInt().map(String), fc.double().map(String));

const value = fc.oneof(
  { weight: 4, arbitrary: plausible },
  { weight: 3, arbitrary: anyText(40) },
  { weight: 2, arbitrary: numeric },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n', '\t\r\n', '\u0000', '\u2028', '\ufeff') },
  { weight: 1, arbitrary: fc.record({ length: fc.integer({ min: 1000, max: 200_000 }), seed: fc.nat() }).map(hugeText) },
  // Line breaks inside otherwise plausible values: a problem line that quotes one would break in two.
  { weight: 2, arbitrary: fc.tuple(plausible, fc.constantFrom('\n', '\r\n', '\r', '\u2028'), anyText(10)).map(([a, nl, b]) => `${a}${nl}${b}`) },
  // What a Kubernetes `|` block or an editor leaves: a trailing line break, tab or space.
  { weight: 2, arbitrary: fc.tuple(plausible, fc.constantFrom('\n', '\r\n', '\t', ' ', '\u0000')).map(([a, end]) => `${a}${end}`) },
);

/** Secrets: long enough to be found when leaked (8+ characters), with and without line breaks and odd characters. */
const secret = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 8, maxLength: 40 }),
  fc.tuple(fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 20 }), fc.constantFrom('\n', ' ', '"', '#', '%')).map(([a, c]) => `${a}${c}${a}`),
  fc.constantFrom('s3cr3t-passw0rd', 'https://secret.example.com/token', 'client_secret_basic-but-secret', 'secret\nwith a line break', ' padded secret '),
  fc.constantFrom('', ' ', 'short'),
);

/** A valid single-issuer, single-target environment to start from (so runs reach the later checks). */
const BASE = {
  MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
  AUTHORIZATION_SERVER_URL: 'https://login.example.com/realms/mesh',
  CLIENT_ID: 'mcp-gateway',
  CLIENT_SECRET: 'base-secret-value',
  EXCHANGE_AUDIENCE: 'orders-api',
};

const environment = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)),
    // Secrets come only from `secret` (below), so that a leak is told apart from a quoted value that happens to be equal.
    fc.dictionary(fc.constantFrom(...NAMES.filter((name) => !(SECRETS as readonly string[]).includes(name))), value, { maxKeys: 8, size: 'small' }),
    fc.tuple(fc.option(secret, { freq: 4 }), fc.option(secret, { freq: 2 }), fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: secret })),
  )
  .map(([fromBase, random, [clientSecret, exchangeSecret, actorToken]]) => {
    const env: Record<string, string> = { ...(fromBase ? BASE : {}), ...random };
    if (clientSecret !== null) env.CLIENT_SECRET = clientSecret;
    if (exchangeSecret !== null) env.EXCHANGE_CLIENT_SECRET = exchangeSecret;
    if (actorToken !== null) env.EXCHANGE_ACTOR_TOKEN = actorToken;
    return env;
  });

const FILE_POSITION = /^[^\s:]+:(\d+|\?): /;
const known = new Set(NAMES);

function isDeeplyFrozen(value: unknown, path = 'config'): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  if (!Object.isFrozen(value)) return path;
  for (const [key, item] of Object.entries(value)) {
    const found = isDeeplyFrozen(item, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

/**
 * BUG (reported, regression case below): a value holding a line break is
 * quoted as it is (`"${raw}" is not …` in src/config/parsers.ts, `cannot read
 * ${path}` in sources.ts / file.ts / client.ts / load.ts), so its problem spans
 * several lines and main.ts prints a line without "configuration error:".
 * Counted here (the other checks still apply) so that the property stays a
 * tripwire for new failures; the regression test expects the fix.
 */
const MULTI_LINE = /[\r\n\u2028\u2029]/;
let multiLineProblems = 0;

/**
 * BUG (reported, regression case below): URL settings are checked with
 * `new URL(raw)` but kept raw, and the WHATWG parser drops tabs, line breaks
 * and leading/trailing controls and spaces. "https://idp.example.com/realm\n"
 * is accepted, then never equals a token's `iss` (every token 401, and the
 * service never gets ready: discovery names the issuer without the newline);
 * the same in MCP_RESOURCE_URL refuses every token's `aud`.
 */
const INVISIBLE = /[\u0000-\u001f\u007f]|^\s|\s$/;
let acceptedInvisible = 0;

/** The URL-valued settings of an accepted config. */
function urlsOf(config: ReturnType<typeof loadConfig>): Array<[string, string]> {
  const urls: Array<[string, string | undefined]> = [['MCP_RESOURCE_URL', config.resourceUrl]];
  for (const issuer of config.issuers) urls.push(['AUTHORIZATION_SERVER_URL', issuer.issuer], ['JWKS_URI', issuer.jwksUri], ['INTROSPECTION_ENDPOINT_URL', issuer.introspection?.endpoint]);
  for (const target of config.targets) {
    urls.push(['TOKEN_EXCHANGE_ENDPOINT_URL', target.tokenEndpoint], ['EXCHANGE_REQUESTED_TOKEN_TYPE', target.requestedTokenType], ['EXCHANGE_SUBJECT_TOKEN_TYPE', target.subjectTokenType], ['EXCHANGE_ACTOR_TOKEN_TYPE', target.actor.tokenType]);
    for (const resource of target.resource) urls.push(['EXCHANGE_RESOURCE', resource]);
  }
  return urls.filter((entry): entry is [string, string] => entry[1] !== undefined);
}

/** Throws when the outcome of loadConfig(env) breaks the contract. */
function checkConfig(env: Record<string, string>): void {
  let problems: readonly string[];
  try {
    const config = loadConfig(env, readFile);
    const mutable = isDeeplyFrozen(config);
    if (mutable) throw new Error(`loadConfig returned a config whose ${mutable} is not frozen`);
    if (urlsOf(config).some(([, url]) => INVISIBLE.test(url))) acceptedInvisible++;
    return;
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw new Error(`loadConfig threw ${error instanceof Error ? `${error.name}: ${truncate(error.message, 300)}` : String(error)} instead of a ConfigError`);
    }
    problems = error.problems;
  }
  if (problems.length === 0) throw new Error('a ConfigError with no problem');
  for (const line of problems) {
    if (MULTI_LINE.test(line)) multiLineProblems++;
    // "NAME: …", or "NAME (or FALLBACK): …" where a setting falls back to another.
    const [, name, fallback] = /^([A-Z][A-Z0-9_]*)(?: \(or ([A-Z][A-Z0-9_]*)\))?: /.exec(line) ?? [];
    if (!(name !== undefined && known.has(name) && (fallback === undefined || known.has(fallback))) && !FILE_POSITION.test(line)) throw new Error(`a problem that starts with neither a variable name nor a file position: ${JSON.stringify(truncate(line, 300))}`);
    for (const key of SECRETS) {
      const secretValue = env[key];
      if (secretValue === undefined || secretValue.trim().length < 8) continue;
      // A secret that is also (part of) another variable's value may be quoted as that value.
      if (Object.entries(env).some(([other, text]) => other !== key && !SECRETS.includes(other as (typeof SECRETS)[number]) && text.includes(secretValue))) continue;
      if (line.includes(secretValue)) throw new Error(`a problem line contains the ${key} value: ${JSON.stringify(truncate(line, 300))}`);
    }
  }
}

/** The problems of an environment that must be refused. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, readFile);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

t.test('loadConfig on random environments: a frozen config or one-line ConfigError problems, never a secret', async (t) => {
  t.comment(`fast-check seed ${SEED} (PROPERTY_SEED=<n> to change)`);
  await checkProperty(t, 'random environments', fc.property(environment, checkConfig), { numRuns: 2000 });
  t.comment(`problems spanning several lines (known bug, see the regression test): ${multiLineProblems}`);
  t.comment(`accepted configs with a URL setting holding a control character or edge whitespace (known bug, see the regression test): ${acceptedInvisible}`);
});

/** Flip to `false` once src/config quotes values without their line breaks: these then fail as plain tests. */
const KNOWN_BUG = {};

t.test('regression: a problem quoting a value with a line break stays on one line', KNOWN_BUG, async (t) => {
  // The shrunk counter-example of the property (seed 20240611), and the same bug through other parsers and file paths.
  const cases: Array<Record<string, string>> = [
    { MCP_RESOURCE_URL: '\t\r\n' },
    { ...BASE, GRPC_PORT: '9001\nconfiguration error: fake line' },
    { ...BASE, EXCHANGE_PROFILE: 'okta\r\n' },
    { ...BASE, CONFIG_FILE: '/etc/authz\nconfig.yaml' },
    { ...BASE, CLIENT_SECRET: '', CLIENT_SECRET_FILE: '/run/secrets/a\nb' },
  ];
  for (const env of cases) {
    const problems = problemsOf(env);
    t.notOk(problems.some((line) => MULTI_LINE.test(line)), `one line per problem for ${JSON.stringify(env)}: ${JSON.stringify(problems)}`);
  }
});

const KNOWN_URL_BUG = {};

t.test('regression: a URL setting with a line break, tab or edge space is refused, not kept', KNOWN_URL_BUG, async (t) => {
  const cases: Array<Record<string, string>> = [
    { ...BASE, AUTHORIZATION_SERVER_URL: 'https://login.example.com/realms/mesh\n' },
    { ...BASE, MCP_RESOURCE_URL: 'https://mcp.example.com/mcp\r\n' },
    { ...BASE, MCP_RESOURCE_URL: ' https://mcp.example.com/mcp' },
    { ...BASE, TOKEN_EXCHANGE_ENDPOINT_URL: 'https://login.example.com/tok\ten' },
    { ...BASE, EXCHANGE_SUBJECT_TOKEN_TYPE: 'urn:ietf:params:oauth:token-type:access_token\u0000' },
  ];
  for (const env of cases) {
    let outcome: string;
    try {
      const config = loadConfig(env, readFile);
      outcome = `accepted, keeping ${JSON.stringify(urlsOf(config).filter(([, url]) => INVISIBLE.test(url)))}`;
    } catch (error) {
      outcome = error instanceof ConfigError ? 'refused' : `threw ${String(error)}`;
    }
    t.equal(outcome, 'refused', `refused: ${JSON.stringify(env)}`);
  }
});
