import { LOG_LEVELS } from '../log.js';
import { algorithms, boolean, httpUrl, integer, oneOf, text, words, type Parser, ASYMMETRIC_ALGORITHMS } from './parsers.js';

/** One environment variable: how to parse it, its default and its documentation. */
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

/** Pairs a parser with its metadata, keeping `default` / `required` literal for the `Settings` type. */
function setting<T, const S extends Omit<SettingSpec<T>, 'parse'>>(parse: Parser<T>, spec: S): S & { readonly parse: Parser<T> } {
  return { ...spec, parse };
}

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'tls_client_auth', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** An absolute URI without a fragment, any scheme (RFC 8707 §2 `resource`). */
const absoluteUri: Parser<string> = (raw) => {
  try {
    new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not an absolute URI`);
  }
  if (raw.includes('#')) throw new Error(`"${raw}" must not contain a fragment`);
  return raw;
};

/**
 * Every setting the service reads, in the order the README lists them. This one
 * table drives parsing, validation (`load.ts`) and the README's configuration
 * section (`docs.ts`). Names from the reference deployment are kept verbatim (SPEC §2).
 */
export const SETTINGS = {
  resourceUrl: setting(httpUrl, { env: 'MCP_RESOURCE_URL', required: true, doc: 'Resource identifier of the protected upstream; inbound tokens must carry it in `aud`.' }),
  issuer: setting(httpUrl, { env: 'AUTHORIZATION_SERVER_URL', required: true, doc: 'Issuer of inbound tokens (`iss` must equal it); its metadata is discovered from `/.well-known/openid-configuration`, then RFC 8414 `/.well-known/oauth-authorization-server`.' }),
  introspectionEndpoint: setting(httpUrl, { env: 'INTROSPECTION_ENDPOINT_URL', doc: 'RFC 7662 introspection endpoint. Not implemented in this version: setting it stops start-up.' }),
  clientId: setting(text, { env: 'CLIENT_ID', doc: 'Client id for introspection, and for the exchange unless `EXCHANGE_CLIENT_ID` is set.' }),
  clientSecret: setting(text, { env: 'CLIENT_SECRET', secret: true, doc: 'Secret of `CLIENT_ID`.' }),
  tokenEndpoint: setting(httpUrl, { env: 'TOKEN_EXCHANGE_ENDPOINT_URL', derivedDefault: 'discovered `token_endpoint`', doc: 'Token endpoint used for the RFC 8693 exchange.' }),
  exchangeClientId: setting(text, { env: 'EXCHANGE_CLIENT_ID', derivedDefault: '`CLIENT_ID`', doc: 'Client id the service authenticates with at the token endpoint.' }),
  exchangeClientSecret: setting(text, { env: 'EXCHANGE_CLIENT_SECRET', secret: true, derivedDefault: '`CLIENT_SECRET`', doc: 'Secret of the exchange client.' }),
  jwksUri: setting(httpUrl, { env: 'JWKS_URI', derivedDefault: 'discovered `jwks_uri`', doc: 'JWK Set used to verify inbound JWTs.' }),
  exchangeAudience: setting(text, { env: 'EXCHANGE_AUDIENCE', doc: '`audience` parameter of the exchange (RFC 8693 §2.1).' }),
  exchangeResource: setting(absoluteUri, { env: 'EXCHANGE_RESOURCE', doc: '`resource` parameter of the exchange (RFC 8693 §2.1, RFC 8707).' }),
  exchangeScope: setting(words, { env: 'EXCHANGE_SCOPE', doc: '`scope` parameter of the exchange, space-separated.' }),
  exchangeRequestedTokenType: setting(absoluteUri, { env: 'EXCHANGE_REQUESTED_TOKEN_TYPE', doc: '`requested_token_type` parameter of the exchange.' }),
  exchangeClientAuthMethod: setting(oneOf(CLIENT_AUTH_METHODS), { env: 'EXCHANGE_CLIENT_AUTH_METHOD', default: 'client_secret_basic', doc: 'Client authentication at the token endpoint. This version implements `client_secret_basic` and `client_secret_post`.' }),
  exchangeSubjectTokenType: setting(absoluteUri, { env: 'EXCHANGE_SUBJECT_TOKEN_TYPE', default: ACCESS_TOKEN_TYPE, doc: '`subject_token_type` parameter of the exchange.' }),
  exchangeCacheTtl: setting(integer(1, 86_400), { env: 'EXCHANGE_CACHE_TTL', default: '300', doc: 'Seconds an exchanged token is cached when the response has no `expires_in`.' }),
  exchangeCacheMax: setting(integer(1, 10_000_000), { env: 'EXCHANGE_CACHE_MAX', default: '10000', doc: 'Most exchanged tokens (and validated inbound tokens) kept; least recently used leave first.' }),
  requiredScopes: setting(words, { env: 'REQUIRED_SCOPES', doc: 'Space-separated scopes every inbound token must hold (`scope` or `scp` claim).' }),
  allowedAlgorithms: setting(algorithms, { env: 'ALLOWED_ALGORITHMS', default: ASYMMETRIC_ALGORITHMS.join(' '), doc: 'JWS algorithms accepted on inbound JWTs; asymmetric only.' }),
  clockTolerance: setting(integer(0, 300), { env: 'CLOCK_TOLERANCE', default: '30', doc: 'Seconds of leeway on `exp` / `nbf`.' }),
  maxTokenBytes: setting(integer(64, 65_536), { env: 'MAX_TOKEN_BYTES', default: '16384', doc: 'Longest inbound token accepted.' }),
  authorizationServerTimeoutMs: setting(integer(100, 60_000), { env: 'AUTHORIZATION_SERVER_TIMEOUT_MS', default: '5000', doc: 'Whole-call limit for discovery, JWKS and exchange calls.' }),
  authorizationServerMaxResponseBytes: setting(integer(1024, 16_777_216), { env: 'AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES', default: '262144', doc: 'Largest response body read from the authorization server.' }),
  allowInsecureHttp: setting(boolean, { env: 'ALLOW_INSECURE_HTTP', default: 'false', doc: 'Allow `http://` authorization-server URLs that are not loopback.' }),
  listenAddress: setting(text, { env: 'LISTEN_ADDRESS', default: '0.0.0.0', doc: 'Address both listeners bind to.' }),
  grpcPort: setting(integer(0, 65_535), { env: 'GRPC_PORT', default: '9001', doc: 'ext_authz gRPC listener (and `grpc.health.v1`).' }),
  httpPort: setting(integer(0, 65_535), { env: 'HTTP_PORT', default: '9002', doc: 'HTTP listener: `/healthz`, `/readyz`, `/metrics`, RFC 9728 metadata.' }),
  shutdownGraceMs: setting(integer(0, 600_000), { env: 'SHUTDOWN_GRACE_MS', default: '20000', doc: 'On SIGTERM, how long in-flight checks may take before the server closes anyway.' }),
  logLevel: setting(oneOf(LOG_LEVELS), { env: 'LOG_LEVEL', default: 'info', doc: '`fatal`, `error`, `warn`, `info`, `debug` or `trace`.' }),
  configFile: setting(text, { env: 'CONFIG_FILE', doc: 'YAML configuration file. Not implemented in this version: setting it stops start-up.' }),
} as const;

type Specs = typeof SETTINGS;
type ValueOf<S> = S extends SettingSpec<infer T> ? T : never;
type Always<S> = S extends { readonly default: string } ? true : S extends { readonly required: true } ? true : false;

/** The parsed settings: a value for each, `undefined` where unset and without default. */
export type Settings = {
  readonly [K in keyof Specs]: Always<Specs[K]> extends true ? ValueOf<Specs[K]> : ValueOf<Specs[K]> | undefined;
};
