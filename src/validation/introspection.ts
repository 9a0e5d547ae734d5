import * as oauth from 'oauth4webapi';
import type { Clock } from '../clock.js';
import type { IssuerConfig } from '../config/model.js';
import type { Metrics } from '../ops/metrics.js';
import type { TraceParent } from '../ops/tracing.js';
import { AuthzError, RateLimitedError } from '../errors.js';
import { retryAfterSeconds } from '../oauth/retry-after.js';
import type { ClientAuthentication } from '../oauth/client-auth.js';
import { httpResponseOf, parseJsonObject, type HttpClient, type HttpResponse } from '../oauth/http.js';
import { createTtlCache } from '../ttl-cache.js';
import type { InboundToken } from './inbound-token.js';
import type { Principals, Validation } from './principal.js';
import { scopesOf } from './scopes.js';

export interface IntrospectionOptions {
  readonly clockToleranceSeconds: number;
  /** longest reuse of an active answer (never past `exp`) */
  readonly maxCacheSeconds: number;
  /** reuse of an `active: false` answer */
  readonly inactiveCacheSeconds: number;
  readonly cacheMax: number;
}

/**
 * Response processor (RFC 7662 §2.2): `active` must be true; `exp`, `nbf`,
 * `iss` and `aud` are checked when present. Throws an {@link AuthzError}.
 * Ours, not oauth4webapi's, which checks none of these claims in a JSON
 * answer and has no 401/403, 429 and 5xx distinctions (SPEC §3).
 */
export function processIntrospectionResponse(response: HttpResponse, issuer: IssuerConfig, now: number, toleranceSeconds: number): Record<string, unknown> {
  if (response.status === 401 || response.status === 403) {
    throw new AuthzError('misconfigured', `the introspection endpoint rejected this service's client (HTTP ${response.status})`);
  }
  // RFC 6585 §4: 503 with the server's wait, capped (SPEC §3).
  if (response.status === 429) throw new RateLimitedError(retryAfterSeconds(response.retryAfter, now));
  if (response.status >= 500) throw new AuthzError('unavailable', `the introspection endpoint answered HTTP ${response.status}`);
  // Any other non-200 (400 unsupported_token_type, 404, …) will not get better on retry: the token cannot be validated here.
  if (response.status !== 200) throw new AuthzError('invalid_token', `the introspection endpoint refused the token (HTTP ${response.status})`);
  const body = parseJsonObject(response, 'introspection');
  if (typeof body.active !== 'boolean') throw new AuthzError('unavailable', 'the introspection response has no "active" member');
  if (!body.active) throw new AuthzError('invalid_token', 'the access token is not active');
  const leeway = toleranceSeconds * 1000;
  if (typeof body.exp === 'number' && body.exp * 1000 + leeway <= now) throw new AuthzError('invalid_token', 'the access token expired');
  if (typeof body.nbf === 'number' && body.nbf * 1000 - leeway > now) throw new AuthzError('invalid_token', 'the access token is not yet valid');
  if (body.iss !== undefined && body.iss !== issuer.issuer) throw new AuthzError('invalid_token', 'the access token\'s "iss" is not acceptable');
  if (body.aud !== undefined) {
    const audiences = Array.isArray(body.aud) ? body.aud : [body.aud];
    if (!audiences.some((aud) => issuer.audiences.includes(aud as string))) throw new AuthzError('invalid_token', 'the access token\'s "aud" is not acceptable');
  }
  return body;
}

/**
 * Validates tokens of one issuer by introspection, with a short memory of
 * inactive answers. oauth4webapi builds and authenticates the request (RFC
 * 7662 §2.1) and sends it through our HTTP client.
 */
export class IntrospectionValidator {
  readonly #inactive;
  readonly #as: oauth.AuthorizationServer;
  readonly #client: oauth.Client;
  /** the client's authentication, after the RFC 7662 §2.1 hint: the body reads `token`, `token_type_hint`, credentials */
  readonly #authenticate: ClientAuthentication;

  constructor(
    private readonly issuer: IssuerConfig,
    private readonly http: HttpClient,
    authenticate: ClientAuthentication,
    private readonly options: IntrospectionOptions,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    /** the app's principal builder (one per app, shared by every validator) */
    private readonly principals: Principals,
  ) {
    this.#inactive = createTtlCache<true>(options.cacheMax, clock);
    this.#as = { issuer: issuer.issuer, introspection_endpoint: issuer.introspection!.endpoint };
    this.#client = { client_id: issuer.introspection!.client.id };
    this.#authenticate = (as, client, body, headers) => {
      body.append('token_type_hint', 'access_token');
      return authenticate(as, client, body, headers);
    };
  }

  async validate(token: InboundToken, parent?: TraceParent): Promise<Validation> {
    if (this.#inactive.get(token.hash)) throw new AuthzError('invalid_token', 'the access token is not active');
    const started = performance.now();
    let body: Record<string, unknown>;
    const now = this.clock();
    try {
      // The https rule for endpoints is ours (SPEC §2), applied when the endpoint is configured.
      const response = await oauth.introspectionRequest(this.#as, this.#client, this.#authenticate, token.value, {
        [oauth.customFetch]: this.http.statusFetcher({ name: 'introspection', parent }),
        [oauth.allowInsecureRequests]: true,
      });
      body = processIntrospectionResponse(httpResponseOf(response), this.issuer, now, this.options.clockToleranceSeconds);
      this.metrics.introspection('active', (performance.now() - started) / 1000);
    } catch (error) {
      const code = error instanceof AuthzError ? error.code : 'internal';
      this.metrics.introspection(code === 'invalid_token' ? 'inactive' : code, (performance.now() - started) / 1000);
      if (code === 'invalid_token' && this.options.inactiveCacheSeconds > 0) this.#inactive.set(token.hash, true, { ttl: this.options.inactiveCacheSeconds * 1000 });
      throw error;
    }
    const cap = now + this.options.maxCacheSeconds * 1000;
    const expiresAt = typeof body.exp === 'number' ? body.exp : Math.floor(cap / 1000);
    const subject = typeof body.sub === 'string' ? body.sub : undefined;
    return {
      principal: this.principals.principalOf(this.issuer.issuer, subject, typeof body.client_id === 'string' ? body.client_id : undefined, scopesOf(body), expiresAt),
      reusableUntil: Math.min(expiresAt * 1000, cap),
    };
  }
}
