/** grpc-js's own messages go through the JSON logger (issue 12: a taken port printed a plain `E …` line). */
import { createServer } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { runService } from '../fixtures/process.js';

t.test('the built service on a taken gRPC port: only JSON lines, with service and version, exit 1', async (t) => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const proc = runService({
    MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
    AUTHORIZATION_SERVER_URL: 'http://127.0.0.1:9/issuer',
    CLIENT_ID: 'gateway',
    CLIENT_SECRET: 'hunter2-secret',
    LISTEN_ADDRESS: '127.0.0.1',
    GRPC_PORT: String(port),
    HTTP_PORT: '0',
  });
  t.teardown(() => void proc.child.kill('SIGKILL'));
  const [code] = await proc.exited;
  t.equal(code, 1);
  t.equal(proc.stderr(), '', 'nothing outside the JSON log');
  const lines = proc.stdout().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.ok(lines.every((line) => line.service === 'token-exchange-authz' && typeof line.version === 'string'), 'service and version on every line');
  t.ok(lines.some((line) => line.msg === 'grpc-js' && line.level === 'error' && typeof line.detail === 'string'), 'grpc-js\'s own error line, as JSON');
  t.ok(lines.some((line) => line.msg === 'cannot listen' && line.level === 'fatal'));
  t.notMatch(proc.stdout(), /hunter2/);
});
