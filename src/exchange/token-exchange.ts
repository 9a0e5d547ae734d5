import { createHash } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import type { TargetConfig } from '../config/model.js';
import { ACCESS_TOKEN_TYPE, type Profile } from '../config/settings.js';
import { AuthzError, GarbageAnswerError, RateLimitedError } from '../errors.js';
import { b64tokenFault } from '../oauth/b64token.js';
import { retryAfterSeconds } from '../oauth/retry-after.js';
import { authenticatedNow, type ClientAuthentication } from '../oauth/client-auth.js';
import { httpResponseOf, parseJsonObject, type HttpClient, type HttpResponse } from '../oauth/http.js';
import type { Metrics } from '../ops/metrics.js';
import type { TraceParent } from '../ops/tracing.js';
import type { Clock } from '../clock.js';
import { BreakerOpenError, CircuitBreaker } from './breaker.js';
import { requestParameters, requestShape, type RequestShape } from './request-body.js';

/** A successful exchange (RFC 8693 §2.2.1). */
export interface ExchangeResult {
  readonly accessToken: string;
  /** seconds, when the server said */
  readonly expiresIn: number | undefined;
}

/** Error codes that refuse this subject's exchange (RFC 6749 §5.2, RFC 8693 §2.2.2): 403. */
const REFUSALS = new Set(['invalid_grant', 'invalid_target', 'invalid_scope', 'access_denied', 'invalid_request']);
/** Error codes that reject our client or grant: a misconfiguration, 500. */
const MISCONFIGURATIONS = new Set(['invalid_client', 'unauthorized_client', 'unsupported_grant_type']);
/** Error codes that say "try later" (RFC 6749 §4.1.2.1): 503, a fault of the server. */
const TRANSIENT = new Set(['server_error', 'temporarily_unavailable']);

/**
 * Response processor (RFC 8693 §2.2). Returns the issued token or throws an
 * {@link AuthzError} whose code decides the Check's answer. Everything in the
 * answer is hostile until checked (SPEC §3): the token becomes a header value.
 */
export function processExchangeResponse(response: HttpResponse, requestedTokenType: string | undefined, profile: Profile = 'rfc8693', now = Date.now()): ExchangeResult {
  if (response.status === 200) return processSuccess(parseJsonObject(response, 'token exchange'), requestedTokenType, profile);
  // RFC 6585 §4: about this call, not an outage (SPEC §3).
  if (response.status === 429) throw new RateLimitedError(retryAfterSeconds(response.retryAfter, now));
  if (response.status >= 500) throw new AuthzError('unavailable', `the token endpoint answered HTTP ${response.status}`);
  let error: unknown;
  let description: unknown;
  try {
    ({ error, error_description: description } = parseJsonObject(response, 'token exchange error'));
  } catch {
    throw new GarbageAnswerError(`HTTP ${response.status} without an OAuth error body`);
  }
  if (typeof error !== 'string') throw new GarbageAnswerError(`HTTP ${response.status} without an OAuth error code`);
  if (MISCONFIGURATIONS.has(error)) throw new AuthzError('misconfigured', `the authorization server rejected this service's client (${error})`);
  // Keycloak standard token exchange v2 refuses a requester that is not in the subject token's audience: a realm setup problem.
  if (profile === 'keycloak' && typeof description === 'string' && description.includes('Client is not within the token audience')) {
    throw new AuthzError('misconfigured', 'Keycloak: the exchange client is not in the subject token\'s audience (add an audience mapper for it)');
  }
  if (TRANSIENT.has(error)) throw new AuthzError('unavailable', `the authorization server is unavailable (${error})`);
  // Any other code, including ones this version does not know, refuses the exchange: fail closed.
  const known = REFUSALS.has(error) ? error : 'unrecognised error';
  throw new AuthzError('exchange_refused', `the authorization server refused the token exchange (${known})`);
}

/**
 * Profiles whose success answer is not an RFC 8693 §2.2.1 one and so carries no
 * `issued_token_type`: Entra ID On-Behalf-Of is the jwt-bearer grant (RFC 7523
 * §2.1), answered as RFC 6749 §5.1 (`token_type`, `scope`, `expires_in`,
 * `ext_expires_in`, `access_token`).
 */
const WITHOUT_ISSUED_TOKEN_TYPE: ReadonlySet<Profile> = new Set(['entra_obo']);

function processSuccess(body: Record<string, unknown>, requestedTokenType: string | undefined, profile: Profile): ExchangeResult {
  const { access_token: accessToken, token_type: tokenType, issued_token_type: issuedType, expires_in: expiresIn } = body;
  // SPEC §3: the token is written as `Bearer <token>`: an RFC 6750 b64token of at most 16 KiB, or nothing.
  const fault = b64tokenFault(accessToken);
  if (fault !== undefined) throw new GarbageAnswerError(`access_token: ${fault}`);
  if (typeof tokenType !== 'string') throw new GarbageAnswerError('token_type is missing');
  // RFC 8693 §2.2.1: "Bearer" for an access token, "N_A" when the issued token is not one.
  const wantsAccessToken = requestedTokenType === undefined || requestedTokenType === ACCESS_TOKEN_TYPE;
  const typeOk = tokenType.toLowerCase() === 'bearer' || (!wantsAccessToken && tokenType === 'N_A');
  // SPEC §3: anything but Bearer (or N_A where allowed) is a garbage answer, 503.
  if (!typeOk) throw new GarbageAnswerError(`token_type "${printable(tokenType)}" cannot be sent as a bearer token`);
  // RFC 8693 §2.2.1: issued_token_type is REQUIRED; without it the answer is not a token-exchange answer (SPEC §3 garbage).
  if (issuedType === undefined && !WITHOUT_ISSUED_TOKEN_TYPE.has(profile)) throw new GarbageAnswerError('issued_token_type is missing (RFC 8693 §2.2.1)');
  if (issuedType !== undefined && typeof issuedType !== 'string') throw new GarbageAnswerError('issued_token_type is not a string');
  if (requestedTokenType !== undefined && issuedType !== undefined && issuedType !== requestedTokenType) {
    throw new AuthzError('misconfigured', `the token exchange issued "${printable(String(issuedType))}" instead of the requested token type`);
  }
  return { accessToken: accessToken as string, expiresIn: expiresInSeconds(expiresIn) };
}

/**
 * SPEC §3: `expires_in` is a JSON number (RFC 6749 §5.1); a numeric string is
 * tolerated and `null` counts as absent. A value ≤ 0 is kept (the token serves
 * this request only, never cached); any other value is a garbage answer.
 */
export function expiresInSeconds(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'string' && /^-?\d{1,15}(\.\d{1,9})?$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) throw new GarbageAnswerError('expires_in is not a number');
  return number;
}

/** A short, printable rendering of a value from outside, for an error description (never a token). */
function printable(value: string): string {
  return value.slice(0, 40).replace(/[^\x20-\x7e]|["\\]/g, '?');
}

/**
 * Calls the token endpoint for one exchange target: oauth4webapi builds and
 * authenticates the grant request (RFC 8693 §2.1, or RFC 7523 §2.1 for Entra
 * On-Behalf-Of) and sends it through our HTTP client; our processor reads the
 * answer, since SPEC §3 asks more of it than oauth4webapi checks.
 */
export class TokenExchanger {
  readonly #shape: RequestShape;
  readonly #breaker: CircuitBreaker;
  readonly #client: oauth.Client;
  /** Hash of everything that changes what an exchange returns; part of every cache key (SPEC §4). */
  readonly identity: string;

  constructor(
    readonly target: TargetConfig,
    private readonly http: HttpClient,
    /** the token endpoint (configured, discovered, or its mTLS alias) */
    private readonly endpoint: () => Promise<string>,
    private readonly authenticate: ClientAuthentication,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
  ) {
    this.#shape = requestShape(target);
    this.#breaker = new CircuitBreaker(clock);
    this.#client = { client_id: target.client.id };
    this.identity = targetIdentity(target);
  }

  /** Whether the token endpoint's circuit breaker is failing calls fast (for the breaker gauge). */
  get breakerOpen(): boolean {
    return this.#breaker.open;
  }

  async exchange(subjectToken: string, actorToken: string | undefined, parent?: TraceParent): Promise<ExchangeResult> {
    const started = performance.now();
    try {
      const as = { issuer: this.target.issuer, token_endpoint: await this.endpoint() };
      const span = { name: 'token exchange', parent, attributes: { 'authz.target': this.target.name } };
      // The https rule for endpoints is ours (SPEC §2), applied when they are configured or discovered.
      const options = { [oauth.customFetch]: this.http.statusFetcher(span), [oauth.allowInsecureRequests]: true };
      const params = requestParameters(this.#shape, subjectToken, actorToken);
      // Our own credential faults (an expired assertion file) are not the server's: outside the breaker (SPEC §3).
      const authenticate = await authenticatedNow(this.authenticate, as, this.#client);
      const call = async () => {
        const response = await oauth.genericTokenEndpointRequest(as, this.#client, authenticate, this.#shape.grantType, params, options);
        return processExchangeResponse(httpResponseOf(response), this.target.requestedTokenType, this.target.profile, this.clock());
      };
      const result = await this.#breaker.run(call);
      this.metrics.exchange('ok', (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      const outcome = error instanceof BreakerOpenError ? 'breaker_open' : error instanceof RateLimitedError ? 'rate_limited' : error instanceof GarbageAnswerError ? 'garbage' : error instanceof AuthzError ? error.code : 'internal';
      this.metrics.exchange(outcome, (performance.now() - started) / 1000);
      throw error;
    }
  }
}

/**
 * Everything about a target that can change the token it gets (endpoint,
 * issuer, client, profile, every parameter), hashed; secrets and keys are
 * left out of the hash input but the client id and method are in.
 */
function targetIdentity(target: TargetConfig): string {
  const { client, ...rest } = target;
  const visible = { ...rest, client: { id: client.id, authMethod: client.authMethod, kid: client.signingKey?.kid, cert: client.tls?.cert } };
  return createHash('sha256').update(JSON.stringify(visible)).digest('base64url').slice(0, 22);
}
