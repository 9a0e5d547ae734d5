/** SPEC §5 reload, on the built service as a process: SIGHUP, a mounted secret rotated on disk, a broken file, a new target. */
import t from 'tap';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { createEnvoyClient, summarize, type EnvoyCheckInput } from '../fixtures/envoy-client.js';
import { tempFiles } from '../fixtures/e2e-helpers.js';
import { readyService } from '../fixtures/process.js';
import { authorizationServer, bearer, EXCHANGE_CLIENT, RESOURCE, serviceEnv, UPSTREAM } from '../fixtures/service.js';

const OTHER = 'https://other.example.com/api';

/** Waits (up to 15 s) for `ready()`; the service polls its files every second in these tests. */
async function until(what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function metric(httpPort: number, series: string): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${httpPort}/metrics`)).body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

const httpPortOf = (stdout: string) => Number(/"httpPort":(\d+)/.exec(stdout)![1]);

/** A Kubernetes secret volume: files are links through `..data`, which is swapped to a new directory on update. */
function secretVolume(dir: string, files: Record<string, string>) {
  let generation = 0;
  const publish = (content: Record<string, string>) => {
    const version = `..v${++generation}`;
    mkdirSync(join(dir, version));
    for (const [name, value] of Object.entries(content)) writeFileSync(join(dir, version, name), value);
    symlinkSync(version, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  publish(files);
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
  return { publish, path: (name: string) => join(dir, name) };
}

t.test('a rotated client secret file is used without a signal; the cache is kept', async (t) => {
  const as = await authorizationServer(t);
  const files = tempFiles(t, 'authz-secret-');
  const volume = secretVolume(files.dir, { 'client-secret': EXCHANGE_CLIENT.secret });
  const proc = await readyService(t, serviceEnv(as, { CLIENT_SECRET: undefined, CLIENT_SECRET_FILE: volume.path('client-secret'), RELOAD_POLL_SECONDS: '1', LOG_LEVEL: 'info' }));
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  const check = async (token: string) => summarize(await client.check(bearer(token)));

  const first = await as.mintAccessToken({ sub: 'alice' });
  t.ok((await check(first)).allowed, 'allowed with the first secret');
  const exchanges = as.exchanges.length;

  as.setClientSecret(EXCHANGE_CLIENT.id, 'rotated-secret-2');
  volume.publish({ 'client-secret': 'rotated-secret-2' });
  await until('the new secret to be used', async () => (await check(await as.mintAccessToken({ sub: 'bob' }))).allowed);
  // Log lines are written in batches (up to 20 ms apart): wait for the line rather than race it.
  const reloadLine = /"msg":"configuration reloaded",[^\n]*"reason":"a configuration file changed"/;
  await until('the reload log line', () => reloadLine.test(proc.stdout()));
  t.match(proc.stdout(), reloadLine);

  const before = as.exchanges.length;
  t.ok((await check(first)).allowed, 'the token exchanged before the rotation is still served');
  t.equal(as.exchanges.length, before, 'from the cache: a rotated secret alone does not flush it');
  t.ok(before > exchanges, 'the authorization server accepted the new secret');
  t.notMatch(proc.stdout() + proc.stderr(), /rotated-secret-2|mcp-gateway-secret/, 'no secret in the logs');
  t.equal(await metric(httpPortOf(proc.stdout()), 'authz_config_reloads_total{result="ok"}'), 1);
});

t.test('SIGHUP with a broken file: refused, logged, counted; the old configuration keeps serving', async (t) => {
  const as = await authorizationServer(t);
  const files = tempFiles(t, 'authz-config-');
  const good = { mcp_resource_url: RESOURCE, authorization_server_url: as.issuer, client_id: EXCHANGE_CLIENT.id, client_secret: EXCHANGE_CLIENT.secret, exchange_resource: UPSTREAM };
  const path = files.write('config.yaml', stringify(good));
  const proc = await readyService(t, { CONFIG_FILE: path, LISTEN_ADDRESS: '127.0.0.1', GRPC_PORT: '0', HTTP_PORT: '0', RELOAD_POLL_SECONDS: '0', LOG_LEVEL: 'info' });
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());

  files.write('config.yaml', stringify({ ...good, client_secret: undefined, exchange_cache_ttl: 'soon' }));
  proc.child.kill('SIGHUP');
  await until('the refusal', () => /configuration reload refused/.test(proc.stdout()));
  const refusals = proc.stdout().split('\n').filter((line) => line.includes('configuration reload refused'));
  t.equal(refusals.length, 2, 'one line per problem');
  t.match(refusals.join('\n'), /exchange_cache_ttl/);
  t.match(refusals.join('\n'), /EXCHANGE_CLIENT_SECRET|client_secret/);
  t.equal(proc.child.exitCode, null, 'SIGHUP does not stop the process');
  t.ok(summarize(await client.check(bearer(await as.mintAccessToken({ sub: 'carol' })))).allowed, 'still serving on the old configuration');
  const httpPort = httpPortOf(proc.stdout());
  t.equal(await metric(httpPort, 'authz_config_reloads_total{result="failed"}'), 1);
  t.equal(await metric(httpPort, 'authz_config_reloads_total{result="ok"}'), 0);
});

t.test('SIGHUP with a new target serves it; changed parameters never hit old entries; listener settings wait for a restart', async (t) => {
  const as = await authorizationServer(t, { exchangeTargets: [UPSTREAM, OTHER] });
  const files = tempFiles(t, 'authz-config-');
  const base = { mcp_resource_url: RESOURCE, authorization_server_url: as.issuer, client_id: EXCHANGE_CLIENT.id, client_secret: EXCHANGE_CLIENT.secret, grpc_port: 0, http_port: 0, listen_address: '127.0.0.1', default_target: 'main' };
  const path = files.write('config.yaml', stringify({ ...base, targets: [{ name: 'main', exchange_resource: UPSTREAM }] }));
  const proc = await readyService(t, { CONFIG_FILE: path, RELOAD_POLL_SECONDS: '0', LOG_LEVEL: 'info' });
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  const token = await as.mintAccessToken({ sub: 'dave' });
  const check = async (input: EnvoyCheckInput = {}) => summarize(await client.check({ ...bearer(token), ...input }));

  t.ok((await check()).allowed);
  t.equal((await check({ contextExtensions: { target: 'other' } })).httpStatus, 403, 'no such target yet');
  const exchanges = as.exchanges.length;

  const reloaded = (count: number) => () => (proc.stdout().match(/"msg":"configuration reloaded"/g) ?? []).length === count;
  files.write('config.yaml', stringify({ ...base, grpc_port: 1, targets: [{ name: 'main', exchange_resource: UPSTREAM }, { name: 'other', exchange_resource: OTHER }] }));
  proc.child.kill('SIGHUP');
  await until('the reload', reloaded(1));
  t.match(proc.stdout(), /"msg":"settings that need a restart were not applied",[^\n]*"settings":\["GRPC_PORT"\]/);
  t.ok((await check({ contextExtensions: { target: 'other' } })).allowed, 'the new target is served');
  t.same(as.exchanges.at(-1)?.params.resource, OTHER);
  t.ok((await check()).allowed, 'the unchanged target');
  t.equal(as.exchanges.length, exchanges + 1, 'the unchanged target is still answered from the cache');

  files.write('config.yaml', stringify({ ...base, targets: [{ name: 'main', exchange_resource: UPSTREAM, exchange_extra_params: { tenant: 'acme' } }] }));
  proc.child.kill('SIGHUP');
  await until('the second reload', reloaded(2));
  t.ok((await check()).allowed);
  t.equal(as.exchanges.length, exchanges + 2, 'changed parameters: exchanged again, not served from the old entry');
  t.equal(as.exchanges.at(-1)?.params.tenant, 'acme');
  t.equal((await check({ contextExtensions: { target: 'other' } })).httpStatus, 403, 'a removed target is gone');
});

t.test('a check in flight during a reload finishes on the configuration it started with', async (t) => {
  const as = await authorizationServer(t);
  const proc = await readyService(t, serviceEnv(as, { LOG_LEVEL: 'info', RELOAD_POLL_SECONDS: '0' }));
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  as.exchangeDelayMs = 1000;
  const inFlight = client.check(bearer(await as.mintAccessToken({ sub: 'frank' })));
  await until('the exchange to reach the server', () => as.exchanges.length === 1);
  proc.child.kill('SIGHUP');
  await until('the reload', () => /"msg":"configuration reloaded"/.test(proc.stdout()));
  t.ok(summarize(await inFlight).allowed, 'answered, its connection to the server still open');
  as.exchangeDelayMs = 0;
  t.ok(summarize(await client.check(bearer(await as.mintAccessToken({ sub: 'grace' })))).allowed, 'and the next one on the new configuration');
});

t.test('WORKERS=2: the primary passes SIGHUP on to every worker', async (t) => {
  const as = await authorizationServer(t);
  const proc = await readyService(t, serviceEnv(as, { LOG_LEVEL: 'info', WORKERS: '2', RELOAD_POLL_SECONDS: '0' }));
  await until('both workers', () => (proc.stdout().match(/"authorization server ready"/g) ?? []).length >= 2);
  proc.child.kill('SIGHUP');
  await until('two reloads', () => (proc.stdout().match(/"msg":"configuration reloaded"/g) ?? []).length === 2);
  t.equal(proc.child.exitCode, null, 'still running');
});
