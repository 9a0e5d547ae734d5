import type { Clock } from '../clock.js';
import { AuthzError, RateLimitedError } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import type { LRUCache } from 'lru-cache';
import { createTtlCache } from '../ttl-cache.js';
import type { InboundToken } from '../validation/inbound-token.js';
import type { Principal } from '../validation/principal.js';
import { hash } from 'node:crypto';
import type { TraceParent } from '../ops/tracing.js';
import type { ExchangeResult, TokenExchanger } from './token-exchange.js';
import { entryName, type SharedExchangeCache } from './shared-cache.js';

/** Longest skew taken off `expires_in` (SPEC §4: min(30 s, 10 %)). */
const MAX_SKEW_SECONDS = 30;

/**
 * How long an exchanged token may be served (SPEC §4): `expires_in` less a
 * skew of min(30 s, 10 %), else the fallback TTL; never past the inbound
 * token's `exp`. Zero or less means "do not cache".
 */
export function cacheLifetimeMs(result: ExchangeResult, principal: Principal, fallbackTtlSeconds: number, now: number): number {
  const { expiresIn } = result;
  // SPEC §3: already expired by the server's word: used for this request only.
  if (expiresIn !== undefined && expiresIn <= 0) return 0;
  const lifetimeSeconds = expiresIn === undefined ? fallbackTtlSeconds : expiresIn - Math.min(MAX_SKEW_SECONDS, expiresIn * 0.1);
  return Math.floor(Math.min(lifetimeSeconds * 1000, principal.expiresAt * 1000 - now));
}

/** What the cache keeps for an exchanged token: the token, possibly in a form ready to send. */
export interface ExchangedToken {
  readonly value: string;
  /**
   * The cache no longer holds this: called once, whichever way it left (evicted,
   * expired, replaced by a refresh), or at once for an answer never cached
   * (a lifetime of zero or less). Whoever still has it may go on using it.
   */
  release?(): void;
}

/**
 * Turns a fresh exchanged token into what the cache keeps; injected by the app
 * wiring. The app keeps the gRPC transport's encoded allow answer
 * (grpc/encoded-allow.ts), so a hit sends bytes built once and the token is
 * held once, packed with other answers in a shared slab it gives back on
 * `release`; any other transport reads `value`.
 */
export type KeepExchanged = (value: string, principal: Principal, exchanger: TokenExchanger) => ExchangedToken;

/** A hit in the last tenth of its entry's cached life starts a refresh. */
const REFRESH_AHEAD_FRACTION = 0.1;

/** A refused exchange is answered again without a call for this long, so a client retrying a refused token cannot flood the server. */
const REFUSAL_MEMORY_MS = 5000;

/**
 * Most answers held back at once. Holding stops one client retrying one key;
 * it cannot stop a flood of distinct tokens (each is refused once before it is
 * held), so it needs no slot per cached token: lru-cache sizes its arrays by
 * `max` up front, and this keeps them small when the cache is large.
 */
const HELD_MAX = 10_000;

/** An answer held back for one key: a refusal, or a 429 until its `retry-after` (SPEC §3). */
interface Held {
  readonly error: AuthzError;
  readonly until: number;
}

/**
 * Exchanged tokens by (exchange target, inbound token hash, actor token hash).
 * Bounded LRU; concurrent misses for one key share a single call to the token
 * endpoint. In the last tenth of an entry's life a hit still serves it and
 * starts one background refresh (never served past its expiry). A refusal is
 * remembered briefly and a 429 until its `retry-after`, for that key only;
 * other failures are not cached.
 */
export class ExchangeCache {
  readonly #entries;
  readonly #held;
  readonly #inFlight = new Map<string, Promise<ExchangedToken>>();
  /** Key prefix by target identity: '' for the first target seen, else the identity and `~` (see `#key`). */
  readonly #prefixes = new Map<string, string>();
  /** Options for every read, reused: lru-cache writes the entry's ttl and remaining ttl into `status`. */
  readonly #read: { status: LRUCache.Status<string, ExchangedToken> } = { status: {} };

  constructor(
    max: number,
    private readonly fallbackTtlSeconds: number,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly keep: KeepExchanged,
    /** SPEC §4b: local → shared → token endpoint, when REDIS_URL is set */
    private readonly shared?: SharedExchangeCache,
  ) {
    this.#entries = createTtlCache<ExchangedToken>(max, clock, { onEvict: () => metrics.cacheEviction(), onRemove: (kept) => kept.release?.() });
    this.#held = createTtlCache<Held>(Math.min(max, HELD_MAX), clock);
  }

  /** The exchanged token for this inbound token and target, from the cache or one shared call. */
  get(token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken?: string, parent?: TraceParent): Promise<ExchangedToken> | ExchangedToken {
    const key = this.#key(token, exchanger, actorToken);
    const cached = this.#entries.get(key, this.#read);
    if (cached !== undefined) {
      this.metrics.cacheHit();
      const { ttl, remainingTTL } = this.#read.status;
      if (ttl !== undefined && remainingTTL !== undefined && remainingTTL <= ttl * REFRESH_AHEAD_FRACTION && !this.#inFlight.has(key)) {
        // Refresh ahead; a failure leaves the current entry to serve until it expires.
        this.#start(key, token, principal, exchanger, actorToken, parent).catch(() => {});
      }
      return cached;
    }
    this.metrics.cacheMiss();
    const held = this.#held.get(key);
    if (held) return Promise.reject(this.#stillHeld(held));
    return this.#inFlight.get(key) ?? this.#start(key, token, principal, exchanger, actorToken, parent);
  }

  #start(key: string, token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken: string | undefined, parent: TraceParent | undefined): Promise<ExchangedToken> {
    const pending = this.#exchange(key, token, principal, exchanger, actorToken, parent);
    this.#inFlight.set(key, pending);
    return pending;
  }

  async #exchange(key: string, token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken: string | undefined, parent: TraceParent | undefined): Promise<ExchangedToken> {
    try {
      const fromShared = this.shared && (await this.#fromShared(key, token, principal, exchanger, actorToken));
      if (fromShared) return fromShared;
      const result = await exchanger.exchange(token.value, actorToken, parent);
      const now = this.clock();
      const ttl = cacheLifetimeMs(result, principal, this.fallbackTtlSeconds, now);
      const kept = this.keep(result.accessToken, principal, exchanger);
      if (ttl > 0) this.#entries.set(key, kept, { ttl });
      else kept.release?.();
      this.shared?.set(entryName(token, exchanger.identity, actorToken), result.accessToken, ttl);
      return kept;
    } catch (error) {
      const holdMs = error instanceof RateLimitedError ? error.retryAfterSeconds * 1000 : error instanceof AuthzError && error.code === 'exchange_refused' ? REFUSAL_MEMORY_MS : 0;
      if (holdMs > 0) this.#held.set(key, { error: error as AuthzError, until: this.clock() + holdMs }, { ttl: holdMs });
      throw error;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** A held 429 answers with the time still to wait, not the server's original figure. */
  #stillHeld(held: Held): AuthzError {
    if (!(held.error instanceof RateLimitedError)) return held.error;
    return new RateLimitedError(Math.max(1, Math.ceil((held.until - this.clock()) / 1000)));
  }

  /** A shared hit fills the local cache for the rest of its life (never past the inbound token's `exp`) and is kept like a fresh exchange. */
  async #fromShared(key: string, token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken: string | undefined): Promise<ExchangedToken | undefined> {
    const entry = await this.shared!.get(entryName(token, exchanger.identity, actorToken));
    if (entry === undefined) return undefined;
    const now = this.clock();
    const ttl = Math.floor(Math.min(entry.expiresAt - now, principal.expiresAt * 1000 - now));
    if (ttl <= 0) return undefined;
    const kept = this.keep(entry.value, principal, exchanger);
    this.#entries.set(key, kept, { ttl });
    return kept;
  }

  /**
   * (target identity, inbound token hash, actor token hash), as
   * `[identity "~"] tokenHash ["." actorHash]`. Each part is base64url
   * (RFC 4648 §5), which has neither `~` nor `.`: each separator marks one
   * optional part, so two distinct triples never give one key, whatever the
   * parts' lengths. The first target's keys carry no identity: they are the
   * bare token hash, the very string the validated-principal cache is keyed
   * by, so the usual one-target set-up holds no second key per token.
   */
  #key(token: InboundToken, exchanger: TokenExchanger, actorToken: string | undefined): string {
    let prefix = this.#prefixes.get(exchanger.identity);
    if (prefix === undefined) this.#prefixes.set(exchanger.identity, (prefix = this.#prefixes.size === 0 ? '' : `${exchanger.identity}~`));
    const base = prefix === '' ? token.hash : prefix + token.hash;
    return actorToken === undefined ? base : `${base}.${hash('sha256', actorToken, 'base64url')}`;
  }

  get size(): number {
    return this.#entries.size;
  }
}
