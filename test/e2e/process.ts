/** The built service as a process: `npm start` runs `node dist/main.js` (built by `pretest`). */
import t from 'tap';
import { summarize } from '../fixtures/envoy-client.js';
import { createEnvoyClient } from '../fixtures/envoy-client.js';
import { readyService, runService } from '../fixtures/process.js';
import { authorizationServer, bearer, serviceEnv } from '../fixtures/service.js';

t.test('bad settings stop start-up: one line per problem, no stack trace, exit 78', async (t) => {
  const proc = runService({ MCP_RESOURCE_URL: 'not a url', GRPC_PORT: '99999', CLIENT_SECRET: 'hunter2-secret' });
  const [code] = await proc.exited;
  t.equal(code, 78);
  const lines = proc.stderr().trim().split('\n');
  t.same(
    lines.map((line) => line.replace(/^configuration error: /, '').split(':')[0]),
    ['MCP_RESOURCE_URL', 'GRPC_PORT', 'AUTHORIZATION_SERVER_URL', 'EXCHANGE_CLIENT_ID (or CLIENT_ID)'],
  );
  t.notMatch(proc.stderr(), /at .+:\d+:\d+/, 'no stack trace');
  t.notMatch(proc.stderr(), /hunter2/, 'no secret');
  t.equal(proc.stdout(), '');
});

t.test('SIGTERM: stops accepting, finishes in-flight checks, exits 0', async (t) => {
  const as = await authorizationServer(t);
  as.exchangeDelayMs = 500;
  const proc = await readyService(t, serviceEnv(as, { LOG_LEVEL: 'info' }));
  const port = proc.grpcPort;
  const client = createEnvoyClient(`127.0.0.1:${port}`);
  t.teardown(() => client.close());
  const tokens = await Promise.all(['a', 'b', 'c'].map((sub) => as.mintAccessToken({ sub })));
  const inFlight = tokens.map((token) => client.check(bearer(token)));
  while (as.exchanges.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));

  proc.child.kill('SIGTERM');
  const results = await Promise.all(inFlight);
  t.ok(results.every((response) => summarize(response).allowed), 'the in-flight checks were answered');
  const [code] = await proc.exited;
  t.equal(code, 0);
  t.match(proc.stdout(), /"shutting down"/);
  const late = createEnvoyClient(`127.0.0.1:${port}`);
  t.teardown(() => late.close());
  await t.rejects(late.check(bearer(tokens[0]!), { deadlineMs: 1000 }), 'nothing accepts checks after exit');
});

t.test('WORKERS=2: two processes share the ports; SIGTERM stops both and exits 0', async (t) => {
  const as = await authorizationServer(t);
  const proc = await readyService(t, serviceEnv(as, { LOG_LEVEL: 'info', WORKERS: '2' }));
  while ((proc.stdout().match(/"authorization server ready"/g) ?? []).length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  const results = await Promise.all(['a', 'b', 'c', 'd'].map(async (sub) => summarize(await client.check(bearer(await as.mintAccessToken({ sub }))))));
  t.ok(results.every((result) => result.allowed), 'checks are answered');
  const pids = new Set([...proc.stdout().matchAll(/"msg":"listening".*?"pid":(\d+)/g)].map((match) => match[1]));
  t.equal(pids.size, 2, 'two workers listening');
  proc.child.kill('SIGTERM');
  const [code] = await proc.exited;
  t.equal(code, 0);
});
