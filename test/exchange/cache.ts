import t from 'tap';
import { ExchangeCache, type ExchangedToken } from '../../src/exchange/cache.js';
import type { TokenExchanger } from '../../src/exchange/token-exchange.js';
import { METRIC_PREFIX, Metrics } from '../../src/ops/metrics.js';
import { inboundToken } from '../../src/validation/inbound-token.js';
import type { Principal } from '../../src/validation/principal.js';
import { ManualClock } from '../fixtures/clock.js';

/** A FAKE exchanger: answers from memory with the lifetime the test sets, and counts its calls. */
function exchanger(expiresIn: () => number | undefined) {
  let calls = 0;
  const fake = {
    identity: 'target',
    target: { name: 'target' },
    get calls() {
      return calls;
    },
    exchange: async () => ({ accessToken: `exchanged-${++calls}`, expiresIn: expiresIn() }),
  };
  return fake as typeof fake & TokenExchanger;
}

/** The cache under test is the real one; what it keeps counts its releases. */
function setUp(max: number, expiresIn: () => number | undefined = () => 600) {
  const clock = new ManualClock(1_800_000_000_000);
  const metrics = new Metrics({ version: 't', nodeVersion: 'v' });
  const released = new Map<string, number>();
  const keep = (value: string): ExchangedToken => ({ value, release: () => released.set(value, (released.get(value) ?? 0) + 1) });
  const cache = new ExchangeCache(max, 300, clock.now, metrics, keep);
  const principal: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: [], expiresAt: clock.seconds + 3600 };
  const token = (n: number) => inboundToken(`eyJhbGciOiJFUzI1NiJ9.e30.c2ln${n}`);
  const target = exchanger(expiresIn);
  const get = async (n: number) => (await cache.get(token(n), principal, target)).value;
  const evictions = () => metrics.value(`${METRIC_PREFIX}exchange_cache_evictions_total`);
  return { clock, cache, released, target, get, evictions };
}

t.test('the least recently used answer, evicted to stay within max, is released once', async (t) => {
  const { cache, released, get, evictions } = setUp(2);
  await get(1);
  await get(2);
  t.same([...released], [], 'nothing released while held');
  await get(3);
  t.equal(cache.size, 2);
  t.same([...released], [['exchanged-1', 1]], 'the evicted answer, once');
  t.equal(await evictions(), 1, 'counted as an eviction');
});

t.test('an expired answer is released once, and not counted as an eviction', async (t) => {
  const { clock, released, target, get, evictions } = setUp(10);
  await get(1);
  // Lifetime: 600 s less 30 s of skew (SPEC §4).
  clock.advance(570_001);
  t.equal(await get(1), 'exchanged-2', 'expired: exchanged again');
  t.equal(target.calls, 2);
  t.same([...released], [['exchanged-1', 1]], 'the expired answer, once');
  t.equal(await evictions(), 0);
});

t.test('a refresh ahead replaces the answer and releases the one it replaced, once', async (t) => {
  const { clock, cache, released, target, get, evictions } = setUp(10);
  await get(1);
  // Lifetime: 570 s (600 s less 30 s of skew); its last tenth begins 513 s in.
  clock.advance(520_000);
  t.equal(await get(1), 'exchanged-1', 'still served while the refresh runs');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(target.calls, 2, 'one refresh');
  t.equal(await get(1), 'exchanged-2', 'the refreshed answer is served');
  t.same([...released], [['exchanged-1', 1]], 'the replaced answer, once');
  t.equal(cache.size, 1);
  t.equal(await evictions(), 0, 'a replacement is not an eviction');
});

t.test('an answer with no cached life is released once, at once, and still answers its request', async (t) => {
  const { cache, released, get } = setUp(10, () => 0);
  t.equal(await get(1), 'exchanged-1', 'the request gets its answer');
  t.equal(cache.size, 0, 'not cached');
  t.same([...released], [['exchanged-1', 1]]);
  t.equal(await get(1), 'exchanged-2', 'the next request exchanges again');
  t.same([...released], [['exchanged-1', 1], ['exchanged-2', 1]]);
});

t.test('answers kept without a release are cached as before', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const cache = new ExchangeCache(1, 300, clock.now, new Metrics({ version: 't', nodeVersion: 'v' }), (value) => ({ value }));
  const principal: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: [], expiresAt: clock.seconds + 3600 };
  const target = exchanger(() => 600);
  for (const n of [1, 2, 1]) await cache.get(inboundToken(`eyJhbGciOiJFUzI1NiJ9.e30.c2ln${n}`), principal, target);
  t.equal(target.calls, 3, 'evicted and exchanged again, with nothing to release');
  t.equal(cache.size, 1);
});
