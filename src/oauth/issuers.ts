import { createRemoteJWKSet, customFetch } from 'jose';
import type { Clock } from '../clock.js';
import type { ClientConfig, Config, IssuerConfig, TargetConfig } from '../config/model.js';
import { MetadataSource, required } from './discovery.js';
import { HttpClient, type HttpTracer } from './http.js';

/** One issuer's remote JWK Set (jose caches the keys and coalesces reloads). */
export type KeySet = ReturnType<typeof createRemoteJWKSet>;

/** What the issuers need from around them. */
export interface IssuersDeps {
  readonly clock: Clock;
  readonly tracer: HttpTracer | undefined;
  /** counts one JWK Set fetch by outcome: `ok`, `http_<status>` or `unavailable` */
  readonly onJwksFetch: (outcome: string) => void;
}

/**
 * The authorization servers of one configuration, assembled: their HTTP
 * clients (one bounded client, plus one per client certificate, since the
 * certificate belongs to the connection), metadata discovered on first use
 * (RFC 8414), JWK Sets, and token endpoints with the RFC 8705 §5 mTLS alias.
 * Nothing calls out until something is asked for.
 */
export class Issuers {
  readonly #limits: Config['authorizationServer'];
  readonly #deps: IssuersDeps;
  readonly #http: HttpClient;
  readonly #mtlsClients = new Map<string, HttpClient>();
  readonly #metadata: Map<string, MetadataSource>;
  readonly #keySets = new Map<string, KeySet>();

  constructor(config: Pick<Config, 'issuers' | 'authorizationServer'>, deps: IssuersDeps) {
    this.#limits = config.authorizationServer;
    this.#deps = deps;
    this.#http = new HttpClient(this.#limits, deps.tracer);
    this.#metadata = new Map(config.issuers.map((issuer) => [issuer.issuer, new MetadataSource(this.#http, issuer.issuer, deps.clock, this.#limits.allowInsecureHttp)]));
  }

  /** The HTTP client for calls made as `client`: the shared one, or the one holding its certificate. */
  httpFor(client: ClientConfig): HttpClient {
    if (!client.tls) return this.#http;
    const key = `${client.id}\n${client.tls.cert}`;
    let http = this.#mtlsClients.get(key);
    if (!http) this.#mtlsClients.set(key, (http = new HttpClient({ ...this.#limits, clientCertificate: client.tls }, this.#deps.tracer)));
    return http;
  }

  /** An issuer's metadata source; every target and issuer names a configured issuer (checked by loadConfig). */
  metadataOf(issuer: string): MetadataSource {
    return this.#metadata.get(issuer)!;
  }

  /** The issuer's key set, created once its URI is configured or discovered. */
  async keysOf(issuer: IssuerConfig): Promise<KeySet> {
    const uri = issuer.jwksUri ?? required((await this.metadataOf(issuer.issuer).get()).jwksUri, 'jwks_uri', 'JWKS_URI');
    let keys = this.#keySets.get(issuer.issuer);
    if (!keys) {
      // Keys never expire on their own (cacheMaxAge: Infinity): a JWKS outage must not fail checks whose keys are held.
      // They are refreshed in the background (JWKS_REFRESH_SECONDS), and an unknown kid reloads them at most once per JWKS_COOLDOWN_SECONDS.
      keys = createRemoteJWKSet(new URL(uri), { timeoutDuration: this.#limits.timeoutMs, cacheMaxAge: Infinity, cooldownDuration: this.#limits.jwksCooldownSeconds * 1000, [customFetch]: this.#countedFetch as never });
      this.#keySets.set(issuer.issuer, keys);
    }
    return keys;
  }

  /** The token endpoint a target calls: configured, or discovered; RFC 8705 §5: the mTLS alias for a client authenticating with its certificate. */
  async tokenEndpointOf(target: TargetConfig): Promise<string> {
    if (target.tokenEndpoint !== undefined) return target.tokenEndpoint;
    const discovered = await this.metadataOf(target.issuer).get();
    const alias = target.client.authMethod === 'tls_client_auth' ? discovered.mtlsTokenEndpoint : undefined;
    return alias ?? required(discovered.tokenEndpoint, 'token_endpoint', 'TOKEN_EXCHANGE_ENDPOINT_URL');
  }

  /** Refreshes the key sets held (on failure the held keys stay). */
  refreshKeys(): void {
    for (const keys of this.#keySets.values()) keys.reload().catch(() => {});
  }

  /** Closes every HTTP client. */
  async close(): Promise<void> {
    await Promise.all([this.#http, ...this.#mtlsClients.values()].map((client) => client.close()));
  }

  /** jose's JWKS fetches go through the shared client and are counted. */
  readonly #countedFetch: HttpClient['fetch'] = async (url, init) => {
    try {
      const response = await this.#http.fetch(url, init);
      this.#deps.onJwksFetch(response.status === 200 ? 'ok' : `http_${response.status}`);
      return response;
    } catch (error) {
      this.#deps.onJwksFetch('unavailable');
      throw error;
    }
  };
}
