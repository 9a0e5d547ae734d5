import { AuthzError } from '../errors.js';
import type { Clock } from '../clock.js';
import * as oauth from 'oauth4webapi';
import { isLoopback } from '../net/loopback.js';
import type { HttpClient } from './http.js';

/** The parts of an issuer's metadata (RFC 8414 §2, RFC 8705 §5) the service uses. */
export interface IssuerMetadata {
  readonly tokenEndpoint: string | undefined;
  readonly jwksUri: string | undefined;
  /** RFC 8705 §5 `mtls_endpoint_aliases.token_endpoint` */
  readonly mtlsTokenEndpoint: string | undefined;
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

const DISCOVERY_SPAN = { name: 'discovery' };
/** oauth4webapi's names for the two locations of {@link metadataUrls}, in the same order. */
const ALGORITHMS = ['oidc', 'oauth2'] as const;

/**
 * Fetches and checks the metadata document with oauth4webapi; the first
 * location that answers 200 wins. oauth4webapi compares the issuer as URLs;
 * ours is the stricter RFC 8414 §3.3 rule on top: identical strings.
 */
export async function discover(http: HttpClient, issuer: string): Promise<Record<string, unknown>> {
  let lastStatus = 0;
  const expected = new URL(issuer);
  // The https rule for the issuer is ours (SPEC §2), checked when it is configured.
  const options = { [oauth.customFetch]: http.fetcher(DISCOVERY_SPAN), [oauth.allowInsecureRequests]: true };
  for (const [index, algorithm] of ALGORITHMS.entries()) {
    const response = await oauth.discoveryRequest(expected, { ...options, algorithm });
    if (response.status !== 200) {
      lastStatus = response.status;
      continue;
    }
    const url = metadataUrls(issuer)[index];
    let metadata: Record<string, unknown>;
    try {
      metadata = await oauth.processDiscoveryResponse(expected, response);
    } catch (error) {
      throw discoveryFault(error, url!, issuer);
    }
    // RFC 8414 §3.3 and OIDC Discovery §4.3: the issuer must be identical, or the document is not for us.
    if (metadata.issuer !== issuer) throw issuerMismatch(url!, metadata.issuer, issuer);
    return metadata;
  }
  throw new AuthzError('unavailable', `no authorization server metadata for ${issuer} (last HTTP status ${lastStatus})`);
}

/** A body that is not a JSON object is the server's fault (503); a document for another issuer is ours to fix (500). */
function discoveryFault(error: unknown, url: string, issuer: string): AuthzError {
  if (error instanceof oauth.OperationProcessingError) {
    const body = (error.cause as { body?: unknown } | undefined)?.body;
    if (error.code === oauth.PARSE_ERROR) return new AuthzError('unavailable', 'the authorization server metadata response is not JSON (HTTP 200)', { cause: error });
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return new AuthzError('unavailable', 'the authorization server metadata response is not a JSON object (HTTP 200)', { cause: error });
    }
    return issuerMismatch(url, (body as Record<string, unknown>).issuer, issuer);
  }
  // `issuer` that is not a URL at all.
  return new AuthzError('misconfigured', `the metadata at ${url} names an issuer that is not "${issuer}"`, { cause: error });
}

function issuerMismatch(url: string, named: unknown, issuer: string): AuthzError {
  return new AuthzError('misconfigured', `the metadata at ${url} names issuer "${String(named)}", not "${issuer}"`);
}

/** After a failed discovery, callers get the same failure without a new call for this long. */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * One issuer's metadata, discovered on first use. Concurrent callers wait on
 * one request; a failure is remembered for a second (so an outage is not
 * multiplied by the request rate); a success is kept for the life of the process.
 */
export class MetadataSource {
  #metadata: IssuerMetadata | undefined;
  #pending: Promise<IssuerMetadata> | undefined;
  #failure: { error: unknown; at: number } | undefined;

  constructor(
    private readonly http: HttpClient,
    readonly issuer: string,
    private readonly clock: Clock,
    private readonly allowInsecureHttp: boolean,
  ) {}

  get(): Promise<IssuerMetadata> {
    if (this.#metadata) return Promise.resolve(this.#metadata);
    if (this.#failure && this.clock() - this.#failure.at < RETRY_AFTER_FAILURE_MS) return Promise.reject(this.#failure.error);
    this.#pending ??= this.#discover().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #discover(): Promise<IssuerMetadata> {
    try {
      const document = await discover(this.http, this.issuer);
      const aliases = document.mtls_endpoint_aliases;
      this.#metadata = {
        tokenEndpoint: this.#endpoint(document.token_endpoint, 'token_endpoint'),
        jwksUri: this.#endpoint(document.jwks_uri, 'jwks_uri'),
        mtlsTokenEndpoint: aliases && typeof aliases === 'object' ? this.#endpoint((aliases as Record<string, unknown>).token_endpoint, 'mtls_endpoint_aliases.token_endpoint') : undefined,
      };
      this.#failure = undefined;
      return this.#metadata;
    } catch (error) {
      this.#failure = { error, at: this.clock() };
      throw error;
    }
  }

  /** A discovered endpoint obeys the same https rule as a configured one (SPEC §2). */
  #endpoint(value: unknown, name: string): string | undefined {
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw new AuthzError('misconfigured', `the authorization server metadata has an invalid ${name}`);
    }
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && (isLoopback(url.hostname) || this.allowInsecureHttp));
    if (!secure) throw new AuthzError('misconfigured', `the discovered ${name} ${url.href} is not https (set ALLOW_INSECURE_HTTP=true to allow it)`);
    return url.href;
  }
}

/** Reads one endpoint from the metadata, or says plainly that it has to be configured. */
export function required(value: string | undefined, name: string, setting: string): string {
  if (value === undefined) throw new AuthzError('misconfigured', `the authorization server metadata has no ${name}; set ${setting}`);
  return value;
}
