import { AuthzError } from '../errors.js';
import type { Clock } from '../clock.js';
import { isLoopback } from '../config/load.js';
import { parseJsonObject, type HttpClient } from './http.js';

/** The endpoints the Check path needs from the authorization server. */
export interface Endpoints {
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
}

/**
 * Where an issuer's metadata lives: OpenID Connect Discovery 1.0 §4 appends the
 * well-known path to the issuer; RFC 8414 §3.1 inserts it between host and path.
 */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/** Fetches and checks the metadata document; the first location that answers 200 wins. */
export async function discover(http: HttpClient, issuer: string): Promise<Record<string, unknown>> {
  let lastStatus = 0;
  for (const url of metadataUrls(issuer)) {
    const response = await http.get(url);
    if (response.status !== 200) {
      lastStatus = response.status;
      continue;
    }
    const metadata = parseJsonObject(response, 'authorization server metadata');
    // RFC 8414 §3.3 and OIDC Discovery §4.3: the issuer must be identical, or the document is not for us.
    if (metadata.issuer !== issuer) {
      throw new AuthzError('misconfigured', `the metadata at ${url} names issuer "${String(metadata.issuer)}", not "${issuer}"`);
    }
    return metadata;
  }
  throw new AuthzError('unavailable', `no authorization server metadata for ${issuer} (last HTTP status ${lastStatus})`);
}

/** After a failed discovery, checks answer 503 without a new call for this long. */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * The token and JWKS endpoints, from settings or discovered once. Discovery is
 * lazy and shared: concurrent callers wait on one request, a failure is
 * remembered for a second (so an outage is not multiplied by the request
 * rate), and a success is kept for the life of the process.
 */
export class EndpointSource {
  #endpoints: Endpoints | undefined;
  #pending: Promise<Endpoints> | undefined;
  #failure: { error: unknown; at: number } | undefined;

  constructor(
    private readonly http: HttpClient,
    private readonly issuer: string,
    private readonly overrides: { tokenEndpoint: string | undefined; jwksUri: string | undefined },
    private readonly clock: Clock,
    private readonly allowInsecureHttp: boolean,
  ) {
    const { tokenEndpoint, jwksUri } = overrides;
    if (tokenEndpoint !== undefined && jwksUri !== undefined) this.#endpoints = { tokenEndpoint, jwksUri };
  }

  get(): Promise<Endpoints> {
    if (this.#endpoints) return Promise.resolve(this.#endpoints);
    if (this.#failure && this.clock() - this.#failure.at < RETRY_AFTER_FAILURE_MS) return Promise.reject(this.#failure.error);
    this.#pending ??= this.#discover().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #discover(): Promise<Endpoints> {
    try {
      const metadata = await discover(this.http, this.issuer);
      const tokenEndpoint = this.overrides.tokenEndpoint ?? this.#endpointField(metadata, 'token_endpoint');
      const jwksUri = this.overrides.jwksUri ?? this.#endpointField(metadata, 'jwks_uri');
      this.#endpoints = { tokenEndpoint, jwksUri };
      this.#failure = undefined;
      return this.#endpoints;
    } catch (error) {
      this.#failure = { error, at: this.clock() };
      throw error;
    }
  }

  /** A discovered endpoint obeys the same https rule as a configured one (SPEC §2). */
  #endpointField(metadata: Record<string, unknown>, name: string): string {
    const value = metadata[name];
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw new AuthzError('misconfigured', `the authorization server metadata has no valid ${name}; set it explicitly`);
    }
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && (isLoopback(url.hostname) || this.allowInsecureHttp));
    if (!secure) throw new AuthzError('misconfigured', `the discovered ${name} ${url.href} is not https (set ALLOW_INSECURE_HTTP=true to allow it)`);
    return url.href;
  }
}
