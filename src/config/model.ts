import type { KeyObject } from 'node:crypto';
import type { LogLevel } from '../log.js';
import type { CacheKey } from './cache-keys.js';
import type { ActorSource, ClientAuthMethod, Profile, ServiceSettings } from './settings.js';

/** The validated, frozen configuration the app is built from. */
export interface Config {
  readonly resourceUrl: string;
  readonly issuers: readonly IssuerConfig[];
  readonly targets: readonly TargetConfig[];
  /** name of the target used when no rule matches; undefined → 403 */
  readonly defaultTarget: string | undefined;
  readonly targetContextKey: string;
  readonly validation: { readonly clockToleranceSeconds: number; readonly maxTokenBytes: number };
  readonly cache: {
    readonly ttlSeconds: number;
    readonly max: number;
    readonly introspectionMaxSeconds: number;
    readonly introspectionInactiveSeconds: number;
  };
  /** the shared tier (SPEC §4b); undefined: each process caches alone */
  readonly sharedCache: SharedCacheConfig | undefined;
  readonly authorizationServer: {
    readonly timeoutMs: number;
    readonly maxResponseBytes: number;
    readonly allowInsecureHttp: boolean;
    /** extra trusted CAs (PEM) */
    readonly ca: string | undefined;
    readonly jwksRefreshSeconds: number;
    readonly jwksCooldownSeconds: number;
  };
  readonly listen: { readonly address: string; readonly grpcPort: number; readonly httpPort: number; readonly authzHttpPort: number | undefined };
  readonly grpc: {
    /** connections are closed gracefully after this long, so Envoy rebalances after scale-out (0 = never) */
    readonly maxConnectionAgeMs: number;
    readonly maxConnectionAgeGraceMs: number;
    readonly keepaliveTimeMs: number;
    readonly keepaliveTimeoutMs: number;
    /**
     * Receive window of each HTTP/2 connection. Envoy multiplexes every check onto
     * a few connections; with the default 64 KiB, 200 streams on one connection
     * wait on WINDOW_UPDATEs (bench/RESULTS.md, "HTTP/2 window").
     */
    readonly connectionWindowBytes: number;
    /** SPEC §5: largest message received or sent; grpc-js refuses a larger one from its length prefix */
    readonly maxMessageBytes: number;
    /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS */
    readonly maxConcurrentStreams: number;
    /** open connections on the listener; more are closed as they are accepted */
    readonly maxConnections: number;
    /** bytes open streams may hold over all connections (grpc/request-guard.ts) */
    readonly maxPendingBytes: number;
    /** a request must arrive whole within this after its stream opens */
    readonly requestTimeoutMs: number;
    /** a connection without streams for this long is closed (GOAWAY) */
    readonly idleTimeoutMs: number;
    /** CheckRequest header caps: more entries or bytes are denied 431 */
    readonly maxRequestHeaders: number;
    readonly maxRequestHeaderBytes: number;
  };
  /** SPEC §5 bounds of the HTTP (ops) listener */
  readonly opsHttp: { readonly maxConnections: number };
  /** SPEC §5 bounds of the HTTP authorization listener (caps apply when `listen.authzHttpPort` is set) */
  readonly authzHttp: { readonly maxConnections: number; readonly keepAliveTimeoutMs: number; readonly maxHeaders: number };
  readonly serveResourceMetadata: boolean;
  readonly tracing: boolean;
  /** seconds between checks of the configuration's files for a change; 0 = SIGHUP only */
  readonly reloadPollSeconds: number;
  readonly shutdownGraceMs: number;
  readonly workers: number;
  /** least V8 `--heap-growing-percent` (`settings.heapLimitFloorMb` may raise it); 0 = V8's heuristics */
  readonly heapGrowingPercent: number;
  readonly logLevel: LogLevel;
  /**
   * Every service setting as parsed, typed from `SERVICE_SETTINGS` (a default
   * applied; unset without one: undefined). The fields above are the views the
   * app has always read, some with derived defaults; a new setting is read from
   * here, so adding one touches its declaration and the code that uses it.
   */
  readonly settings: ServiceSettings;
}

/** A trusted issuer of inbound tokens. */
export interface IssuerConfig {
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  /** accepted `typ` values, lower-case without `application/`; undefined = not checked */
  readonly tokenTypes: readonly string[] | undefined;
  readonly introspection: { readonly endpoint: string; readonly client: ClientConfig } | undefined;
  /** the issuer's own client (introspection, and the default exchange client) */
  readonly client: ClientConfig | undefined;
}

/** How one client authenticates to the authorization server. */
export interface ClientConfig {
  readonly id: string;
  readonly authMethod: ClientAuthMethod;
  readonly secret: string | undefined;
  /** private_key_jwt (RFC 7523 §2.2) */
  readonly signingKey: { readonly key: KeyObject; readonly alg: string; readonly kid: string | undefined } | undefined;
  readonly assertionAudience: 'token_endpoint' | 'issuer';
  /** client_assertion_file (RFC 7523 §2.2): the file the platform writes the assertion to */
  readonly assertionFile: string | undefined;
  /** tls_client_auth (RFC 8705 §2): PEM certificate and key */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
}

/** Where and how one kind of exchanged token is obtained. */
export interface TargetConfig {
  readonly name: string;
  /** issuer whose metadata gives the token endpoint (and mTLS aliases) */
  readonly issuer: string;
  readonly tokenEndpoint: string | undefined;
  readonly client: ClientConfig;
  readonly profile: Profile;
  readonly audience: readonly string[];
  readonly resource: readonly string[];
  readonly scope: string | undefined;
  /** undefined: not sent */
  readonly requestedTokenType: string | undefined;
  readonly subjectTokenType: string;
  readonly actor: ActorConfig;
  readonly extraParams: ReadonlyArray<readonly [string, string]>;
  readonly requiredScopes: readonly string[];
  /** where the exchanged token goes; `remove`: the caller's other credentials, never `name` (SPEC §3) */
  readonly header: { readonly name: string; readonly prefix: string; readonly remove: readonly string[] };
  readonly match: TargetMatch;
}

export interface ActorConfig {
  readonly source: ActorSource;
  readonly header: string | undefined;
  readonly token: string | undefined;
  readonly tokenType: string;
}

/** Rules that select a target for a request, tried in this order. */
export interface TargetMatch {
  /** values of the `context_extensions` key that select it (default: its name) */
  readonly context: readonly string[];
  readonly hosts: readonly string[];
  readonly pathPrefixes: readonly string[];
  /** Istio: the destination workload's principal (SPIFFE id) */
  readonly destinationPrincipals: readonly string[];
}

/** Where the shared exchange cache lives and the keys that protect its entries (SPEC §4b). */
export interface SharedCacheConfig {
  readonly url: string;
  readonly password: string | undefined;
  readonly timeoutMs: number;
  /** the first writes; all are read */
  readonly keys: readonly CacheKey[];
}
