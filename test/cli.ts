/** The command line (SPEC §5): --help, --version, --check-config, unknown arguments; none needs the service's variables. */
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { helpText, parseCommandLine } from '../src/cli.js';
import { ALL_SETTINGS } from '../src/config/settings.js';
import { runService } from './fixtures/process.js';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };

t.test('arguments: none serves, one flag is a command, anything else is a usage problem', async (t) => {
  t.same(parseCommandLine([]), { kind: 'serve' });
  t.same(parseCommandLine(['--help']), { kind: 'help' });
  t.same(parseCommandLine(['-h']), { kind: 'help' });
  t.same(parseCommandLine(['--version']), { kind: 'version' });
  t.same(parseCommandLine(['--check-config']), { kind: 'check-config' });
  t.match(parseCommandLine(['--verbose']), { kind: 'usage', problem: 'unknown argument "--verbose" (try --help)' });
  t.match(parseCommandLine(['--help', 'extra']), { kind: 'usage', problem: /takes no further arguments/ });
  t.match(parseCommandLine(['--toString']), { kind: 'usage' }, 'not an inherited property');
  t.match(parseCommandLine(['x\ny']), { kind: 'usage', problem: 'unknown argument "x\\ny" (try --help)' }, 'one line whatever the argument holds');
});

t.test('--help lists every setting under its README group, and the exit codes', async (t) => {
  const help = helpText();
  let at = 0;
  for (const [title, table] of ALL_SETTINGS) {
    const group = help.indexOf(`\n${title.replace(/`/g, '')}:\n`, at);
    t.ok(group > at, `group ${title} in README order`);
    at = group;
    for (const spec of Object.values(table)) t.match(help, new RegExp(`^  ${spec.env}${spec.secret ? ` \\| ${spec.env}_FILE` : ''}  \\(`, 'm'), spec.env);
  }
  for (const code of [0, 1, 64, 78]) t.match(help, new RegExp(`^  ${code} +\\S`, 'm'), `exit code ${code}`);
  t.notMatch(help, /`/, 'no markdown');
});

t.test('the bin entry is the service entry point', async (t) => {
  t.same(packageJson.bin, { 'token-exchange-authz': 'dist/main.js' });
  t.match(readFileSync(new URL('../dist/main.js', import.meta.url), 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

t.test('the built service with no service variables set', async (t) => {
  const help = runService({}, ['--help']);
  t.equal((await help.exited)[0], 0, '--help exits 0');
  t.equal(help.stdout(), helpText());
  t.equal(help.stderr(), '');

  const version = runService({}, ['--version']);
  t.equal((await version.exited)[0], 0, '--version exits 0');
  t.equal(version.stdout(), `token-exchange-authz ${packageJson.version}\n`);

  const unknown = runService({}, ['--frobnicate']);
  t.equal((await unknown.exited)[0], 64, 'unknown flag: EX_USAGE');
  t.equal(unknown.stderr(), 'unknown argument "--frobnicate" (try --help)\n');
  t.equal(unknown.stdout(), '');

  const check = runService({}, ['--check-config']);
  t.equal((await check.exited)[0], 78, '--check-config with nothing set: EX_CONFIG');
  t.match(check.stderr(), /^configuration error: MCP_RESOURCE_URL: is required$/m);
  t.equal(check.stdout(), '');
});

t.test('--check-config reads every file and calls no one', async (t) => {
  // A real listener at the issuer's address: --check-config must not reach it.
  let requests = 0;
  const server = createServer((_request, response) => {
    requests++;
    response.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'authz-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'hunter2-secret\n');
  const env = { MCP_RESOURCE_URL: 'https://mcp.example.com/mcp', AUTHORIZATION_SERVER_URL: issuer, CLIENT_ID: 'gateway', CLIENT_SECRET_FILE: secretFile };

  const ok = runService(env, ['--check-config']);
  t.equal((await ok.exited)[0], 0);
  t.equal(ok.stdout(), 'configuration OK\n');
  t.equal(ok.stderr(), '');

  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'grpc_port: 99999\ntargets:\n  - name: a\n    exchange_client_private_key_file: /nonexistent.pem\n    exchange_client_auth_method: private_key_jwt\n');
  const bad = runService({ ...env, CLIENT_SECRET_FILE: join(dir, 'missing'), CONFIG_FILE: configFile }, ['--check-config']);
  t.equal((await bad.exited)[0], 78);
  t.equal(bad.stdout(), '');
  t.match(bad.stderr(), /grpc_port: 99999 is outside/);
  t.match(bad.stderr(), /CLIENT_SECRET_FILE: cannot read .*missing \(ENOENT\)/);
  t.match(bad.stderr(), /exchange_client_private_key_file: cannot read \/nonexistent\.pem/);
  t.notMatch(bad.stderr(), /hunter2/);
  t.equal(requests, 0, 'the authorization server was not called');
});
