import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.js';
import { AuthzError } from '../errors.js';
import { createTtlCache } from '../ttl-cache.js';
import type { InboundToken } from './inbound-token.js';
import type { Principal } from './principal.js';
import { scopesOf } from './scopes.js';

export interface JwtValidatorOptions {
  readonly issuer: string;
  /** must appear in `aud` (RFC 9068 §4, RFC 8707) */
  readonly audience: string;
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  /** the issuer's key set, created once (jose `createRemoteJWKSet`) */
  readonly keys: () => Promise<JWTVerifyGetKey>;
  readonly cacheMax: number;
  readonly clock: Clock;
}

/** jose failures that mean "could not get the keys", not "bad token". */
const KEY_SET_UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

/**
 * Validates JWT access tokens (RFC 9068) against the issuer's JWKS with an
 * algorithm allow-list. A verified token's principal is cached by the token's
 * hash until its `exp`, so a repeat check does no signature work.
 */
export class JwtValidator {
  readonly #options: JwtValidatorOptions;
  readonly #verified;

  constructor(options: JwtValidatorOptions) {
    if (options.algorithms.length === 0) throw new TypeError('JwtValidator needs at least one algorithm');
    this.#options = options;
    this.#verified = createTtlCache<Principal>(options.cacheMax, options.clock);
  }

  async validate(token: InboundToken): Promise<Principal> {
    const cached = this.#verified.get(token.hash);
    if (cached) return cached;

    const { issuer, audience, algorithms, clockToleranceSeconds, clock } = this.#options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token.value, await this.#options.keys(), {
        issuer,
        audience,
        algorithms: [...algorithms],
        clockTolerance: clockToleranceSeconds,
        currentDate: new Date(clock()),
        // RFC 9068 §2.2: exp is required; without it nothing could bound the caches.
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw classify(error);
    }

    const principal: Principal = {
      issuer,
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
      scopes: scopesOf(payload),
      expiresAt: payload.exp!,
    };
    const ttl = principal.expiresAt * 1000 - clock();
    if (ttl > 0) this.#verified.set(token.hash, principal, { ttl });
    return principal;
  }
}

function classify(error: unknown): AuthzError {
  if (error instanceof AuthzError) return error;
  if (error instanceof joseErrors.JOSEError) {
    if (KEY_SET_UNAVAILABLE.has(error.code)) {
      return new AuthzError('unavailable', 'the issuer\'s key set could not be fetched', { cause: error });
    }
    return new AuthzError('invalid_token', describe(error), { cause: error });
  }
  return new AuthzError('internal', 'token validation failed unexpectedly', { cause: error });
}

/** A description that is safe to return to the client: never the token or its claims' values. */
function describe(error: InstanceType<typeof joseErrors.JOSEError>): string {
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'the access token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `the access token's "${(error as InstanceType<typeof joseErrors.JWTClaimValidationFailed>).claim}" claim is not acceptable`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the access token\'s signing algorithm is not allowed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'the access token is signed with an unknown key';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the access token\'s signature is invalid';
    default:
      return 'the access token is malformed';
  }
}
