import { LOG_LEVELS } from '../log.js';
import type { TargetMatch } from './model.js';
import {
  absoluteUri, algorithms, ASYMMETRIC_ALGORITHMS, boolean, extraParameters, headerName, headerValuePrefix, httpUrl, integer, listOf, oneOf, redisUrl, scopes, text, words,
  type Parser,
} from './parsers.js';

/**
 * One setting: its environment variable (the YAML key in `CONFIG_FILE` is the
 * same name in lower case), how to parse it, its default and its documentation.
 */
export interface SettingSpec<T> {
  readonly env: string;
  readonly doc: string;
  readonly parse: Parser<T>;
  /** raw default, parsed like a value that was set */
  readonly default?: string;
  /** how the README describes a default that is derived rather than fixed */
  readonly derivedDefault?: string;
  readonly required?: boolean;
  /** secret: also read from `<env>_FILE`; never printed */
  readonly secret?: boolean;
}

/** Pairs a parser with its metadata, keeping `default` / `required` literal for the settings types. */
function setting<T, const S extends Omit<SettingSpec<T>, 'parse'>>(parse: Parser<T>, spec: S): S & { readonly parse: Parser<T> } {
  return { ...spec, parse };
}

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'client_assertion_file', 'tls_client_auth', 'none'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
export const PROFILES = ['rfc8693', 'keycloak', 'okta', 'auth0', 'entra_obo'] as const;
export type Profile = (typeof PROFILES)[number];
export const ACTOR_SOURCES = ['none', 'header', 'static', 'subject'] as const;
export type ActorSource = (typeof ACTOR_SOURCES)[number];

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** How a client authenticates (RFC 6749 §2.3, RFC 7523 §2.2, RFC 8705 §2); `prefix` is CLIENT_ or EXCHANGE_CLIENT_; keys `client…` keep the issuer/target tables flat. */
function clientSettings<const P extends 'CLIENT' | 'EXCHANGE_CLIENT'>(prefix: P, purpose: string, inherit: boolean) {
  const from = (name: string) => (inherit ? { derivedDefault: `\`CLIENT_${name}\`` } : {});
  return {
    clientId: setting(text, { env: `${prefix}_ID`, ...from('ID'), doc: `Client id ${purpose}.` }),
    clientSecret: setting(text, { env: `${prefix}_SECRET`, secret: true, ...from('SECRET'), doc: 'Client secret (`client_secret_basic`, `client_secret_post`).' }),
    clientAuthMethod: setting(oneOf(CLIENT_AUTH_METHODS), { env: `${prefix}_AUTH_METHOD`, ...(inherit ? from('AUTH_METHOD') : { default: 'client_secret_basic' }), doc: `Client authentication: ${CLIENT_AUTH_METHODS.map((m) => `\`${m}\``).join(', ')}.` }),
    clientPrivateKeyFile: setting(text, { env: `${prefix}_PRIVATE_KEY_FILE`, ...from('PRIVATE_KEY_FILE'), doc: '`private_key_jwt`: PEM (PKCS#8) or JWK file of the signing key (RFC 7523 §2.2).' }),
    clientKeyId: setting(text, { env: `${prefix}_KEY_ID`, ...from('KEY_ID'), doc: '`private_key_jwt`: `kid` of the assertion (default: the JWK\'s `kid`).' }),
    clientAssertionAlg: setting(oneOf(ASYMMETRIC_ALGORITHMS), { env: `${prefix}_ASSERTION_ALG`, ...from('ASSERTION_ALG'), doc: '`private_key_jwt`: signing algorithm (default: from the key type).' }),
    clientAssertionAudience: setting(oneOf(['token_endpoint', 'issuer'] as const), { env: `${prefix}_ASSERTION_AUDIENCE`, ...(inherit ? from('ASSERTION_AUDIENCE') : { default: 'token_endpoint' }), doc: '`private_key_jwt`: the assertion\'s `aud`, the endpoint called or the issuer.' }),
    clientAssertionFile: setting(text, { env: `${prefix}_ASSERTION_FILE`, ...from('ASSERTION_FILE'), doc: '`client_assertion_file`: file holding a JWT the platform mints and rotates (a Kubernetes projected service-account token, a SPIFFE JWT-SVID), sent as the client assertion (RFC 7523 §2.2); read again when it changes (see "Secretless client authentication").' }),
    clientCertFile: setting(text, { env: `${prefix}_CERT_FILE`, ...from('CERT_FILE'), doc: '`tls_client_auth`: PEM client certificate (RFC 8705 §2).' }),
    clientKeyFile: setting(text, { env: `${prefix}_KEY_FILE`, ...from('KEY_FILE'), doc: '`tls_client_auth`: PEM key of the client certificate.' }),
  };
}

/** Settings of the whole service. */
export const SERVICE_SETTINGS = {
  resourceUrl: setting(httpUrl, { env: 'MCP_RESOURCE_URL', required: true, doc: 'Resource identifier of the protected upstream (RFC 9728 metadata, challenges); the default accepted `aud`.' }),
  clockTolerance: setting(integer(0, 300), { env: 'CLOCK_TOLERANCE', default: '30', doc: 'Seconds of leeway on `exp` / `nbf`.' }),
  maxTokenBytes: setting(integer(64, 65_536), { env: 'MAX_TOKEN_BYTES', default: '16384', doc: 'Longest inbound token accepted.' }),
  exchangeCacheTtl: setting(integer(1, 86_400), { env: 'EXCHANGE_CACHE_TTL', default: '300', doc: 'Seconds an exchanged token is cached when the response has no `expires_in`.' }),
  exchangeCacheMax: setting(integer(1, 10_000_000), { env: 'EXCHANGE_CACHE_MAX', default: '10000', doc: 'Most exchanged tokens (and validated inbound tokens) kept; least recently used leave first.' }),
  introspectionCacheMax: setting(integer(0, 3600), { env: 'INTROSPECTION_CACHE_SECONDS', default: '60', doc: 'Longest time an active introspection result is reused (never past `exp`); 0 disables it.' }),
  introspectionInactiveSeconds: setting(integer(0, 10), { env: 'INTROSPECTION_INACTIVE_CACHE_SECONDS', default: '5', doc: 'How long an `active: false` answer is reused.' }),
  authorizationServerTimeoutMs: setting(integer(100, 60_000), { env: 'AUTHORIZATION_SERVER_TIMEOUT_MS', default: '5000', doc: 'Whole-call limit for discovery, JWKS, introspection and exchange calls.' }),
  authorizationServerMaxResponseBytes: setting(integer(1024, 16_777_216), { env: 'AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES', default: '262144', doc: 'Largest response body read from the authorization server.' }),
  caFile: setting(text, { env: 'AUTHORIZATION_SERVER_CA_FILE', doc: 'PEM bundle of CAs trusted for authorization-server TLS, in addition to the system ones.' }),
  jwksRefreshSeconds: setting(integer(60, 86_400), { env: 'JWKS_REFRESH_SECONDS', default: '600', doc: 'Keys are refreshed in the background this often; if the JWKS endpoint is down the keys held are kept.' }),
  jwksCooldownSeconds: setting(integer(0, 3600), { env: 'JWKS_COOLDOWN_SECONDS', default: '30', doc: 'After a JWKS fetch, an unknown `kid` waits this long before it may cause another (bounds an unknown-kid storm).' }),
  allowInsecureHttp: setting(boolean, { env: 'ALLOW_INSECURE_HTTP', default: 'false', doc: 'Allow `http://` authorization-server URLs that are not loopback.' }),
  defaultTarget: setting(text, { env: 'DEFAULT_TARGET', derivedDefault: 'the only target', doc: 'Target used when no rule matches (`CONFIG_FILE` with several targets); none means 403.' }),
  targetContextKey: setting(text, { env: 'TARGET_CONTEXT_KEY', default: 'target', doc: 'Envoy `context_extensions` key that names the target of a route.' }),
  serveResourceMetadata: setting(boolean, { env: 'SERVE_RESOURCE_METADATA', default: 'true', doc: 'Answer a Check for exactly the RFC 9728 metadata path (GET) with the document itself (a 200 local reply), so the proxy needs no extra route.' }),
  tracing: setting(boolean, { env: 'TRACING', derivedDefault: 'on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set', doc: 'OpenTelemetry traces: a span per check, parented on the proxy\'s `traceparent` or B3 headers, with a span per call to the authorization server; the SDK is configured by the standard `OTEL_*` variables, and `OTEL_SDK_DISABLED=true` turns it off (see "Tracing").' }),
  reloadPollSeconds: setting(integer(0, 3600), { env: 'RELOAD_POLL_SECONDS', default: '5', doc: 'How often the files the configuration names (`CONFIG_FILE`, each `…_FILE`, keys, certificates) are checked for a change, which reloads the configuration as SIGHUP does; 0 = only on SIGHUP (see "Reload").' }),
  maxConnectionAgeMs: setting(integer(0, 86_400_000), { env: 'MAX_CONNECTION_AGE_MS', default: '300000', doc: 'gRPC connections are closed (gracefully) after this long, so Envoy rebalances after scale-out; 0 = never.' }),
  maxConnectionAgeGraceMs: setting(integer(0, 3_600_000), { env: 'MAX_CONNECTION_AGE_GRACE_MS', default: '30000', doc: 'Time in-flight checks get on an aged connection.' }),
  keepaliveTimeMs: setting(integer(10_000, 86_400_000), { env: 'KEEPALIVE_TIME_MS', default: '7200000', doc: 'Server HTTP/2 PING interval on idle connections (gRPC default, 2 h; Envoy sends none by default).' }),
  keepaliveTimeoutMs: setting(integer(1000, 600_000), { env: 'KEEPALIVE_TIMEOUT_MS', default: '20000', doc: 'How long a PING may go unanswered before the connection is closed.' }),
  connectionWindowBytes: setting(integer(65_535, 2_147_483_647), { env: 'GRPC_CONNECTION_WINDOW_BYTES', default: '4194304', doc: 'HTTP/2 receive window of each gRPC connection (Node\'s default is 65535). Envoy multiplexes checks onto few connections: the wide default keeps the tail flat at hundreds of concurrent streams; see "HTTP/2 flow control".' }),
  grpcMaxMessageBytes: setting(integer(4096, 67_108_864), { env: 'GRPC_MAX_MESSAGE_BYTES', default: '1048576', doc: 'Largest CheckRequest accepted (refused from its length prefix, before it is buffered) and largest response sent.' }),
  grpcMaxConcurrentStreams: setting(integer(1, 65_535), { env: 'GRPC_MAX_CONCURRENT_STREAMS', default: '256', doc: 'HTTP/2 streams (concurrent Checks) per gRPC connection; Envoy opens another connection beyond it.' }),
  grpcMaxConnections: setting(integer(1, 1_000_000), { env: 'GRPC_MAX_CONNECTIONS', derivedDefault: 'a share of the descriptor limit, at most 4096', doc: 'Open gRPC connections; more are closed at once. See "Security: bounds".' }),
  grpcMaxPendingBytes: setting(integer(65_536, 4_294_967_296), { env: 'GRPC_MAX_PENDING_BYTES', default: '67108864', doc: 'Bytes held by open Check streams over all gRPC connections (12 KiB each plus headers and message); past it the connection holding the most is closed.' }),
  grpcRequestTimeoutMs: setting(integer(100, 600_000), { env: 'GRPC_REQUEST_TIMEOUT_MS', default: '10000', doc: 'A gRPC connection must send its HTTP/2 preface, and each Check request must arrive whole, within this; otherwise the connection is closed.' }),
  grpcIdleTimeoutMs: setting(integer(1000, 86_400_000), { env: 'GRPC_IDLE_TIMEOUT_MS', default: '300000', doc: 'A gRPC connection without a stream for this long is closed (GOAWAY).' }),
  grpcMaxRequestHeaders: setting(integer(1, 100_000), { env: 'GRPC_MAX_REQUEST_HEADERS', default: '500', doc: 'Most entries in a CheckRequest\'s `headers` or `header_map` (Envoy forwards at most 100 by default); more is denied 431.' }),
  grpcMaxRequestHeaderBytes: setting(integer(1024, 67_108_864), { env: 'GRPC_MAX_REQUEST_HEADER_BYTES', default: '262144', doc: 'Most bytes in a CheckRequest\'s header entries (Envoy\'s default limit is 60 KiB); more is denied 431.' }),
  httpMaxConnections: setting(integer(1, 1_000_000), { env: 'HTTP_MAX_CONNECTIONS', derivedDefault: 'a share of the descriptor limit, at most 64', doc: 'Open connections to the HTTP (ops) listener; more are closed at once.' }),
  authzHttpMaxConnections: setting(integer(1, 1_000_000), { env: 'AUTHZ_HTTP_MAX_CONNECTIONS', derivedDefault: 'a share of the descriptor limit, at most 1024', doc: 'Open connections to the HTTP authorization listener; more are closed at once.' }),
  authzHttpKeepAliveTimeoutMs: setting(integer(1000, 600_000), { env: 'AUTHZ_HTTP_KEEPALIVE_TIMEOUT_MS', default: '120000', doc: 'Idle keep-alive connections to the HTTP authorization listener are closed after this; longer than the proxies\' own idle timeouts, so the proxy closes first.' }),
  authzHttpMaxHeaders: setting(integer(1, 100_000), { env: 'AUTHZ_HTTP_MAX_HEADERS', default: '500', doc: 'Most header lines in an HTTP authorization request; more is denied 431.' }),
  listenAddress: setting(text, { env: 'LISTEN_ADDRESS', default: '0.0.0.0', doc: 'Address both listeners bind to.' }),
  grpcPort: setting(integer(0, 65_535), { env: 'GRPC_PORT', default: '9001', doc: 'ext_authz gRPC listener (and `grpc.health.v1`).' }),
  httpPort: setting(integer(0, 65_535), { env: 'HTTP_PORT', default: '9002', doc: 'HTTP listener: `/healthz`, `/readyz`, `/metrics`, RFC 9728 metadata.' }),
  workers: setting(integer(1, 64), { env: 'WORKERS', default: '1', doc: 'Processes sharing the ports (node:cluster). Each has its own caches, metrics and connections to the authorization server; see "Worker mode".' }),
  authzHttpPort: setting(integer(0, 65_535), { env: 'AUTHZ_HTTP_PORT', derivedDefault: 'off', doc: 'HTTP authorization listener for Envoy `http_service`, nginx `auth_request` and Traefik `forwardAuth` (envoy/http-authz.md); unset = off.' }),
  heapGrowingPercent: setting(integer(0, 100), { env: 'HEAP_GROWING_PERCENT', default: '10', doc: 'How far, at least, V8 lets the heap grow past the live data before its next full collection (V8 `--heap-growing-percent`); `HEAP_LIMIT_FLOOR_MB` lets a small heap grow further. A low value keeps the resident set close to what the caches hold (see "Memory"); 0 = V8\'s own heuristics (and no floor).' }),
  heapLimitFloorMb: setting(integer(0, 4096), { env: 'HEAP_LIMIT_FLOOR_MB', default: '48', doc: 'V8\'s next full collection waits until the heap holds at least this many MB, however little is live (see "Memory"); 0 = no floor, `HEAP_GROWING_PERCENT` alone.' }),
  shutdownGraceMs: setting(integer(0, 600_000), { env: 'SHUTDOWN_GRACE_MS', default: '20000', doc: 'On SIGTERM, how long in-flight checks may take before the server closes anyway.' }),
  logLevel: setting(oneOf(LOG_LEVELS), { env: 'LOG_LEVEL', default: 'info', doc: '`fatal`, `error`, `warn`, `info`, `debug` or `trace`.' }),
  redisUrl: setting(redisUrl, { env: 'REDIS_URL', derivedDefault: 'off (each process caches alone)', doc: 'Shared exchange cache across replicas (SPEC §4b): `redis://host:port/db`, or `rediss://` for TLS; Valkey works too. See "Shared cache".' }),
  redisPassword: setting(text, { env: 'REDIS_PASSWORD', secret: true, doc: 'Password (Redis `AUTH`) for `REDIS_URL`, instead of one in the URL.' }),
  redisTimeoutMs: setting(integer(1, 10_000), { env: 'REDIS_TIMEOUT_MS', default: '50', doc: 'Longest wait for the shared cache before a Check goes on without it.' }),
  cacheKeysFile: setting(text, { env: 'CACHE_KEYS_FILE', doc: 'Required with `REDIS_URL`: the keys that protect shared entries, one `kid:base64(32 bytes)` a line; the first writes, all read.' }),
  configFile: setting(text, { env: 'CONFIG_FILE', doc: 'YAML file with any of these settings (lower-case keys) plus `issuers`, `targets` and `default_target`.' }),
} as const;

/** Settings of one trusted issuer (`issuers[]` in `CONFIG_FILE`). */
export const ISSUER_SETTINGS = {
  issuer: setting(httpUrl, { env: 'AUTHORIZATION_SERVER_URL', required: true, doc: 'Issuer of inbound tokens (`iss` must equal it); metadata from `/.well-known/openid-configuration`, then RFC 8414.' }),
  jwksUri: setting(httpUrl, { env: 'JWKS_URI', derivedDefault: 'discovered `jwks_uri`', doc: 'JWK Set used to verify inbound JWTs.' }),
  audiences: setting(words, { env: 'ACCEPTED_AUDIENCES', derivedDefault: '`MCP_RESOURCE_URL`', doc: 'Space-separated `aud` values accepted (one must be present).' }),
  algorithms: setting(algorithms, { env: 'ALLOWED_ALGORITHMS', default: ASYMMETRIC_ALGORITHMS.join(' '), doc: 'JWS algorithms accepted on inbound JWTs; asymmetric only.' }),
  tokenTypes: setting(words, { env: 'ACCEPTED_TOKEN_TYPES', derivedDefault: 'not checked', doc: 'Accepted JWT `typ` headers, e.g. `at+jwt` (RFC 9068 §4; `application/` prefix optional).' }),
  introspectionEndpoint: setting(httpUrl, { env: 'INTROSPECTION_ENDPOINT_URL', doc: 'RFC 7662 endpoint: when set, tokens of this issuer (and opaque tokens) are introspected instead of verified locally.' }),
  ...clientSettings('CLIENT', 'for introspection, and the default exchange client', false),
} as const;

/** Settings of one exchange target (`targets[]` in `CONFIG_FILE`). */
export const TARGET_SETTINGS = {
  tokenEndpoint: setting(httpUrl, { env: 'TOKEN_EXCHANGE_ENDPOINT_URL', derivedDefault: 'discovered `token_endpoint`', doc: 'Token endpoint used for the exchange.' }),
  profile: setting(oneOf(PROFILES), { env: 'EXCHANGE_PROFILE', default: 'rfc8693', doc: `Identity-provider profile: ${PROFILES.map((p) => `\`${p}\``).join(', ')} (see "Identity-provider profiles").` }),
  audience: setting(words, { env: 'EXCHANGE_AUDIENCE', doc: '`audience` parameters (RFC 8693 §2.1), space-separated; each is sent.' }),
  resource: setting(listOf(absoluteUri), { env: 'EXCHANGE_RESOURCE', doc: '`resource` parameters (RFC 8693 §2.1, RFC 8707), space-separated.' }),
  scope: setting(scopes, { env: 'EXCHANGE_SCOPE', doc: '`scope` parameter, space-separated.' }),
  requestedTokenType: setting((raw) => (raw === 'omit' ? raw : absoluteUri(raw)), { env: 'EXCHANGE_REQUESTED_TOKEN_TYPE', derivedDefault: 'omitted', doc: '`requested_token_type`; `omit` sends none.' }),
  subjectTokenType: setting(absoluteUri, { env: 'EXCHANGE_SUBJECT_TOKEN_TYPE', default: ACCESS_TOKEN_TYPE, doc: '`subject_token_type`.' }),
  actorSource: setting(oneOf(ACTOR_SOURCES), { env: 'EXCHANGE_ACTOR_SOURCE', default: 'none', doc: 'Actor token (RFC 8693 §2.1, delegation): `none`, `header` (`EXCHANGE_ACTOR_HEADER`), `static` (`EXCHANGE_ACTOR_TOKEN`), `subject` (the inbound token).' }),
  actorHeader: setting(headerName, { env: 'EXCHANGE_ACTOR_HEADER', doc: 'Request header that carries the actor token (source `header`).' }),
  actorToken: setting(text, { env: 'EXCHANGE_ACTOR_TOKEN', secret: true, doc: 'The actor token (source `static`).' }),
  actorTokenType: setting(absoluteUri, { env: 'EXCHANGE_ACTOR_TOKEN_TYPE', default: ACCESS_TOKEN_TYPE, doc: '`actor_token_type`, sent with an actor token.' }),
  extraParams: setting(extraParameters, { env: 'EXCHANGE_EXTRA_PARAMS', doc: 'Static extra parameters, `a=1&b=2`; RFC 8693 and client-authentication names are refused.' }),
  requiredScopes: setting(scopes, { env: 'REQUIRED_SCOPES', doc: 'Space-separated scopes every inbound token must hold (`scope` or `scp` claim).' }),
  tokenHeader: setting(headerName, { env: 'EXCHANGE_TOKEN_HEADER', default: 'authorization', doc: 'Request header the exchanged token is written to.' }),
  tokenPrefix: setting(headerValuePrefix, { env: 'EXCHANGE_TOKEN_PREFIX', default: 'Bearer ', doc: 'Text before the exchanged token in that header; `none` for nothing.' }),
  ...clientSettings('EXCHANGE_CLIENT', 'at the token endpoint', true),
} as const;

export type SettingsTable = Readonly<Record<string, SettingSpec<unknown>>>;
type ValueOf<S> = S extends SettingSpec<infer T> ? T : never;
type Always<S> = S extends { readonly default: string } ? true : S extends { readonly required: true } ? true : false;

/** The parsed values of one table: `undefined` where unset and without default. */
export type Parsed<Table> = {
  readonly [K in keyof Table]: Always<Table[K]> extends true ? ValueOf<Table[K]> : ValueOf<Table[K]> | undefined;
};

/** The service settings as parsed: the type of `Config.settings`. */
export type ServiceSettings = Parsed<typeof SERVICE_SETTINGS>;

/** Every table, in README order. */
export const ALL_SETTINGS = [
  ['Service', SERVICE_SETTINGS],
  ['Issuer (one per entry of `issuers`)', ISSUER_SETTINGS],
  ['Exchange target (one per entry of `targets`)', TARGET_SETTINGS],
] as const satisfies ReadonlyArray<readonly [string, SettingsTable]>;

/**
 * The structure of `CONFIG_FILE` (SPEC §2), declared with the settings it is
 * made of: the top level holds any setting of the three tables (the defaults
 * of every entry) plus the lists; each list entry holds the settings of its
 * table plus its own keys. Every key the file may hold is derived from this
 * (`schema.ts`); anything else is a typo worth stopping for.
 */
export const FILE_STRUCTURE = {
  top: { tables: [SERVICE_SETTINGS, ISSUER_SETTINGS, TARGET_SETTINGS], lists: ['issuers', 'targets'], never: ['config_file'] },
  issuers: { table: ISSUER_SETTINGS, keys: {} },
  targets: {
    table: TARGET_SETTINGS,
    keys: {
      name: 'Required: letters, digits, `_`, `.` or `-`; routes and `default_target` name the target by it.',
      issuer: 'The issuer whose metadata gives the token endpoint and whose `client_*` are the defaults (default: the first).',
      match: 'Rules that select the target (each a string or a list): `context`, `hosts`, `path_prefixes`, `destination_principals`.',
    },
  },
} as const;

/** One rule of a target's `match`: the field of `TargetMatch` it fills, how items are normalised, what an item must be. */
export interface MatchRule {
  readonly field: keyof TargetMatch;
  readonly normalize?: (item: string) => string;
  readonly refuse?: { readonly test: (item: string) => boolean; readonly why: string };
}

/** Rules of a target's `match` (SPEC §2), by YAML key, in the order routing tries them. */
export const MATCH_RULES: ReadonlyMap<string, MatchRule> = new Map<string, MatchRule>([
  ['context', { field: 'context' }],
  ['hosts', { field: 'hosts', normalize: (host) => host.toLowerCase() }],
  ['path_prefixes', { field: 'pathPrefixes', refuse: { test: (prefix) => !prefix.startsWith('/'), why: 'each path prefix starts with "/"' } }],
  ['destination_principals', { field: 'destinationPrincipals' }],
]);
