/** The CONFIG_FILE structure: the keys each level may hold come from the declaration, and the target keys that are not settings parse as documented. */
import t from 'tap';
import { readConfigFile, type ConfigFile } from '../../src/config/file.js';
import { Problems } from '../../src/config/problems.js';
import { checkFileKeys, targetMatch, targetName } from '../../src/config/schema.js';
import { FILE_STRUCTURE, ISSUER_SETTINGS, SERVICE_SETTINGS, TARGET_SETTINGS } from '../../src/config/settings.js';

function parse(text: string): ConfigFile {
  const problems = new Problems();
  const file = readConfigFile('/etc/authz/config.yaml', () => text, problems);
  if (!file) throw new Error(problems.lines.join('\n'));
  return file;
}

function keyProblems(text: string): string[] {
  const problems = new Problems();
  checkFileKeys(parse(text), problems);
  return problems.lines;
}

const at = (...keys: string[]) => `config.yaml:9: targets[0].${keys.join('.')}`;

t.test('the top level takes every setting of the three tables, secrets also as _file, plus the lists', async (t) => {
  const keys = [SERVICE_SETTINGS, ISSUER_SETTINGS, TARGET_SETTINGS].flatMap((table) => Object.values(table)).flatMap((spec) => {
    const key = spec.env.toLowerCase();
    return 'secret' in spec && spec.secret ? [key, `${key}_file`] : [key];
  });
  const text = keys.filter((key) => key !== 'config_file').map((key) => `${key}: x`).join('\n');
  t.same(keyProblems(text), []);
  t.same(keyProblems('config_file: other.yaml'), ['config.yaml:1: config_file: unknown setting'], 'a file cannot name another');
  t.same(keyProblems('exchange_audiance: x'), ['config.yaml:1: exchange_audiance: unknown setting']);
});

t.test('each list entry takes its table and its own keys only', async (t) => {
  t.same(Object.keys(FILE_STRUCTURE.targets.keys), ['name', 'issuer', 'match']);
  t.same(keyProblems('issuers:\n  - authorization_server_url: https://as\n    client_id: c\n'), []);
  t.same(keyProblems('issuers:\n  - authorization_server_url: https://as\n    exchange_audience: a\n'), ['config.yaml:3: issuers[0].exchange_audience: unknown setting']);
  t.same(keyProblems('targets:\n  - name: a\n    issuer: https://as\n    match: { hosts: a }\n    exchange_audience: a\n'), []);
  t.same(keyProblems('targets:\n  - name: a\n    log_level: debug\n'), ['config.yaml:3: targets[0].log_level: unknown setting'], 'service settings only at the top');
  t.same(keyProblems('targets: []\n'), ['config.yaml:1: targets: must be a non-empty list']);
  t.same(keyProblems('targets:\n  - just-a-string\n'), ['config.yaml:2: targets[0]: must be a mapping']);
});

t.test('a target name is letters, digits, "_", "." or "-"', async (t) => {
  for (const good of ['orders', 'v1.billing_x-2']) {
    const problems = new Problems();
    t.equal(targetName(good, at, problems), good);
    t.same(problems.lines, []);
  }
  for (const bad of [undefined, '', 'with space', 7]) {
    const problems = new Problems();
    t.equal(targetName(bad, at, problems), undefined);
    t.same(problems.lines, ['config.yaml:9: targets[0].name: each target needs a name of letters, digits, "_", "." or "-"'], String(bad));
  }
});

t.test('match rules: a string or a list, hosts lower-cased, context defaulting to the name', async (t) => {
  const match = (value: unknown) => {
    const problems = new Problems();
    return { match: targetMatch(value, 'orders', at, problems), problems: problems.lines };
  };
  t.same(match(undefined), { match: { context: ['orders'], hosts: [], pathPrefixes: [], destinationPrincipals: [] }, problems: [] });
  t.same(match({ context: ['a', 'b'], hosts: 'Orders.Example.COM', path_prefixes: ['/orders'], destination_principals: 'spiffe://c/ns/o/sa/o' }), {
    match: { context: ['a', 'b'], hosts: ['orders.example.com'], pathPrefixes: ['/orders'], destinationPrincipals: ['spiffe://c/ns/o/sa/o'] },
    problems: [],
  });
  t.same(match('hosts').problems, ['config.yaml:9: targets[0].match: must be a mapping of context, hosts, path_prefixes, destination_principals']);
  t.same(match({ host: 'a' }).problems, ['config.yaml:9: targets[0].match.host: unknown rule (context, hosts, path_prefixes, destination_principals)']);
  t.same(match({ hosts: [1] }).problems, ['config.yaml:9: targets[0].match.hosts: must be a string or a list of strings']);
  t.same(match({ hosts: [''] }).problems, ['config.yaml:9: targets[0].match.hosts: must be a string or a list of strings']);
  t.same(match({ path_prefixes: 'orders' }).problems, ['config.yaml:9: targets[0].match.path_prefixes: each path prefix starts with "/"']);
});
