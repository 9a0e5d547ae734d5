/** The operations port: health, readiness, metrics and RFC 9728 metadata (SPEC §4a, §5). */
import t from 'tap';
import { authorizationServer, bearer, serviceEnv, startService } from '../fixtures/service.js';

t.test('operations endpoints', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { REQUIRED_SCOPES: 'mcp:tools' }));
  const base = `http://127.0.0.1:${service.httpPort}`;

  t.equal((await fetch(`${base}/healthz`)).status, 200);
  t.equal((await fetch(`${base}/readyz`)).status, 200);
  t.equal((await fetch(`${base}/nope`)).status, 404);
  t.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);

  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const response = await fetch(base + path);
    t.equal(response.status, 200, path);
    t.equal(response.headers.get('content-type'), 'application/json');
    t.same(await response.json(), {
      resource: 'https://mcp.example.com/mcp',
      authorization_servers: [as.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['mcp:tools'],
    });
  }

  await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' })));
  await service.client.check({ headers: {} });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /^authz_checks_total\{outcome="allowed",target="default"\} 1$/m);
  t.match(metrics, /^authz_checks_total\{outcome="missing_token",target=""\} 1$/m);
  t.match(metrics, /^grpc_server_handling_seconds_count\{grpc_type="unary",grpc_service="envoy.service.auth.v3.Authorization",grpc_method="Check",grpc_code="OK"\} 1$/m);
  t.match(metrics, /^authz_exchange_duration_seconds_count\{outcome="ok"\} 1$/m);
  t.match(metrics, /^authz_exchange_cache_entries 1$/m);
  t.match(metrics, /^authz_jwks_fetches_total\{outcome="ok"\} 1$/m);
  t.match(metrics, /^nodejs_eventloop_lag_p99_seconds /m, 'event-loop delay');
  t.match(metrics, /^authz_exchange_calls_total\{outcome="ok"\} 1$/m);
  t.match(metrics, /^authz_exchange_cache_misses_total 1$/m);
  t.match(metrics, /^# TYPE authz_exchange_cache_hits_total counter$/m);
});

t.test('gRPC health reports SERVING once ready', async (t) => {
  const { loadSync } = await import('@grpc/proto-loader');
  const grpc = await import('@grpc/grpc-js');
  const { protoPath } = await import('grpc-health-check');
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  const definition = grpc.loadPackageDefinition(loadSync(protoPath, { enums: String })) as any;
  const client = new definition.grpc.health.v1.Health(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  for (const service of ['', 'envoy.service.auth.v3.Authorization']) {
    const status = await new Promise<string>((resolve, reject) => client.Check({ service }, (error: Error | null, response: { status: string }) => (error ? reject(error) : resolve(response.status))));
    t.equal(status, 'SERVING', `"${service}"`);
  }
});
