/** Where a raw setting comes from: the environment (with `NAME_FILE` for secrets), one mapping of the YAML file, and the first of several. */
import t from 'tap';
import { readConfigFile } from '../../src/config/file.js';
import { Problems } from '../../src/config/problems.js';
import type { SettingSpec } from '../../src/config/settings.js';
import { environmentSource, fileSource, firstOf, type ReadFile, type Source } from '../../src/config/sources.js';

const PLAIN: SettingSpec<unknown> = { env: 'GRPC_PORT', doc: '', parse: (raw) => raw };
const SECRET: SettingSpec<unknown> = { env: 'CLIENT_SECRET', doc: '', parse: (raw) => raw, secret: true };

/** A file system of a few named files; any other path fails as a missing file does. */
function filesOf(files: Record<string, string>): ReadFile {
  return (path) => {
    const content = files[path];
    if (content !== undefined) return content;
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}' (content: s3cret)`), { code: 'ENOENT' });
  };
}

function lookUp(source: Source, spec: SettingSpec<unknown>) {
  const problems = new Problems();
  const found = source(spec, problems);
  return { found, lines: problems.lines };
}

t.test('environment: the variable, where = its name; "" counts as unset', async (t) => {
  const read = filesOf({});
  t.same(lookUp(environmentSource({ GRPC_PORT: '9001' }, read), PLAIN), { found: { value: '9001', where: 'GRPC_PORT' }, lines: [] });
  t.same(lookUp(environmentSource({ GRPC_PORT: '' }, read), PLAIN), { found: undefined, lines: [] });
  t.same(lookUp(environmentSource({}, read), PLAIN), { found: undefined, lines: [] });
  t.same(lookUp(environmentSource({ GRPC_PORT_FILE: '/p' }, filesOf({ '/p': '1' })), PLAIN), { found: undefined, lines: [] }, 'only a secret is read from NAME_FILE');
});

t.test('environment: a secret from NAME_FILE, one trailing newline stripped', async (t) => {
  const read = filesOf({ '/s/lf': 'pw\n', '/s/crlf': 'pw\r\n', '/s/two': 'pw\n\n', '/s/none': 'pw', '/s/empty': '\n' });
  const secretAt = (path: string) => lookUp(environmentSource({ CLIENT_SECRET_FILE: path }, read), SECRET);
  t.same(secretAt('/s/lf'), { found: { value: 'pw', where: 'CLIENT_SECRET_FILE' }, lines: [] });
  t.same(secretAt('/s/crlf').found, { value: 'pw', where: 'CLIENT_SECRET_FILE' });
  t.same(secretAt('/s/two').found, { value: 'pw\n', where: 'CLIENT_SECRET_FILE' }, 'only one newline');
  t.same(secretAt('/s/none').found, { value: 'pw', where: 'CLIENT_SECRET_FILE' });
  t.same(secretAt('/s/empty'), { found: undefined, lines: ['CLIENT_SECRET_FILE: /s/empty is empty'] });
  t.same(secretAt('/s/missing'), { found: undefined, lines: ['CLIENT_SECRET_FILE: cannot read /s/missing (ENOENT)'] }, 'the code only, never the error message');
  t.same(lookUp(environmentSource({ CLIENT_SECRET: 'pw', CLIENT_SECRET_FILE: '' }, read), SECRET).found, { value: 'pw', where: 'CLIENT_SECRET' }, 'an empty NAME_FILE is unset');
});

t.test('environment: a secret set both ways is one problem, and neither value', async (t) => {
  const read = filesOf({ '/s/lf': 'pw\n' });
  t.same(lookUp(environmentSource({ CLIENT_SECRET: 'pw', CLIENT_SECRET_FILE: '/s/lf' }, read), SECRET), {
    found: undefined,
    lines: ['CLIENT_SECRET: set CLIENT_SECRET or CLIENT_SECRET_FILE, not both'],
  });
});

const YAML = `
grpc_port: 9001
client_secret: inline
targets:
  - name: orders
    grpc_port: [1, "two"]
    client_secret_file: /s/lf
    exchange_extra_params: { a: 1, b: "x y" }
    null_key: ~
    nested: { a: { b: 1 } }
    mixed: [a, { b: 1 }]
    yes_no: true
  - client_secret: inline
    client_secret_file: /s/lf
  - client_secret_file: 42
    client_secret: inline
`;

function fileSources() {
  const problems = new Problems();
  const read = filesOf({ '/etc/tea/config.yaml': YAML, '/s/lf': 'from-file\n', '/s/empty': '' });
  const file = readConfigFile('/etc/tea/config.yaml', read, problems);
  if (!file) throw new Error(`the test file does not parse: ${problems.lines.join('; ')}`);
  const targets = file.root.targets as Array<Record<string, unknown>>;
  return {
    top: fileSource(file, file.root, [], read),
    entry: (i: number) => fileSource(file, targets[i]!, ['targets', i], read),
  };
}

const spec = (env: string, secret = false): SettingSpec<unknown> => ({ env, doc: '', parse: (raw) => raw, secret });

t.test('file: the lower-case key, where = file:line: path', async (t) => {
  const { top, entry } = fileSources();
  t.same(lookUp(top, PLAIN), { found: { value: '9001', where: 'config.yaml:2: grpc_port' }, lines: [] }, 'a number becomes its text');
  t.same(lookUp(top, spec('MISSING')), { found: undefined, lines: [] });
  t.same(lookUp(entry(0), spec('NULL_KEY')), { found: undefined, lines: [] }, 'null is unset');
  t.same(lookUp(entry(0), spec('YES_NO')).found, { value: 'true', where: 'config.yaml:12: targets[0].yes_no' }, 'a boolean becomes its text');
});

t.test('file: lists join with spaces, mappings become a query string, anything deeper is a problem', async (t) => {
  const { entry } = fileSources();
  t.same(lookUp(entry(0), PLAIN).found, { value: '1 two', where: 'config.yaml:6: targets[0].grpc_port' });
  t.same(lookUp(entry(0), spec('EXCHANGE_EXTRA_PARAMS')).found, { value: 'a=1&b=x+y', where: 'config.yaml:8: targets[0].exchange_extra_params' });
  t.same(lookUp(entry(0), spec('NESTED')), { found: undefined, lines: ['config.yaml:10: targets[0].nested: must be a string, number, boolean or list of strings'] });
  t.same(lookUp(entry(0), spec('MIXED')), { found: undefined, lines: ['config.yaml:11: targets[0].mixed: must be a string, number, boolean or list of strings'] });
});

t.test('file: a secret from <key>_file, or from the key, not both', async (t) => {
  const { top, entry } = fileSources();
  t.same(lookUp(top, SECRET).found, { value: 'inline', where: 'config.yaml:3: client_secret' });
  t.same(lookUp(entry(0), SECRET), { found: { value: 'from-file', where: 'config.yaml:7: targets[0].client_secret_file' }, lines: [] });
  t.same(lookUp(entry(1), SECRET), { found: undefined, lines: ['config.yaml:13: targets[1].client_secret: set client_secret or client_secret_file, not both'] });
  t.same(lookUp(entry(2), SECRET).found, { value: 'inline', where: 'config.yaml:16: targets[2].client_secret' }, 'a <key>_file that is not a string is not read as a file');
  t.same(lookUp(entry(0), spec('CLIENT_SECRET')), { found: undefined, lines: [] }, 'a setting that is not secret never reads <key>_file');
});

t.test('firstOf: the first source that has the setting wins; problems of every source tried are kept', async (t) => {
  const read = filesOf({});
  const { top } = fileSources();
  const env = environmentSource({ GRPC_PORT: '7000', CLIENT_SECRET_FILE: '/s/missing' }, read);
  t.same(lookUp(firstOf(env, top), PLAIN), { found: { value: '7000', where: 'GRPC_PORT' }, lines: [] });
  t.same(lookUp(firstOf(top, env), PLAIN).found, { value: '9001', where: 'config.yaml:2: grpc_port' });
  t.same(lookUp(firstOf(env, top), SECRET), { found: { value: 'inline', where: 'config.yaml:3: client_secret' }, lines: ['CLIENT_SECRET_FILE: cannot read /s/missing (ENOENT)'] });
  t.same(lookUp(firstOf(env, top), spec('MISSING')), { found: undefined, lines: [] });
  t.same(lookUp(firstOf(), PLAIN), { found: undefined, lines: [] });
});
