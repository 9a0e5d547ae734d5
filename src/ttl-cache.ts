import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';

/**
 * A bounded LRU whose every entry carries its own lifetime (set per `set`),
 * measured on the injected clock. Never serves a stale entry and never extends
 * a lifetime on read: an entry derived from a token must die with it (SPEC §4).
 */
export function createTtlCache<V extends {}>(max: number, clock: Clock, onEvict?: () => void): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max,
    ...(onEvict ? { dispose: (_value: V, _key: string, reason: LRUCache.DisposeReason) => reason === 'evict' && onEvict() } : {}),
    allowStale: false,
    updateAgeOnGet: false,
    updateAgeOnHas: false,
    ttlAutopurge: false,
    perf: { now: clock },
  });
}
