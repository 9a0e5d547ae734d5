import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.js';
import type { IssuerConfig } from '../config/model.js';
import { AuthzError } from '../errors.js';
import type { InboundToken } from './inbound-token.js';
import type { Principals, Validation } from './principal.js';
import { scopesOf } from './scopes.js';

/** jose failures that mean "could not get the keys", not "bad token". */
const KEY_SET_UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

/**
 * Validates one issuer's JWT access tokens (RFC 9068) against its JWKS with an
 * algorithm allow-list, `iss`, `aud` (one of the accepted audiences), `exp`
 * (required) / `nbf` with leeway, and optionally `typ` (RFC 9068 §4).
 */
export class JwtValidator {
  constructor(
    private readonly issuer: IssuerConfig,
    /** the issuer's key set, created once (jose `createRemoteJWKSet`) */
    private readonly keys: () => Promise<JWTVerifyGetKey>,
    private readonly clockToleranceSeconds: number,
    private readonly clock: Clock,
    /** the app's principal builder (one per app, shared by every validator) */
    private readonly principals: Principals,
  ) {
    if (issuer.algorithms.length === 0) throw new TypeError('JwtValidator needs at least one algorithm');
  }

  async validate(token: InboundToken): Promise<Validation> {
    const { issuer, audiences, algorithms, tokenTypes } = this.issuer;
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token.value, await this.keys(), {
        issuer,
        audience: [...audiences],
        algorithms: [...algorithms],
        clockTolerance: this.clockToleranceSeconds,
        currentDate: new Date(this.clock()),
        // RFC 9068 §2.2: exp is required; without it nothing could bound the caches.
        requiredClaims: ['exp'],
      });
      payload = verified.payload;
      // RFC 9068 §4: "at+jwt" (media type, "application/" optional, case-insensitive) when checking is on.
      const typ = verified.protectedHeader.typ?.toLowerCase().replace(/^application\//, '');
      if (tokenTypes && (typ === undefined || !tokenTypes.includes(typ))) {
        throw new AuthzError('invalid_token', 'the access token\'s "typ" header is not acceptable');
      }
    } catch (error) {
      throw classify(error);
    }
    const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : undefined;
    const principal = this.principals.principalOf(issuer, subject, clientId, scopesOf(payload), payload.exp!);
    return { principal, reusableUntil: principal.expiresAt * 1000 };
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
