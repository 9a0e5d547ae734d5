/** gRPC deadlines are answered before they pass; the RFC 9728 path is answered through the Check itself. */
import t from 'tap';
import { createEnvoyClient, summarize } from '../fixtures/envoy-client.js';
import { readyService } from '../fixtures/process.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

t.test('a slow exchange: 503 just before the deadline, and the retry is a cache hit', async (t) => {
  const as = await authorizationServer(t);
  as.exchangeDelayMs = 2500;
  // The service runs as its own process: in this one, the client's deadline timer would race the server's.
  const proc = await readyService(t, serviceEnv(as, { LOG_LEVEL: 'info' }));
  const client = createEnvoyClient(`127.0.0.1:${proc.grpcPort}`);
  t.teardown(() => client.close());
  const token = await as.mintAccessToken({ sub: 'alice' });
  const started = Date.now();
  const first = summarize(await client.check(bearer(token), { deadlineMs: 1000 }));
  const elapsed = Date.now() - started;
  t.same([first.httpStatus, first.grpcCode], [503, 14], 'a CheckResponse, not DEADLINE_EXCEEDED');
  t.equal(first.headers['retry-after'], '1');
  t.ok(elapsed < 2500, 'answered before the exchange finished');
  await new Promise((resolve) => setTimeout(resolve, 2700));
  const retry = summarize(await client.check(bearer(token), { deadlineMs: 1000 }));
  t.equal(retry.allowed, true, 'the exchange went on and filled the cache');
  t.equal(as.exchanges.length, 1);
  t.match(proc.stdout(), /"outcome":"deadline"/, 'logged as a deadline');
});

t.test('RFC 9728 through the proxy', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource?x=1']) {
    const response = await service.client.check({ method: 'GET', path, headers: {} });
    t.equal(response.denied_response?.status?.code, 'OK', `${path}: a 200 local reply`);
    t.same(JSON.parse(response.denied_response.body), { resource: 'https://mcp.example.com/mcp', authorization_servers: [as.issuer], bearer_methods_supported: ['header'] });
  }
  const post = summarize(await service.client.check({ method: 'POST', path: '/.well-known/oauth-protected-resource/mcp', headers: {} }));
  t.equal(post.httpStatus, 401, 'only GET/HEAD');
  const prefix = summarize(await service.client.check({ method: 'GET', path: '/.well-known/oauth-protected-resource/mcp/tools', headers: {} }));
  t.equal(prefix.httpStatus, 401, 'only the exact path');

  const off = await startService(t, serviceEnv(as, { SERVE_RESOURCE_METADATA: 'false' }));
  const disabled = summarize(await off.client.check({ method: 'GET', path: '/.well-known/oauth-protected-resource/mcp', headers: {} }));
  t.equal(disabled.httpStatus, 401, 'SERVE_RESOURCE_METADATA=false turns it off');
});
