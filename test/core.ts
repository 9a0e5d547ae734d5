/**
 * One core built from a configuration (SPEC §5: a reload builds a new one and
 * retires the old), against the REAL authorization server (oidc-provider) on
 * 127.0.0.1: warm-up loads keys and endpoints and retries until it can, a
 * Check is decided by the pipeline it wires, retiring waits for the checks in
 * flight, and the RFC 9728 metadata paths are answered only when configured.
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { Decision } from '../src/check/pipeline.js';
import { loadConfig } from '../src/config/load.js';
import { buildCore, type CoreDeps } from '../src/core.js';
import { ExchangeCache } from '../src/exchange/cache.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/ops/metrics.js';
import { resourceMetadataPaths } from '../src/ops/resource-metadata.js';
import { Principals } from '../src/validation/principal.js';
import { authorizationServer, bearer, RESOURCE, serviceEnv } from './fixtures/service.js';

const request = (token: string) => ({ attributes: { request: { http: { ...bearer(token), method: 'POST', path: '/mcp' } } } });

/** The real metrics, which also report each JWKS fetch as it is counted, so a test can wait for one. */
class JwksReportingMetrics extends Metrics {
  readonly fetches = new EventEmitter();

  override jwksFetch(outcome: string): void {
    super.jwksFetch(outcome);
    this.fetches.emit('fetch', outcome);
  }
}

/** A core for `env`, with the logs it writes and its metrics; retired at the end of the test. */
function coreFor(t: Test, env: Record<string, string | undefined>) {
  const config = loadConfig(env);
  const lines: Array<Record<string, unknown>> = [];
  let logged: (line: Record<string, unknown>) => void = () => {};
  const log = createLogger('debug', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    logged(line);
  });
  const metrics = new JwksReportingMetrics({ version: 'test', nodeVersion: process.version });
  const deps: CoreDeps = {
    clock: Date.now,
    log,
    metrics,
    cache: new ExchangeCache(config.cache.max, config.cache.ttlSeconds, Date.now, metrics, (value) => ({ value })),
    tracing: undefined,
    metadataPaths: resourceMetadataPaths(config.resourceUrl),
    principals: new Principals(),
  };
  const core = buildCore(config, deps);
  let retired = false;
  t.teardown(() => (retired ? undefined : core.retire()));
  const warm = () => new Promise<void>((resolve) => core.warmUp(resolve));
  const nextLog = (match: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve) => {
      logged = (line) => {
        if (match(line)) resolve(line);
      };
    });
  const retire = async () => {
    retired = true;
    await core.retire();
  };
  return { core, config, lines, metrics, warm, nextLog, retire };
}

const allowed = (decision: Decision) => (decision.allowed ? decision.exchanged.value : `denied: ${decision.error.code}`);

t.test('warm-up loads the keys and the token endpoint; a Check is then validated and exchanged', async (t) => {
  const as = await authorizationServer(t);
  const { core, config, warm, metrics } = coreFor(t, serviceEnv(as));
  t.equal(core.config, config);
  t.equal(core.exchangers.length, 1, 'one exchanger per target');
  await warm();
  t.match(await metrics.registry.getSingleMetricAsString('authz_jwks_fetches_total'), /outcome="ok"} 1/, 'the key set was fetched during warm-up');
  const token = await as.mintAccessToken({ sub: 'alice' });
  const exchanged = allowed(await core.decide(request(token)));
  t.match(exchanged, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'allowed with an exchanged JWT');
  t.not(exchanged, token);
  t.equal(as.exchanges.length, 1);
  t.equal(allowed(await core.decide(request(token))), exchanged, 'the second Check is answered from the cache');
  t.equal(as.exchanges.length, 1);
  t.equal(allowed(await core.decide(request('not-a-jwt'))), 'denied: invalid_token');
});

t.test('refreshKeys fetches the key sets again', async (t) => {
  const as = await authorizationServer(t);
  const { core, warm, metrics } = coreFor(t, serviceEnv(as));
  await warm();
  const fetched = once(metrics.fetches, 'fetch');
  core.refreshKeys();
  t.same(await fetched, ['ok']);
  t.match(await metrics.registry.getSingleMetricAsString('authz_jwks_fetches_total'), /outcome="ok"} 2/, 'a second JWKS fetch');
});

t.test('an authorization server not reachable yet: a warning naming the URL, then retries until it is', async (t) => {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const issuer = `http://127.0.0.1:${port}`;
  const { core, nextLog } = coreFor(t, serviceEnv({ issuer }, { JWKS_URI: `${issuer}/jwks?sig=s3cr3t` }));
  const warning = nextLog((line) => line.level === 'warn');
  let warmed = false;
  const ready = new Promise<void>((resolve) =>
    core.warmUp(() => {
      warmed = true;
      resolve();
    }),
  );
  t.match(await warning, { msg: 'authorization server not reachable yet; retrying', url: `${issuer}/jwks`, attempt: 1, retry_in_ms: Number }, 'the URL without its query');
  t.notOk(warmed);
  const as = await authorizationServer(t, { port });
  t.equal(as.issuer, issuer);
  await ready;
  t.equal(allowed(await core.decide(request(await as.mintAccessToken({ sub: 'alice' })))).split('.').length, 3, 'allowed once warm');
});

t.test('a core retired while warming up stops: its failed attempt is not reported, and it never becomes warm', async (t) => {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const { core, lines, retire } = coreFor(t, serviceEnv({ issuer: `http://127.0.0.1:${port}` }));
  let warmed = false;
  core.warmUp(() => (warmed = true));
  await retire(); // closing the clients waits for the attempt in flight, which fails
  await new Promise((resolve) => setImmediate(resolve));
  t.same(lines.filter((line) => line.level === 'warn'), [], 'the failed attempt of a retired core is not reported');
  t.notOk(warmed);
});

t.test('retiring waits for the checks in flight, then closes the clients', async (t) => {
  const as = await authorizationServer(t);
  const { core, warm, retire } = coreFor(t, serviceEnv(as));
  await warm();
  as.exchangeDelayMs = 300;
  const events: string[] = [];
  const decision = Promise.resolve(core.decide(request(await as.mintAccessToken({ sub: 'bob' })))).then((answer) => {
    events.push('decided');
    return answer;
  });
  await retire().then(() => events.push('retired'));
  t.same(events, ['decided', 'retired']);
  t.equal(allowed(await decision).split('.').length, 3, 'the check in flight was allowed, not cut off');
});

t.test('the RFC 9728 metadata paths are answered only when SERVE_RESOURCE_METADATA is on', async (t) => {
  const as = await authorizationServer(t);
  const metadataRequest = { attributes: { request: { http: { method: 'GET', path: resourceMetadataPaths(RESOURCE)[0], headers: {} } } } };
  const on = coreFor(t, serviceEnv(as));
  t.equal(allowed(await on.core.decide(metadataRequest)), 'denied: resource_metadata', 'answered with the document (a 200 local reply)');
  const off = coreFor(t, serviceEnv(as, { SERVE_RESOURCE_METADATA: 'false' }));
  t.equal(allowed(await off.core.decide(metadataRequest)), 'denied: missing_token', 'an ordinary request, without a token');
});

t.test('an introspecting issuer: no key set to warm, tokens introspected (RFC 7662)', async (t) => {
  const as = await authorizationServer(t);
  const { core, warm, metrics } = coreFor(t, serviceEnv(as, { INTROSPECTION_ENDPOINT_URL: as.introspectionEndpoint }));
  await warm();
  t.notMatch(await metrics.registry.getSingleMetricAsString('authz_jwks_fetches_total'), /outcome=/, 'no JWKS fetched');
  const opaque = await as.mintOpaqueToken({ sub: 'carol' });
  const decision = await core.decide(request(opaque));
  t.equal(as.introspections, 1, 'introspected at the server');
  t.match(decision, { principal: { subject: 'carol' } }, 'validated: the principal comes from the introspection answer');
  // The dev server will not exchange an opaque subject token; that the exchange was tried is what matters here.
  t.equal(allowed(decision), 'denied: exchange_refused', 'then exchanged at the token endpoint');
});
