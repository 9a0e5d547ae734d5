/** Which settings a reload applies and which wait for a restart (SPEC §5). */
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { applicable } from '../src/reload.js';

const env = {
  MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
  AUTHORIZATION_SERVER_URL: 'https://as.example.com',
  CLIENT_ID: 'gateway',
  CLIENT_SECRET: 'secret-one',
};

t.test('everything applies except what the listeners, the process and the cache hold', async (t) => {
  const running = loadConfig(env);
  const next = loadConfig({ ...env, CLIENT_SECRET: 'secret-two', EXCHANGE_SCOPE: 'orders:read', GRPC_PORT: '7001', WORKERS: '4', EXCHANGE_CACHE_MAX: '5', CLOCK_TOLERANCE: '5' });
  const { config, ignored } = applicable(running, next);
  t.same(ignored, ['GRPC_PORT', 'WORKERS', 'EXCHANGE_CACHE_MAX']);
  t.equal(config.listen.grpcPort, running.listen.grpcPort);
  t.equal(config.workers, running.workers);
  t.equal(config.cache.max, running.cache.max);
  t.equal(config.settings.grpcPort, running.settings.grpcPort, 'Config.settings keeps the running value of a restart-only setting, as the views do');
  t.equal(config.settings.workers, running.settings.workers);
  t.equal(config.settings.clockTolerance, 5, 'a setting that applies is next\'s');
  t.equal(config.targets[0]?.client.secret, 'secret-two', 'a rotated secret applies');
  t.equal(config.targets[0]?.scope, 'orders:read');
  t.equal(config.validation.clockToleranceSeconds, 5);
  t.ok(Object.isFrozen(config));
});

t.test('an unchanged configuration ignores nothing', async (t) => {
  t.same(applicable(loadConfig(env), loadConfig(env)).ignored, []);
});

t.test('the heap settings wait for a restart: the running sizing stays', async (t) => {
  const running = loadConfig(env);
  const next = loadConfig({ ...env, HEAP_LIMIT_FLOOR_MB: '64', HEAP_GROWING_PERCENT: '20' });
  const { config, ignored } = applicable(running, next);
  t.same(ignored, ['HEAP_GROWING_PERCENT', 'HEAP_LIMIT_FLOOR_MB']);
  t.equal(config.heapGrowingPercent, 10);
  t.equal(config.settings.heapLimitFloorMb, 48);
  t.ok(Object.isFrozen(config.settings));
});
