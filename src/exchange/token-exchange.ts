import { createHash } from 'node:crypto';
import type { ExchangeSettings } from '../config/load.js';
import { ACCESS_TOKEN_TYPE } from '../config/settings.js';
import { AuthzError } from '../errors.js';
import { parseJsonObject, type HttpClient, type HttpResponse } from '../oauth/http.js';
import type { Metrics } from '../ops/metrics.js';
import { clientAuthentication, formEncode, type ClientAuthentication } from './client-auth.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** A successful exchange (RFC 8693 §2.2.1). */
export interface ExchangeResult {
  readonly accessToken: string;
  /** seconds, when the server said */
  readonly expiresIn: number | undefined;
}

/**
 * Request builder (RFC 8693 §2.1): everything but the subject token is encoded
 * once; a call appends `subject_token`.
 */
export function exchangeBodyPrefix(settings: ExchangeSettings, auth: ClientAuthentication): string {
  const params: Array<readonly [string, string]> = [
    ['grant_type', TOKEN_EXCHANGE_GRANT],
    ['subject_token_type', settings.subjectTokenType],
  ];
  if (settings.requestedTokenType !== undefined) params.push(['requested_token_type', settings.requestedTokenType]);
  if (settings.audience !== undefined) params.push(['audience', settings.audience]);
  if (settings.resource !== undefined) params.push(['resource', settings.resource]);
  if (settings.scope !== undefined) params.push(['scope', settings.scope]);
  params.push(...auth.bodyParams);
  return params.map(([name, value]) => `${name}=${formEncode(value)}`).join('&') + '&subject_token=';
}

/** Error codes that refuse this subject's exchange (RFC 6749 §5.2, RFC 8693 §2.2.2): 403. */
const REFUSALS = new Set(['invalid_grant', 'invalid_target', 'invalid_scope', 'access_denied', 'invalid_request']);
/** Error codes that reject our client or grant: a misconfiguration, 500. */
const MISCONFIGURATIONS = new Set(['invalid_client', 'unauthorized_client', 'unsupported_grant_type']);
/** Error codes that say "try later" (RFC 6749 §4.1.2.1): 503. */
const TRANSIENT = new Set(['server_error', 'temporarily_unavailable']);

/**
 * Response processor (RFC 8693 §2.2). Returns the issued token or throws an
 * {@link AuthzError} whose code decides the Check's answer.
 */
export function processExchangeResponse(response: HttpResponse, requestedTokenType: string | undefined): ExchangeResult {
  if (response.status === 200) return processSuccess(parseJsonObject(response, 'token exchange'), requestedTokenType);
  if (response.status === 429 || response.status >= 500) {
    throw new AuthzError('unavailable', `the token endpoint answered HTTP ${response.status}`);
  }
  let error: unknown;
  try {
    error = parseJsonObject(response, 'token exchange error').error;
  } catch {
    throw new AuthzError('unavailable', `the token endpoint answered HTTP ${response.status} without an OAuth error`);
  }
  if (typeof error !== 'string') throw new AuthzError('unavailable', `the token endpoint answered HTTP ${response.status} without an OAuth error`);
  if (MISCONFIGURATIONS.has(error)) throw new AuthzError('misconfigured', `the authorization server rejected this service's client (${error})`);
  if (TRANSIENT.has(error)) throw new AuthzError('unavailable', `the authorization server is unavailable (${error})`);
  // Any other code, including ones this version does not know, refuses the exchange: fail closed.
  const known = REFUSALS.has(error) ? error : 'unrecognised error';
  throw new AuthzError('exchange_refused', `the authorization server refused the token exchange (${known})`);
}

function processSuccess(body: Record<string, unknown>, requestedTokenType: string | undefined): ExchangeResult {
  const { access_token: accessToken, token_type: tokenType, issued_token_type: issuedType, expires_in: expiresIn } = body;
  if (typeof accessToken !== 'string' || accessToken === '') throw new AuthzError('unavailable', 'the token exchange response has no access_token');
  if (typeof tokenType !== 'string') throw new AuthzError('unavailable', 'the token exchange response has no token_type');
  // RFC 8693 §2.2.1: "Bearer" for an access token, "N_A" when the issued token is not one.
  const wantsAccessToken = requestedTokenType === undefined || requestedTokenType === ACCESS_TOKEN_TYPE;
  const typeOk = tokenType.toLowerCase() === 'bearer' || (!wantsAccessToken && tokenType === 'N_A');
  if (!typeOk) throw new AuthzError('misconfigured', `the token exchange issued a token of type "${tokenType}", which cannot be sent as a bearer token`);
  if (requestedTokenType !== undefined && issuedType !== undefined && issuedType !== requestedTokenType) {
    throw new AuthzError('misconfigured', `the token exchange issued "${String(issuedType)}" instead of the requested token type`);
  }
  return { accessToken, expiresIn: seconds(expiresIn) };
}

/** `expires_in` as a number of seconds; some servers send a numeric string. */
function seconds(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number >= 0 ? number : undefined;
}

/** Calls the token endpoint for one exchange target. */
export class TokenExchanger {
  readonly #http: HttpClient;
  readonly #endpoint: () => Promise<string>;
  readonly #settings: ExchangeSettings;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #bodyPrefix: string;
  readonly #metrics: Metrics;
  /** Hash of everything that changes what an exchange returns; part of every cache key (SPEC §4). */
  readonly identity: string;

  constructor(http: HttpClient, endpoint: () => Promise<string>, settings: ExchangeSettings, metrics: Metrics, endpointIdentity: string) {
    const auth = clientAuthentication(settings);
    this.#http = http;
    this.#endpoint = endpoint;
    this.#settings = settings;
    this.#headers = auth.headers;
    this.#bodyPrefix = exchangeBodyPrefix(settings, auth);
    this.#metrics = metrics;
    const { clientSecret: _secret, ...visible } = settings;
    this.identity = createHash('sha256').update(JSON.stringify({ endpointIdentity, ...visible })).digest('base64url').slice(0, 22);
  }

  async exchange(subjectToken: string): Promise<ExchangeResult> {
    try {
      const response = await this.#http.postForm(await this.#endpoint(), this.#bodyPrefix + encodeURIComponent(subjectToken), this.#headers);
      const result = processExchangeResponse(response, this.#settings.requestedTokenType);
      this.#metrics.exchanges.inc('ok');
      return result;
    } catch (error) {
      this.#metrics.exchanges.inc(error instanceof AuthzError ? error.code : 'internal');
      throw error;
    }
  }
}
