import type { Clock } from '../clock.js';
import type { CacheKey } from '../config/cache-keys.js';
import type { Metrics } from '../ops/metrics.js';
import type { InboundToken } from '../validation/inbound-token.js';
import { open, redisKeyOf, seal, type EntryName, type SharedEntry } from './sealing.js';
import { SharedStoreError, type RedisStore } from './shared-store.js';

/** A shared entry in the last tenth of its life is left for a refresh, as a local one would be (see ExchangeCache). */
const REFRESH_AHEAD_FRACTION = 0.1;
/** At most one warning in this window; the rest are counted in the metrics and summed in the next warning. */
const LOG_INTERVAL_MS = 10_000;

/** What the shared tier reports; the app logs it at a bounded rate (never a token). */
export type SharedCacheWarning = (reason: string, error: unknown, suppressed: number) => void;

/**
 * The shared tier behind each process's own cache (SPEC §4b): exchanged tokens
 * sealed in Redis under HMAC keys, one writing key and any number of reading
 * ones. A cache, never an authority: every failure (Redis error or timeout, an
 * unknown kid, a value that does not open) is a miss, counted, and logged at a
 * bounded rate; `get` never rejects and `set` never waits.
 */
export class SharedExchangeCache {
  #lastWarned = -Infinity;
  /** failures not logged since the last warning */
  #suppressed = 0;

  constructor(
    private readonly store: RedisStore,
    /** `CACHE_KEYS_FILE`: the first writes, all read; a reload may replace them ({@link useKeys}) */
    private keys: readonly CacheKey[],
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly warn: SharedCacheWarning,
  ) {}

  /** SPEC §4b rotation on reload: a new first line writes under the new kid from now on. */
  useKeys(keys: readonly CacheKey[]): void {
    if (keys.length > 0) this.keys = keys;
  }

  /** The entry for `name` if some replica stored one that opens and is not about to expire; otherwise undefined. */
  async get(name: EntryName): Promise<SharedEntry | undefined> {
    const started = performance.now();
    const redisKeys = this.keys.map((key) => redisKeyOf(key, name));
    let values: Array<string | null>;
    try {
      values = await this.store.mget(redisKeys);
    } catch (error) {
      return this.#miss(started, error instanceof SharedStoreError ? error.reason : 'unavailable', error);
    }
    let failure: 'malformed' | 'unknown_kid' | 'unopenable' | undefined;
    for (const [i, value] of values.entries()) {
      if (typeof value !== 'string') continue;
      const opened = open(this.keys, redisKeys[i]!, name, value);
      if (!opened.ok) {
        failure = opened.reason;
        continue;
      }
      const remaining = opened.entry.expiresAt - this.clock();
      if (remaining > opened.entry.lifetimeMs * REFRESH_AHEAD_FRACTION) {
        this.metrics.sharedCache('hit', (performance.now() - started) / 1000);
        return opened.entry;
      }
    }
    return this.#miss(started, failure);
  }

  /** Stores a freshly exchanged token under the writing key, in the background; a failure is counted, never thrown. */
  set(name: EntryName, value: string, lifetimeMs: number): void {
    if (!(lifetimeMs > 0)) return; // SPEC §3: a lifetime ≤ 0 is never cached
    const key = this.keys[0]!;
    const redisKey = redisKeyOf(key, name);
    const sealed = seal(key, redisKey, name, { value, expiresAt: this.clock() + lifetimeMs, lifetimeMs });
    this.store.set(redisKey, sealed, Math.ceil(lifetimeMs)).catch((error: unknown) => {
      const reason = error instanceof SharedStoreError ? error.reason : 'unavailable';
      this.metrics.sharedCacheError(reason);
      this.#warn(`write_${reason}`, error);
    });
  }

  /** A connection-level error of the store (refused, reset, TLS, AUTH): counted and logged at a bounded rate. */
  connectionError(error: unknown): void {
    this.metrics.sharedCacheError('connection');
    this.#warn('connection', error);
  }

  #miss(started: number, reason: string | undefined, error?: unknown): undefined {
    this.metrics.sharedCache('miss', (performance.now() - started) / 1000);
    if (reason !== undefined) {
      this.metrics.sharedCacheError(reason);
      this.#warn(reason, error);
    }
    return undefined;
  }

  #warn(reason: string, error: unknown): void {
    const now = this.clock();
    if (now - this.#lastWarned < LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.warn(reason, error, this.#suppressed);
    this.#lastWarned = now;
    this.#suppressed = 0;
  }
}

/** The shared tier's name for an exchange: what the local key covers (SPEC §4), with the token itself for sealing. */
export function entryName(token: InboundToken, identity: string, actorToken: string | undefined): EntryName {
  return { identity, inboundToken: token.value, tokenHash: token.hash, actorToken };
}
