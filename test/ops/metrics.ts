/**
 * /metrics of a running service (real authorization server, real gRPC and
 * HTTP checks): promtool accepts it, the gRPC server series are named as
 * go-grpc-prometheus names them, the HTTP ones as OpenTelemetry does, and the
 * Grafana dashboard only queries names that are exported.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import t, { type Test } from 'tap';
import { VERSION } from '../../src/build-info.js';
import { createEnvoyClient } from '../fixtures/envoy-client.js';
import { send, startHttpAuthz, bearer as httpBearer } from '../http-authz/fixtures/service.js';
import { exportedNames, promqlMetricNames } from '../fixtures/promql.js';
import { authorizationServer, bearer, serviceEnv } from '../fixtures/service.js';

const CHECK = 'grpc_type="unary",grpc_service="envoy.service.auth.v3.Authorization",grpc_method="Check"';

/** A service after a few checks of each kind, and its /metrics text. */
async function scraped(t: Test) {
  const as = await authorizationServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as, { REQUIRED_SCOPES: 'mcp:tools' }));
  const client = createEnvoyClient(`127.0.0.1:${service.grpcPort}`);
  t.teardown(() => client.close());
  const token = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' });
  await client.check(bearer(token));
  await client.check(bearer(token));
  await client.check({ headers: {} });
  await client.check(bearer(await as.mintAccessToken({ sub: 'bob', scope: 'other' })));
  t.equal((await send(service.url, { headers: httpBearer(token) })).status, 200);
  t.equal((await send(service.url, { method: 'POST' })).status, 401);
  t.equal((await send(service.url, { method: 'PROPFIND' })).status, 401);
  return (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
}

t.test('/metrics after gRPC and HTTP checks', async (t) => {
  const text = await scraped(t);

  const promtoolMissing = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).error !== undefined;
  const skip = promtoolMissing && !process.env.CI && 'promtool is not installed (Debian package prometheus); CI runs this';
  t.test('promtool check metrics passes', { skip }, async (t) => {
    if (promtoolMissing) return t.fail('promtool is required in CI (Debian package prometheus)');
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.equal(result.status, 0, `promtool: ${result.stdout}${result.stderr}`);
    t.equal(`${result.stdout}${result.stderr}`.trim(), '', 'no lint findings');
  });

  t.test('gRPC server series, as go-grpc-prometheus names them', async (t) => {
    t.match(text, new RegExp(`^grpc_server_started_total\\{${CHECK}\\} 4$`, 'm'));
    t.match(text, new RegExp(`^grpc_server_handled_total\\{${CHECK},grpc_code="OK"\\} 2$`, 'm'));
    t.match(text, new RegExp(`^grpc_server_handled_total\\{${CHECK},grpc_code="UNAUTHENTICATED"\\} 1$`, 'm'));
    t.match(text, new RegExp(`^grpc_server_handled_total\\{${CHECK},grpc_code="PERMISSION_DENIED"\\} 1$`, 'm'));
    t.match(text, /^# TYPE grpc_server_handling_seconds histogram$/m);
    t.match(text, new RegExp(`^grpc_server_handling_seconds_count\\{${CHECK},grpc_code="OK"\\} 2$`, 'm'));
    t.match(text, new RegExp(`^grpc_server_handling_seconds_bucket\\{le="\\+Inf",${CHECK},grpc_code="PERMISSION_DENIED"\\} 1$`, 'm'));
  });

  t.test('HTTP server series, OpenTelemetry names; unknown methods are _OTHER', async (t) => {
    t.match(text, /^# TYPE http_server_request_duration_seconds histogram$/m);
    t.match(text, /^http_server_request_duration_seconds_count\{http_request_method="GET",http_response_status_code="200"\} 1$/m);
    t.match(text, /^http_server_request_duration_seconds_count\{http_request_method="POST",http_response_status_code="401"\} 1$/m);
    t.match(text, /^http_server_request_duration_seconds_count\{http_request_method="_OTHER",http_response_status_code="401"\} 1$/m);
    t.notMatch(text, /PROPFIND/);
  });

  t.test('own series: one prefix, build info, decisions of both transports, breaker state', async (t) => {
    t.match(text, new RegExp(`^authz_build_info\\{version="${VERSION.replace(/\./g, '\\.')}",node_version="${process.version}"\\} 1$`, 'm'));
    t.match(text, /^authz_checks_total\{outcome="allowed",target="default"\} 3$/m, 'two gRPC, one HTTP');
    t.match(text, /^authz_checks_total\{outcome="missing_token",target=""\} 3$/m);
    t.match(text, /^authz_checks_total\{outcome="insufficient_scope",target="default"\} 1$/m);
    t.match(text, /^authz_exchange_breaker_open\{target="default"\} 0$/m);
    t.match(text, /^authz_exchange_cache_hits_total 2$/m);
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!);
    const others = names.filter((name) => !/^(authz_|grpc_server_|http_server_|process_|nodejs_)/.test(name));
    t.same(others, [], 'every series is the service\'s (authz_), a standard server series or a process series');
  });

  t.test('no gauge ends in _total', async (t) => {
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((match) => match[1]!);
    t.same(gauges.filter((name) => name.endsWith('_total')), []);
    t.match(text, /^nodejs_active_handles\{/m, 'the per-type gauges stay');
  });

  t.test('the Grafana dashboards query only exported names', async (t) => {
    const exported = exportedNames(text);
    const files = readdirSync(new URL('../../deploy/grafana/', import.meta.url)).filter((name) => name.endsWith('.json'));
    t.ok(files.length > 0, 'a dashboard');
    for (const file of files) {
      const dashboard = JSON.parse(readFileSync(new URL(`../../deploy/grafana/${file}`, import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
      t.ok(exprs.length >= 10, `${file}: queries`);
      for (const { panel, expr } of exprs) {
        const names = promqlMetricNames(expr);
        t.ok(names.length > 0, `${panel}: names a metric`);
        for (const name of names) t.ok(exported.has(name), `${file}: "${panel}" uses ${name}`);
      }
      const used = new Set(exprs.flatMap(({ expr }) => promqlMetricNames(expr)));
      for (const name of ['authz_checks_total', 'grpc_server_handling_seconds_bucket', 'authz_exchange_cache_hits_total', 'authz_exchange_calls_total', 'authz_exchange_breaker_open', 'authz_jwks_fetches_total']) {
        t.ok(used.has(name), `${file} covers ${name}`);
      }
    }
  });
});

t.test('PromQL name extraction', async (t) => {
  t.same(promqlMetricNames('histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{grpc_method="Check", job=~"$job"}[$__rate_interval])))'), ['grpc_server_handling_seconds_bucket']);
  t.same(promqlMetricNames('sum(rate(a_total[5m])) / (sum(rate(a_total[5m])) + sum(rate(b_total{x="y(z)"}[5m])))'), ['a_total', 'b_total']);
  t.same(promqlMetricNames('count by (version, node_version) (authz_build_info) > bool 0'), ['authz_build_info']);
  t.same([...exportedNames('# TYPE h histogram\nh_bucket{le="1"} 1\n# TYPE c counter\nc_total 2\n')].sort(), ['c', 'c_total', 'h', 'h_bucket', 'h_count', 'h_sum']);
  t.notOk(exportedNames('# TYPE c counter\nc_total 1\n').has('authz_check_duration_seconds_bucket'), 'a name not exported is found missing');
});
