/** Start-up with the authorization server not reachable yet: the warning names the URL (no credentials, no query) and the wait backs off. */
import { createServer } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { serviceEnv, startService } from '../fixtures/service.js';

t.test('"not reachable yet" names the URL tried and the wait before the next attempt', async (t) => {
  // A port that refuses connections: bound, then closed.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  const issuer = `http://127.0.0.1:${port}/realms/mesh`;
  const service = await startService(t, serviceEnv({ issuer }, { JWKS_URI: `http://127.0.0.1:${port}/jwks?sig=s3cr3t-query` }), { waitReady: false });
  let warning: Record<string, unknown> | undefined;
  for (let i = 0; i < 500 && !warning; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    warning = service.logs.find((line) => line.level === 'warn' && /not reachable yet/.test(String(line.msg)));
  }
  t.match(warning, { url: `http://127.0.0.1:${port}/jwks`, attempt: 1, service: 'token-exchange-authz' });
  t.ok(typeof warning?.retry_in_ms === 'number' && warning.retry_in_ms >= 0 && warning.retry_in_ms < 1000, 'first wait below 1 s');
  t.notMatch(service.logText(), /s3cr3t-query|mcp-gateway-secret/, 'no query, no client secret');
  t.notOk(service.app.isReady());
});
