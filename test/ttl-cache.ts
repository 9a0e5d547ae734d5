import t from 'tap';
import { createTtlCache } from '../src/ttl-cache.js';
import { ManualClock } from './fixtures/clock.js';

t.test('each entry lives as long as its own ttl, on the injected clock', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const cache = createTtlCache<string>(10, clock.now);
  cache.set('short', 'a', { ttl: 1000 });
  cache.set('long', 'b', { ttl: 5000 });
  clock.advance(1000);
  t.equal(cache.get('short'), 'a', 'served for its whole ttl');
  clock.advance(1);
  t.equal(cache.get('short'), undefined, 'never served stale');
  t.equal(cache.has('short'), false);
  t.equal(cache.get('long'), 'b', 'another entry keeps its own lifetime');
  clock.advance(4000);
  t.equal(cache.get('long'), undefined);
  t.equal(cache.size, 0, 'expired entries are dropped when read');
});

t.test('a read never extends a lifetime (SPEC §4)', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const cache = createTtlCache<string>(10, clock.now);
  cache.set('k', 'v', { ttl: 1000 });
  for (let i = 0; i < 10; i++) {
    clock.advance(100);
    t.equal(cache.get('k'), 'v');
    t.ok(cache.has('k'));
  }
  clock.advance(1);
  t.equal(cache.get('k'), undefined, 'gone just past 1000 ms after set, however often it was read');
});

t.test('bounded: the least recently used entry is evicted, and the callback hears of evictions only', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  let evictions = 0;
  const cache = createTtlCache<string>(2, clock.now, { onEvict: () => evictions++ });
  cache.set('a', '1', { ttl: 10_000 });
  cache.set('b', '2', { ttl: 10_000 });
  cache.get('a');
  cache.set('c', '3', { ttl: 10_000 });
  t.equal(cache.size, 2);
  t.equal(cache.get('b'), undefined, 'the least recently used went');
  t.equal(cache.get('a'), '1');
  t.equal(evictions, 1);
  cache.set('a', 'replaced', { ttl: 10_000 });
  cache.delete('c');
  clock.advance(10_001);
  t.equal(cache.get('a'), undefined, 'expired');
  t.equal(evictions, 1, 'a replacement, a delete or an expiry is not an eviction');
});

t.test('without a callback, evicting still works', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const cache = createTtlCache<number>(1, clock.now);
  cache.set('a', 1, { ttl: 1000 });
  cache.set('b', 2, { ttl: 1000 });
  t.equal(cache.get('a'), undefined);
  t.equal(cache.get('b'), 2);
});

t.test('onRemove hears of every entry that leaves, whichever way, once', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const removed: string[] = [];
  let evictions = 0;
  const cache = createTtlCache<string>(2, clock.now, { onEvict: () => evictions++, onRemove: (value) => removed.push(value) });
  cache.set('a', 'evicted', { ttl: 10_000 });
  cache.set('b', 'replaced', { ttl: 10_000 });
  cache.set('c', 'deleted', { ttl: 10_000 });
  cache.set('b', 'expired', { ttl: 1000 });
  cache.delete('c');
  cache.set('d', 'kept', { ttl: 10_000 });
  clock.advance(1001);
  t.equal(cache.get('b'), undefined);
  t.same(removed, ['evicted', 'replaced', 'deleted', 'expired'], 'evicted, overwritten, deleted, expired: in that order');
  t.equal(evictions, 1, 'of which one eviction');
  cache.set('d', 'kept', { ttl: 10_000 });
  t.equal(removed.length, 4, 'setting the very same value again removes nothing');
});
