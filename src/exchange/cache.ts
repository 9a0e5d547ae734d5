import type { Clock } from '../clock.js';
import type { Metrics } from '../ops/metrics.js';
import { createTtlCache } from '../ttl-cache.js';
import type { InboundToken } from '../validation/inbound-token.js';
import type { Principal } from '../validation/principal.js';
import { createHash } from 'node:crypto';
import type { TraceParent } from '../ops/tracing.js';
import type { ExchangeResult, TokenExchanger } from './token-exchange.js';

/** Longest skew taken off `expires_in` (SPEC §4: min(30 s, 10 %)). */
const MAX_SKEW_SECONDS = 30;

/**
 * How long an exchanged token may be served (SPEC §4): `expires_in` less a
 * skew of min(30 s, 10 %), else the fallback TTL; never past the inbound
 * token's `exp`. Zero or less means "do not cache".
 */
export function cacheLifetimeMs(result: ExchangeResult, principal: Principal, fallbackTtlSeconds: number, now: number): number {
  const { expiresIn } = result;
  const lifetimeSeconds = expiresIn === undefined ? fallbackTtlSeconds : expiresIn - Math.min(MAX_SKEW_SECONDS, expiresIn * 0.1);
  return Math.floor(Math.min(lifetimeSeconds * 1000, principal.expiresAt * 1000 - now));
}

/**
 * Exchanged tokens by (exchange target, inbound token hash, actor token hash). Bounded LRU;
 * concurrent misses for one key share a single call to the token endpoint.
 * A failed exchange is not cached.
 */
export class ExchangeCache {
  readonly #entries;
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(
    max: number,
    private readonly fallbackTtlSeconds: number,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {
    this.#entries = createTtlCache<string>(max, clock, () => metrics.cacheEviction());
  }

  /** The exchanged token for this inbound token and target, from the cache or one shared call. */
  get(token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken?: string, parent?: TraceParent): Promise<string> | string {
    const actorKey = actorToken === undefined ? '' : `.${createHash('sha256').update(actorToken).digest('base64url')}`;
    const key = `${exchanger.identity}.${token.hash}${actorKey}`;
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.metrics.cacheHit();
      return cached;
    }
    this.metrics.cacheMiss();
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#exchange(key, token, principal, exchanger, actorToken, parent);
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #exchange(key: string, token: InboundToken, principal: Principal, exchanger: TokenExchanger, actorToken: string | undefined, parent: TraceParent | undefined): Promise<string> {
    try {
      const result = await exchanger.exchange(token.value, actorToken, parent);
      const ttl = cacheLifetimeMs(result, principal, this.fallbackTtlSeconds, this.clock());
      if (ttl > 0) this.#entries.set(key, result.accessToken, { ttl });
      return result.accessToken;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
