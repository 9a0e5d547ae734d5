/**
 * The settings tables themselves: every default parses with its own parser,
 * variable names are unique, the exchange client falls back to the issuer's
 * (SPEC §2), and the few parsers and match rules declared in the table.
 * The README drift is test/config/docs.ts; the file keys, test/config/schema.ts.
 */
import t from 'tap';
import {
  ACCESS_TOKEN_TYPE, ALL_SETTINGS, CLIENT_AUTH_METHODS, FILE_STRUCTURE, ISSUER_SETTINGS, MATCH_RULES, SERVICE_SETTINGS, TARGET_SETTINGS, type SettingSpec,
} from '../../src/config/settings.js';

const every = ALL_SETTINGS.flatMap(([, table]) => Object.values(table) as Array<SettingSpec<unknown>>);

t.test('each default is a value its own parser accepts', async (t) => {
  for (const spec of every) {
    if (spec.default === undefined) continue;
    t.doesNotThrow(() => spec.parse(spec.default!), `${spec.env}=${JSON.stringify(spec.default)}`);
  }
});

t.test('a setting is required, or has a default, or documents what unset means — never two of them', async (t) => {
  for (const spec of every) {
    const kinds = [spec.required === true, spec.default !== undefined, spec.derivedDefault !== undefined].filter(Boolean).length;
    t.ok(kinds <= 1, `${spec.env}: one of required / default / derivedDefault at most`);
    t.ok(spec.doc.length > 0, `${spec.env} is documented`);
  }
});

t.test('variable names are unique over the three tables (the top level of CONFIG_FILE takes all of them)', async (t) => {
  const names = every.map((spec) => spec.env);
  t.same(names.filter((name, i) => names.indexOf(name) !== i), []);
  t.same(FILE_STRUCTURE.top.tables, [SERVICE_SETTINGS, ISSUER_SETTINGS, TARGET_SETTINGS]);
});

t.test('the issuer\'s client has fixed defaults; the exchange client inherits each CLIENT_* value (SPEC §2)', async (t) => {
  const clientKeys = Object.keys(ISSUER_SETTINGS).filter((key) => key.startsWith('client'));
  t.same(clientKeys, Object.keys(TARGET_SETTINGS).filter((key) => key.startsWith('client')), 'the same client settings on both');
  t.equal(clientKeys.length, 10);
  for (const key of clientKeys) {
    const issuer = ISSUER_SETTINGS[key as keyof typeof ISSUER_SETTINGS] as SettingSpec<unknown>;
    const target = TARGET_SETTINGS[key as keyof typeof TARGET_SETTINGS] as SettingSpec<unknown>;
    t.equal(target.env, `EXCHANGE_${issuer.env}`, key);
    t.equal(target.derivedDefault, `\`${issuer.env}\``, `${target.env} defaults to ${issuer.env}`);
    t.equal(target.default, undefined, `${target.env} has no default of its own, so CLIENT_* can fill it`);
    t.equal(issuer.derivedDefault, undefined);
    t.equal(target.secret, issuer.secret, `${key}: secret on both or neither`);
  }
  t.equal((ISSUER_SETTINGS.clientAuthMethod as SettingSpec<unknown>).default, 'client_secret_basic');
  t.equal((ISSUER_SETTINGS.clientAssertionAudience as SettingSpec<unknown>).default, 'token_endpoint');
  t.equal(ISSUER_SETTINGS.clientSecret.secret, true);
  t.match(ISSUER_SETTINGS.clientAuthMethod.doc, CLIENT_AUTH_METHODS.map((method) => `\`${method}\``).join(', '));
  t.match(ISSUER_SETTINGS.clientId.doc, /for introspection/);
  t.match(TARGET_SETTINGS.clientId.doc, /at the token endpoint/);
});

t.test('only credentials are secret (read from NAME_FILE, never printed)', async (t) => {
  t.same(every.filter((spec) => spec.secret).map((spec) => spec.env).sort(), ['CLIENT_SECRET', 'EXCHANGE_ACTOR_TOKEN', 'EXCHANGE_CLIENT_SECRET', 'REDIS_PASSWORD']);
});

t.test('EXCHANGE_REQUESTED_TOKEN_TYPE: "omit", or an absolute URI (RFC 8693 §2.1)', async (t) => {
  const parse = TARGET_SETTINGS.requestedTokenType.parse;
  t.equal(parse('omit'), 'omit');
  t.equal(parse(ACCESS_TOKEN_TYPE), ACCESS_TOKEN_TYPE);
  t.throws(() => parse('access_token'), { message: '"access_token" is not an absolute URI' });
  t.throws(() => parse('OMIT'), { message: '"OMIT" is not an absolute URI' }, 'the keyword is lower-case');
});

t.test('match rules: in routing order, each filling its TargetMatch field', async (t) => {
  t.same([...MATCH_RULES.keys()], ['context', 'hosts', 'path_prefixes', 'destination_principals']);
  t.same([...MATCH_RULES.values()].map((rule) => rule.field), ['context', 'hosts', 'pathPrefixes', 'destinationPrincipals']);
  t.equal(MATCH_RULES.get('hosts')!.normalize!('API.Example.COM'), 'api.example.com', 'hosts compare lower-case');
  const prefix = MATCH_RULES.get('path_prefixes')!.refuse!;
  t.equal(prefix.test('/api'), false);
  t.equal(prefix.test('api'), true, 'a prefix without the leading "/" is refused');
  t.equal(prefix.why, 'each path prefix starts with "/"');
  t.equal(MATCH_RULES.get('context')!.normalize, undefined, 'context values are taken as written');
  t.equal(MATCH_RULES.get('destination_principals')!.refuse, undefined);
});
