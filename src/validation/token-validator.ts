import type { Clock } from '../clock.js';
import { AuthzError } from '../errors.js';
import { createTtlCache } from '../ttl-cache.js';
import type { TraceParent } from '../ops/tracing.js';
import type { InboundToken } from './inbound-token.js';
import type { Principal, Validation } from './principal.js';

export interface IssuerValidator {
  validate(token: InboundToken, parent?: TraceParent): Promise<Validation>;
}

/**
 * Routes each token to its issuer's validator by `iss` before any signature
 * work (an untrusted issuer is refused without a network call); opaque tokens
 * go to the introspecting issuer, if there is one. Validated principals are
 * reused by token hash until the validator says (never past `exp`).
 */
export class TokenValidator {
  readonly #validated;

  constructor(
    private readonly byIssuer: ReadonlyMap<string, IssuerValidator>,
    private readonly forOpaqueTokens: IssuerValidator | undefined,
    cacheMax: number,
    private readonly clock: Clock,
  ) {
    this.#validated = createTtlCache<Principal>(cacheMax, clock);
  }

  /** Synchronous on a cache hit, so the hot path allocates no promise. */
  validate(token: InboundToken, parent?: TraceParent): Principal | Promise<Principal> {
    return this.#validated.get(token.hash) ?? this.#validate(token, parent);
  }

  async #validate(token: InboundToken, parent: TraceParent | undefined): Promise<Principal> {
    const { principal, reusableUntil } = await this.#validatorFor(token).validate(token, parent);
    const ttl = Math.floor(reusableUntil - this.clock());
    if (ttl > 0) this.#validated.set(token.hash, principal, { ttl });
    return principal;
  }

  #validatorFor(token: InboundToken): IssuerValidator {
    const claims = unverifiedClaims(token.value);
    if (claims === undefined) {
      if (this.forOpaqueTokens) return this.forOpaqueTokens;
      throw new AuthzError('invalid_token', 'the access token is malformed');
    }
    const validator = typeof claims.iss === 'string' ? this.byIssuer.get(claims.iss) : undefined;
    if (!validator) throw new AuthzError('invalid_token', 'the access token\'s issuer is not trusted');
    return validator;
  }
}

/** The payload of a JWS compact serialisation, unverified (used only to pick the validator), or undefined for anything else. */
function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString());
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
