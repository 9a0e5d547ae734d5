/** gRPC deadlines are answered before they pass; the RFC 9728 path is answered through the Check itself. */
import t from 'tap';
import { summarize } from '../../src/dev/envoy-client.js';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

t.test('a slow exchange: 503 just before the deadline, and the retry is a cache hit', async (t) => {
  const as = await authorizationServer(t);
  as.exchangeDelayMs = 2500;
  const service = await startService(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  const started = Date.now();
  const first = summarize(await service.client.check(bearer(token), { deadlineMs: 1000 }));
  const elapsed = Date.now() - started;
  t.same([first.httpStatus, first.grpcCode], [503, 14], 'a CheckResponse, not DEADLINE_EXCEEDED');
  t.equal(first.headers['retry-after'], '1');
  t.ok(elapsed < 2500, 'answered before the exchange finished');
  while (as.exchanges.length === 0 || (await service.app.metrics.value('authz_exchange_calls_total', { outcome: 'ok' })) === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  const retry = summarize(await service.client.check(bearer(token), { deadlineMs: 1000 }));
  t.equal(retry.allowed, true, 'the exchange went on and filled the cache');
  t.equal(as.exchanges.length, 1);
  t.equal(await service.app.metrics.value('authz_checks_total', { outcome: 'deadline' }), 1);
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
