/**
 * A real, local OAuth 2.0 authorization server for tests and `npm run demo`, built on
 * `oidc-provider` (panva). It issues RFC 9068 JWT access tokens (client_credentials, or minted
 * directly) and opaque, introspectable access tokens (RFC 7662), and implements the RFC 8693
 * token-exchange grant. Dev/test tool only: the service never loads this module.
 *
 * Client authentication (token and introspection endpoints) is oidc-provider's own:
 * `none`, `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2) and
 * `tls_client_auth` (RFC 8705 §2, with HTTPS and, optionally, `mtls_endpoint_aliases`).
 * private_key_jwt assertions (oidc-provider 9, `clientJwtAuthExpectedAudience`): `aud` must be
 * (or, as an array, contain) the issuer, the token endpoint URL, or the URL of the endpoint being
 * called (so the introspection URL at introspection); URLs are built from the request's own
 * scheme and Host. `iss` = `sub` = client_id, `exp` and a `jti` never seen before are required.
 *
 * Identity-provider profiles: Keycloak, Okta, Auth0 and Entra ID cannot run here, so with
 * `profile` the token endpoint ENFORCES that provider's documented wire contract instead of plain
 * RFC 8693. Every rule says where it comes from; rules that go beyond (or differ from) the
 * provider's documentation say so.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type identifier for OAuth access tokens. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** RFC 8693 §3 token type identifier for JWTs. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** RFC 8693 §3 token type identifier for ID tokens. */
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
/** RFC 8693 §3 token type identifier for refresh tokens. */
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';
/** RFC 7523 §2.1 grant type; Entra ID's on-behalf-of flow uses it (not RFC 8693). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Wire contract the token endpoint enforces (see {@link AuthorizationServerOptions.profile}). */
export type ProviderProfile = 'rfc8693' | 'keycloak' | 'okta' | 'auth0' | 'entra_obo';

/** Client authentication methods this server accepts (all five are oidc-provider's own). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'none';

/** A client allowed to use the token-exchange grant (or Entra's OBO grant), and introspection. */
export interface ExchangeClient {
  id: string;
  /** required for the client_secret_* methods */
  secret?: string;
  /** default 'client_secret_basic' */
  authMethod?: ClientAuthMethod;
  /** private_key_jwt: the client's public JWK Set (the service signs assertions with the private key) */
  jwks?: { keys: JWK[] };
  /**
   * private_key_jwt with keys fetched from this URL instead (oidc-provider client `jwks_uri`): a
   * platform's issuer (a Kubernetes cluster, a SPIFFE trust domain) that mints the assertions. As
   * Entra ID does with a federated token, such an assertion may be presented again until it
   * expires (a hook of this server: oidc-provider alone wants a fresh `jti` each time). Its `iss`
   * and `sub` must both be the client id (oidc-provider's rule; Entra ID and Keycloak instead match
   * the platform's `iss` and `sub` against a federated credential of the client).
   */
  jwksUri?: string;
  /** tls_client_auth: the certificate subject DN the client must present (oidc-provider `tls_client_auth_subject_dn`), RFC 4514 form, e.g. 'CN=mcp-gateway,O=Example' */
  tlsSubjectDn?: string;
}

/** Options of {@link startAuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** IPv4 address or host name to listen on and to put in the issuer; default '127.0.0.1' */ host?: string;
  /** default 0 (ephemeral) */ port?: number;
  /** resource identifier that inbound (subject) tokens are issued for, e.g. 'https://mcp.example.com/mcp' */
  resource: string;
  /** clients allowed to use the token-exchange grant */
  exchangeClients: ExchangeClient[];
  /** `audience` / `resource` values the exchange accepts; anything else → invalid_target (Keycloak: client ids; Entra: the resource part of OBO scopes, e.g. 'api://orders'). */
  exchangeTargets: string[];
  /** expires_in (seconds) of exchanged tokens; `null` omits expires_in from the response. default 300 */
  exchangedTokenTtl?: number | null;
  /** access token lifetime (s) of tokens minted by mintAccessToken / client_credentials; default 600 */
  accessTokenTtl?: number;
  /** wire contract the token endpoint enforces; default 'rfc8693' */
  profile?: ProviderProfile;
  /** auth0: the custom subject_token_type the exchange must use (default 'urn:acme:mcp-access-token') */
  auth0SubjectTokenType?: string;
  /** serve HTTPS with this server key/cert (PEM); when `ca` is given, request (not require) client certificates and trust that CA for tls_client_auth */
  tls?: { key: string; cert: string; ca?: string };
  /** when set (with tls and tls.ca), publish `mtls_endpoint_aliases` in discovery pointing the token endpoint at this separate HTTPS origin (another listener of this server, port chosen automatically) and only accept tls_client_auth there */
  mtlsAlias?: boolean;
  /** clients allowed to call introspection (RFC 7662); default: every exchange client */
  introspectionClients?: ExchangeClient[];
}

/** One token-exchange (or Entra OBO) request as seen by the grant handler. */
export interface ExchangeRecord {
  /** the authenticated client */
  clientId: string;
  /** the form parameters received (subject_token and grant_type included); repeated parameters are arrays */
  params: Record<string, string | string[]>;
  /** the W3C `traceparent` header, when the caller sent one */
  traceparent?: string;
}

/** A running local authorization server. */
export interface AuthorizationServer {
  /** e.g. 'http://127.0.0.1:40123' or, with `tls`, 'https://127.0.0.1:40123' (no trailing slash) */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  readonly introspectionEndpoint: string;
  /** present when mtlsAlias: the aliased token endpoint (discovery publishes it under mtls_endpoint_aliases.token_endpoint) */
  readonly mtlsTokenEndpoint: string | undefined;
  /** present when mtlsAlias: the aliased introspection endpoint (mtls_endpoint_aliases.introspection_endpoint) */
  readonly mtlsIntrospectionEndpoint: string | undefined;
  /** every token-exchange (and OBO) request that reached the grant handler, in order */
  readonly exchanges: ExchangeRecord[];
  /** introspection calls received (to count cache hits), on either origin, whatever their outcome */
  readonly introspections: number;
  /** extra latency (ms) added before answering any token-exchange request; default 0; settable at run time */
  exchangeDelayMs: number;
  /** Sign an access token (JWT, RFC 9068 shape, header typ 'at+jwt', alg RS256, the server's current kid)
   *  with the server's own signing key. Defaults: iss = issuer, aud = options.resource,
   *  iat = now, exp = now + accessTokenTtl, jti random, client_id 'demo-app', scope 'mcp:tools'.
   *  Every claim can be overridden or removed (pass `undefined` to remove it) by `claims`. `header` overrides protected header fields. */
  mintAccessToken(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** Sign with a key the server does not publish (for "unknown kid" / "bad signature" tests): `kid` is 'unknown-key' unless header overrides it. */
  mintWithForeignKey(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** An OPAQUE access token stored by oidc-provider (introspectable), for subject `sub`, scope (default 'mcp:tools'),
   *  and audience/resource `aud` (default options.resource), lifetime ttl seconds (default accessTokenTtl),
   *  issued to `clientId` (default 'demo-app'; must be a registered client). */
  mintOpaqueToken(claims: { sub: string; scope?: string; aud?: string; ttl?: number; clientId?: string }): Promise<string>;
  /** Revoke an opaque token (mintOpaqueToken, or client_credentials without resource) so introspection answers active:false; unknown tokens are ignored. */
  revoke(token: string): Promise<void>;
  /** Get a real access token from the server's own token endpoint with the client_credentials grant for client 'demo-app' (secret 'demo-app-secret', registered automatically) and resource=options.resource. */
  clientCredentialsToken(scope?: string): Promise<string>;
  /** Accept only `secret` from now on for client `id` (a rotated client secret). */
  setClientSecret(id: string, secret: string): void;
  /** Publish a new signing key (new kid) and sign future tokens with it; the old key stays in the JWKS unless dropOld is true. */
  rotateKey(dropOld?: boolean): Promise<void>;
  close(): Promise<void>;
}

const DEMO_CLIENT_ID = 'demo-app';
const DEMO_CLIENT_SECRET = 'demo-app-secret';
const RESOURCE_SCOPE = 'mcp:tools mcp:read';
const DEFAULT_SCOPE = 'mcp:tools';
/** Any profile: a subject token with this `sub` is refused with access_denied (a hook of this server, not provider behaviour). */
const BLOCKED_SUBJECT = 'blocked-user';
/** entra_obo: an assertion with this `sub` has not consented → AADSTS65001. */
const NEEDS_CONSENT_SUBJECT = 'needs-consent';
const DEFAULT_AUTH0_SUBJECT_TOKEN_TYPE = 'urn:acme:mcp-access-token';
/** Asymmetric JWS algorithms accepted on private_key_jwt assertions (published as token_endpoint_auth_signing_alg_values_supported). */
const CLIENT_AUTH_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLIENT_AUTH_METHODS: ClientAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'];
/** RFC 8693 token exchange request parameters (§2.1). */
const RFC8693_PARAMETERS = ['audience', 'resource', 'scope', 'requested_token_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type'];

// ---------------------------------------------------------------------------------------------
// oidc-provider ships no type declarations (and @types/oidc-provider is not a dependency), so the
// small part of its API used here is typed locally and the module is imported through a variable
// specifier (a literal one would be a TS7016 error under `strict`).

interface OidcClient {
  clientId: string;
  clientAuthMethod: string;
}

interface OidcTokenModel {
  clientId: string;
  isValid: boolean;
  save(): Promise<string>;
  destroy(): Promise<void>;
}

interface OidcTokenModelClass {
  new (fields: Record<string, unknown>): OidcTokenModel;
  find(value: string): Promise<OidcTokenModel | undefined>;
}

interface OidcContext {
  oidc: {
    /** set once the client is authenticated */
    client: OidcClient;
    /** the parsed form body, straight from node:querystring (repeated keys are arrays) */
    body: Record<string, string | string[]>;
    params: Record<string, string | string[] | undefined>;
    provider: OidcProvider;
  };
  req: IncomingMessage;
  method: string;
  path: string;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

interface OidcClientClass {
  prototype: { compareClientSecret(this: OidcClient, secret: string): boolean | Promise<boolean> };
  find(id: string, ...rest: unknown[]): Promise<OidcClient | undefined>;
}

interface OidcProvider {
  Client: OidcClientClass;
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  use(middleware: (ctx: OidcContext, next: () => Promise<void>) => Promise<void>): void;
  registerGrantType(
    name: string,
    handler: (ctx: OidcContext) => Promise<void>,
    parameters: string[],
    allowedDuplicateParameters: string[],
  ): void;
  AccessToken: OidcTokenModelClass;
  ClientCredentials: OidcTokenModelClass;
  /** RFC 7523 §3 item 7 replay check of client assertions (`jti` seen before) */
  ReplayDetection: { unique(iss: string, jti: string, exp: number): Promise<boolean> };
}

type OidcError = new (description?: string) => Error;

interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: Record<'InvalidRequest' | 'InvalidGrant' | 'InvalidTarget' | 'AccessDenied' | 'InvalidClientAuth', OidcError>;
}

const OIDC_PROVIDER_MODULE = 'oidc-provider';
let oidcProviderModule: Promise<OidcProviderModule> | undefined;

/**
 * oidc-provider talks through console.warn/console.info ("oidc-provider WARNING: ..."): on import
 * (it wants Node 22 LTS). That is expected here, so while it runs, lines mentioning oidc-provider
 * (and only those) are dropped. Returns the undo function.
 */
function silenceOidcNotices(): () => void {
  const { warn, info } = console;
  const filter =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (!String(args[0]).includes('oidc-provider ')) write(...args);
    };
  console.warn = filter(warn);
  console.info = filter(info);
  return () => {
    console.warn = warn;
    console.info = info;
  };
}

/** Run synchronous `fn` with oidc-provider notices silenced (synchronous, so calls cannot overlap). */
function quietly<T>(fn: () => T): T {
  const restore = silenceOidcNotices();
  try {
    return fn();
  } finally {
    restore();
  }
}

/** Import oidc-provider once; its "unsupported runtime" warning is printed while the module evaluates. */
function loadOidcProvider(): Promise<OidcProviderModule> {
  oidcProviderModule ??= (async () => {
    const restore = silenceOidcNotices();
    try {
      return (await import(OIDC_PROVIDER_MODULE)) as OidcProviderModule;
    } finally {
      restore();
    }
  })();
  return oidcProviderModule;
}

/**
 * oidc-provider storage adapter (its documented adapter interface), one per server: everything a
 * server's providers store (opaque tokens, client-assertion jti's) lives here, so it survives
 * rotateKey, is shared by the main and the mTLS-alias listener, and is NOT shared with other
 * servers in the same process (oidc-provider's built-in memory adapter is module-global, so two
 * servers would answer active:true for each other's tokens).
 */
function createAdapterClass(): new (model: string) => object {
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number | undefined }>();
  const byGrant = new Map<string, Set<string>>();
  let writes = 0;
  const live = (key: string) => {
    const entry = store.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry;
  };
  return class ServerAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string): string {
      return `${this.#model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      if (++writes % 256 === 0) for (const key of [...store.keys()]) live(key); // sweep expired entries now and then
      const key = this.#key(id);
      store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      if (typeof payload.grantId === 'string') {
        const keys = byGrant.get(payload.grantId) ?? new Set<string>();
        byGrant.set(payload.grantId, keys.add(key));
      }
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return live(this.#key(id))?.payload;
    }
    async #findBy(field: string, value: string): Promise<Record<string, unknown> | undefined> {
      const prefix = `${this.#model}:`;
      for (const key of store.keys()) {
        const payload = key.startsWith(prefix) ? live(key)?.payload : undefined;
        if (payload?.[field] === value) return payload;
      }
      return undefined;
    }
    findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      return this.#findBy('uid', uid);
    }
    findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
      return this.#findBy('userCode', userCode);
    }
    async consume(id: string): Promise<void> {
      const entry = live(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) store.delete(key);
      byGrant.delete(grantId);
    }
  };
}

// ---------------------------------------------------------------------------------------------

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
}

async function newSigningKey(kid?: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  // RFC 7638 thumbprint as kid: stable, unique per key.
  const keyId = kid ?? (await calculateJwkThumbprint(publicJwk));
  const meta = { kid: keyId, alg: 'RS256', use: 'sig' };
  return {
    kid: keyId,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
    publicJwk: { ...publicJwk, ...meta },
  };
}

/** Apply overrides; an override whose value is `undefined` removes the field. */
function merge(base: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

function sign(key: CryptoKey, payload: Record<string, unknown>, header: Record<string, unknown>): Promise<string> {
  // RFC 9068 §2.1: access token JWTs carry typ "at+jwt" (profiles may override it).
  const protectedHeader = merge({ alg: 'RS256', typ: 'at+jwt' }, header) as { alg: string };
  return new SignJWT(merge({}, payload) as JWTPayload).setProtectedHeader(protectedHeader).sign(key);
}

const now = (): number => Math.floor(Date.now() / 1000);

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function basicAuth(id: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

const asArray = (value: unknown): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)];

const single = (values: string[]): string | string[] => (values.length === 1 ? values[0]! : values);

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
  await closed;
}

// --- tls_client_auth helpers -------------------------------------------------------------------

/** The TLS peer certificate of the request's connection, or undefined (plain HTTP, or no certificate sent). */
function peerCertificate(socket: Socket): PeerCertificate | undefined {
  const tlsSocket = socket as Partial<TLSSocket>;
  if (typeof tlsSocket.getPeerCertificate !== 'function') return undefined;
  const certificate = tlsSocket.getPeerCertificate(true);
  return certificate?.raw ? certificate : undefined;
}

/** An RFC 4514 distinguished name as comparable data: RDNs most specific (leftmost) first, each RDN's attributes sorted. */
type DistinguishedName = Array<Array<[string, string]>>;

/** Parse an RFC 4514 string: RDNs split on unescaped ',', multi-valued RDNs on unescaped '+', escapes (`\c`, and `\HH` for ASCII) decoded. */
function parseRfc4514(dn: string): DistinguishedName {
  const rdns: DistinguishedName = [];
  let rdn: Array<[string, string]> = [];
  let type = '';
  let value = '';
  let inValue = false;
  const endAttribute = () => {
    rdn.push([type.trim().toUpperCase(), value.trim()]);
    type = '';
    value = '';
    inValue = false;
  };
  const endRdn = () => {
    endAttribute();
    rdns.push(rdn.sort(([a, x], [b, y]) => (a + '=' + x).localeCompare(b + '=' + y)));
    rdn = [];
  };
  for (let i = 0; i < dn.length; i++) {
    const char = dn[i]!;
    if (char === '\\' && i + 1 < dn.length) {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        value += String.fromCharCode(parseInt(hex, 16));
        i += 2;
      } else {
        value += dn[++i];
      }
    } else if (!inValue && char === '=') {
      inValue = true;
    } else if (char === ',') {
      endRdn();
    } else if (char === '+') {
      endAttribute();
    } else if (inValue) {
      value += char;
    } else {
      type += char;
    }
  }
  if (type || value || rdn.length) endRdn();
  return rdns;
}

/** A certificate's subject as comparable data (see parseRfc4514). */
function certificateSubject(raw: Buffer): DistinguishedName {
  // Node prints one RDN per line, in certificate order (most significant first), values escaped
  // as in RFC 2253 and multi-valued RDNs joined by ' + ': reversed and comma-joined, that is RFC 4514.
  return parseRfc4514(new X509Certificate(raw).subject.split('\n').filter(Boolean).reverse().join(','));
}

/** 401 invalid_client (oidc-provider's InvalidClientAuth) with `description` instead of its generic one. */
function clientAuthError(errors: OidcProviderModule['errors'], description: string): Error {
  return Object.assign(new errors.InvalidClientAuth(description), { error_description: `client authentication failed: ${description}` });
}

// --- grant errors ------------------------------------------------------------------------------

/** A token endpoint error answered exactly as given (status and JSON body), bypassing oidc-provider's error shapes. */
class GrantError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
  }
}

const fail = (status: number, error: string, description?: string, extra: Record<string, unknown> = {}) =>
  new GrantError(status, { error, ...(description === undefined ? {} : { error_description: description }), ...extra });

/**
 * Entra ID's error body (Microsoft identity platform, "Error response" of the token endpoint):
 * error, error_description beginning with the AADSTS code and ending with trace/correlation ids
 * and timestamp, error_codes, timestamp, trace_id, correlation_id (and suberror for some).
 * `code` is omitted for rules of this server that are not Entra's own.
 */
function entraError(status: number, error: string, code: number | undefined, message: string, extra: Record<string, unknown> = {}): GrantError {
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const traceId = randomUUID();
  const correlationId = randomUUID();
  return new GrantError(status, {
    error,
    error_description: `${code === undefined ? '' : `AADSTS${code}: `}${message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: code === undefined ? [] : [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    ...extra,
  });
}

/** Auth0 reserves these subject_token_type namespaces (Custom Token Exchange: "The following namespaces are reserved and cannot be used"). */
const AUTH0_RESERVED_PREFIXES = ['http://auth0.com', 'https://auth0.com', 'http://okta.com', 'https://okta.com', 'urn:ietf', 'urn:auth0', 'urn:okta'];

/** Scopes of OpenID Connect that carry no resource; Entra accepts them next to resource scopes. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

/**
 * Start a local authorization server on `host:port` (default 127.0.0.1, ephemeral port).
 *
 * Key rotation: oidc-provider reads its keystore once, in its constructor, and has no API to swap
 * keys at run time. `rotateKey` therefore builds a fresh Provider (same issuer, clients, grant and
 * storage) with the new key set and routes later requests to it, so both its `/jwks` endpoint and
 * the tokens it signs itself (client_credentials) follow the rotation. Opaque tokens survive it:
 * the storage adapter is the server's own, not the Provider's.
 *
 * mTLS alias (RFC 8705 §5): a second HTTPS listener, served by a second Provider built on the same
 * issuer, keys, clients and storage, which authenticates tls_client_auth clients only. The main
 * listener then asks for no client certificate, so tls_client_auth succeeds only at the alias and
 * every other method only at the main endpoints.
 */
export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const { default: Provider, errors } = await loadOidcProvider();
  const host = options.host ?? '127.0.0.1';
  const profile = options.profile ?? 'rfc8693';
  const accessTokenTtl = options.accessTokenTtl ?? 600;
  const exchangedTokenTtl = options.exchangedTokenTtl === undefined ? 300 : options.exchangedTokenTtl;
  const auth0SubjectTokenType = options.auth0SubjectTokenType ?? DEFAULT_AUTH0_SUBJECT_TOKEN_TYPE;
  const allowedTargets = new Set(options.exchangeTargets);
  const tls = options.tls;
  if (options.mtlsAlias && !tls?.ca) throw new TypeError('mtlsAlias needs tls with a client CA (tls.ca)');
  const closing = new AbortController();
  const Adapter = createAdapterClass();

  const exchangeClientIds = new Set(options.exchangeClients.map((client) => client.id));
  const introspectors = new Set((options.introspectionClients ?? options.exchangeClients).map((client) => client.id));
  const extraIntrospectionClients = (options.introspectionClients ?? []).filter((client) => !exchangeClientIds.has(client.id));
  for (const client of [...options.exchangeClients, ...extraIntrospectionClients]) validateClient(client);

  let keys: SigningKey[] = [await newSigningKey()]; // keys[0] signs
  let foreignKey: Promise<SigningKey> | undefined;

  // With mtlsAlias the main listener asks for no certificate: tls_client_auth works at the alias only.
  const server: Server = tls
    ? (createHttpsServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: !!tls.ca && !options.mtlsAlias, rejectUnauthorized: false }) as unknown as Server)
    : createServer();
  const port = await listen(server, options.port ?? 0, host);
  const issuer = `${tls ? 'https' : 'http'}://${host}:${port}`;

  let aliasServer: Server | undefined;
  let aliasOrigin: string | undefined;
  if (options.mtlsAlias && tls) {
    // Certificates are requested but not required by TLS: tls_client_auth itself rejects a missing or untrusted one.
    aliasServer = createHttpsServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: false }) as unknown as Server;
    try {
      aliasOrigin = `https://${host}:${await listen(aliasServer, 0, host)}`;
    } catch (error) {
      await closeServer(server);
      throw error;
    }
  }

  const exchanges: ExchangeRecord[] = [];
  let introspections = 0;
  /** client secrets replaced by setClientSecret */
  const rotatedSecrets = new Map<string, string>();
  /** the request being handled (for the client-secret placement check) */
  const requestContext = new AsyncLocalStorage<OidcContext>();
  const strictSecretMethods = profile !== 'keycloak' && profile !== 'entra_obo';

  /** RFC 9068 §2.2 claims of a token issued to 'demo-app' for options.resource. */
  function defaultClaims(): Record<string, unknown> {
    const iat = now();
    return {
      iss: issuer,
      aud: options.resource,
      iat,
      exp: iat + accessTokenTtl,
      jti: randomUUID(),
      client_id: DEMO_CLIENT_ID,
      scope: DEFAULT_SCOPE,
    };
  }

  /** A JWT signed by this server's current or published keys, with iss = issuer, unexpired (no leeway). */
  async function verifyOwnToken(token: string): Promise<JWTPayload> {
    const jwks = createLocalJWKSet({ keys: keys.map((key) => key.publicJwk) });
    const { payload } = await jwtVerify(token, jwks, { issuer, algorithms: ['RS256'], clockTolerance: 0 });
    return payload;
  }

  async function verifySubject(token: string): Promise<JWTPayload | undefined> {
    try {
      return await verifyOwnToken(token);
    } catch {
      return undefined;
    }
  }

  /**
   * The actor: a JWT this server signed (its `sub`), or an opaque client_credentials token that
   * was issued to the requesting client itself (its client id).
   */
  async function verifyActor(ctx: OidcContext, token: string): Promise<{ sub: string } | undefined> {
    const payload = await verifySubject(token);
    if (payload) return typeof payload.sub === 'string' ? { sub: payload.sub } : undefined;
    const clientId = ctx.oidc.client.clientId;
    const stored = await ctx.oidc.provider.ClientCredentials.find(token);
    return stored?.isValid && stored.clientId === clientId ? { sub: clientId } : undefined;
  }

  /** Sign an exchanged token with the current key; lifetime exchangedTokenTtl (300 s when it is null). */
  function issue(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const iat = now();
    return sign(keys[0]!.privateKey, { iss: issuer, iat, exp: iat + (exchangedTokenTtl ?? 300), jti: randomUUID(), ...claims }, { kid: keys[0]!.kid, ...header });
  }

  /** RFC 6749 §5.1 success response (no-store); `expires_in` only when exchangedTokenTtl is not null. */
  function respond(ctx: OidcContext, body: Record<string, unknown>): void {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = merge({}, body);
  }

  const expiresIn = (): Record<string, number> => (exchangedTokenTtl === null ? {} : { expires_in: exchangedTokenTtl });

  const issuedScope = (requested: unknown, subject: JWTPayload): string | undefined =>
    typeof requested === 'string' ? requested : typeof subject.scope === 'string' ? subject.scope : undefined;

  // --- profile: rfc8693 --------------------------------------------------------------------------

  /** RFC 8693 §2: plain token exchange. */
  async function rfc8693(ctx: OidcContext): Promise<void> {
    const clientId = ctx.oidc.client.clientId;
    const { subject_token: subjectToken, subject_token_type: subjectTokenType, scope, actor_token: actorToken, actor_token_type: actorTokenType } = ctx.oidc.params;
    // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED; only access tokens are supported here.
    if (typeof subjectToken !== 'string') throw new errors.InvalidRequest('subject_token is required');
    if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    // RFC 8693 §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be included otherwise.
    if (actorToken !== undefined && actorTokenType === undefined) throw new errors.InvalidRequest('actor_token_type is required with actor_token');
    if (actorToken === undefined && actorTokenType !== undefined) throw new errors.InvalidRequest('actor_token_type must not be sent without actor_token');
    if (actorTokenType !== undefined && actorTokenType !== ACCESS_TOKEN_TYPE && actorTokenType !== JWT_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE} or ${JWT_TOKEN_TYPE}`);
    }

    const subject = await verifySubject(subjectToken);
    // RFC 8693 §2.2.2 says invalid_request for an invalid subject_token; this server answers
    // invalid_grant (RFC 6749 §5.2) instead, as many deployed servers do. Same for the actor token.
    if (!subject) throw new errors.InvalidGrant('subject token is invalid');
    const actor = typeof actorToken === 'string' ? await verifyActor(ctx, actorToken) : undefined;
    if (actorToken !== undefined && !actor) throw new errors.InvalidGrant('actor token is invalid');

    // RFC 8693 §2.1 + RFC 8707: the target is every audience and resource value; §2.2.2 invalid_target.
    const targets = [...new Set([...asArray(ctx.oidc.params.audience), ...asArray(ctx.oidc.params.resource)])];
    if (targets.length === 0 || targets.some((target) => !allowedTargets.has(target))) {
      throw new errors.InvalidTarget();
    }

    if (subject.sub === BLOCKED_SUBJECT) throw new errors.AccessDenied();

    const scopeValue = issuedScope(scope, subject);
    // RFC 8693 §4.1: the current actor is the actor token's subject (the exchanging client when
    // there is none); a prior actor chain of the subject token nests below it.
    const act = actor ? { sub: actor.sub, ...(subject.act ? { act: subject.act } : {}) } : { sub: clientId };
    const accessToken = await issue({ sub: subject.sub, aud: single(targets), client_id: clientId, scope: scopeValue, act });
    // RFC 8693 §2.2.1 response.
    respond(ctx, { access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', ...expiresIn(), scope: scopeValue });
  }

  // --- profile: keycloak -------------------------------------------------------------------------

  /**
   * Keycloak 26.2+ "standard token exchange" (V2; StandardTokenExchangeProvider and
   * AbstractTokenExchangeProvider in keycloak/keycloak). Errors and their texts are Keycloak's,
   * except where a comment says otherwise.
   */
  async function keycloak(ctx: OidcContext): Promise<void> {
    const client = ctx.oidc.client;
    const params = ctx.oidc.params;
    // StandardTokenExchangeProvider.supports(): subject_token and an access-token subject_token_type are required.
    if (typeof params.subject_token !== 'string') throw fail(400, 'invalid_request', "Parameter 'subject_token' required for standard token exchange");
    if (params.subject_token_type === undefined) throw fail(400, 'invalid_request', "Parameter 'subject_token_type' required for standard token exchange");
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw fail(400, 'invalid_request', "Parameter 'subject_token' supports access tokens only");
    // Keycloak documents delegation (actor_token) and `resource` as not supported by standard token
    // exchange; Keycloak itself ignores them. This server REJECTS them, so that a deployment relying
    // on them fails loudly here instead of silently getting a token without them.
    for (const name of ['actor_token', 'actor_token_type', 'resource']) {
      if (ctx.oidc.body[name] !== undefined) throw fail(400, 'invalid_request', `Parameter '${name}' is not supported for standard token exchange`);
    }

    // processSubjectToken(): an unverifiable subject token → invalid_request "Invalid token".
    const subject = await verifySubject(params.subject_token);
    if (!subject) throw fail(400, 'invalid_request', 'Invalid token');

    // getRequestedTokenType(): access_token (default) and id_token; refresh_token only when the
    // client enables it (off by default, and so here); anything else → "requested_token_type unsupported".
    const requestedTokenType = typeof params.requested_token_type === 'string' ? params.requested_token_type : ACCESS_TOKEN_TYPE;
    if (requestedTokenType !== ACCESS_TOKEN_TYPE && requestedTokenType !== ID_TOKEN_TYPE) {
      throw fail(400, 'invalid_request', 'requested_token_type unsupported');
    }

    // getTargetAudienceClients(): every audience is a client id of the realm, else invalid_client "Audience not found".
    const audiences = asArray(params.audience);
    if (audiences.some((audience) => !allowedTargets.has(audience))) throw fail(400, 'invalid_client', 'Audience not found');

    // validateAudience(): public clients may not exchange; the requester must be the token's
    // holder (azp) or within its audience, else 403 access_denied.
    if (client.clientAuthMethod === 'none') throw fail(400, 'invalid_client', 'Public client is not allowed to exchange token');
    if (subject.azp !== client.clientId && !asArray(subject.aud).includes(client.clientId)) {
      throw fail(403, 'access_denied', 'Client is not within the token audience');
    }
    if (subject.sub === BLOCKED_SUBJECT) throw fail(400, 'access_denied', 'Access denied');

    const scope = issuedScope(params.scope, subject);
    // AccessTokenResponse of Keycloak: refresh_expires_in and not-before-policy are always present.
    const keycloakFields = { ...expiresIn(), refresh_expires_in: 0, 'not-before-policy': 0, scope };
    if (requestedTokenType === ID_TOKEN_TYPE) {
      // RFC 8693 §2.2.1 as Keycloak applies it: the ID token goes in access_token, token_type "N_A".
      const idToken = await issue({ sub: subject.sub, aud: client.clientId, azp: client.clientId, typ: 'ID' }, { typ: 'JWT' });
      respond(ctx, { access_token: idToken, token_type: 'N_A', ...keycloakFields, issued_token_type: ID_TOKEN_TYPE });
      return;
    }
    // Keycloak access tokens: header typ "JWT", payload typ "Bearer", azp = the requester; the
    // audience is the requested clients (the requester itself when no audience was sent). No `act`:
    // standard token exchange does not do delegation.
    const accessToken = await issue(
      { sub: subject.sub, aud: audiences.length > 0 ? single(audiences) : client.clientId, azp: client.clientId, typ: 'Bearer', scope },
      { typ: 'JWT' },
    );
    respond(ctx, { access_token: accessToken, token_type: 'Bearer', ...keycloakFields, issued_token_type: ACCESS_TOKEN_TYPE });
  }

  // --- profile: okta -----------------------------------------------------------------------------

  /**
   * Okta token exchange with an actor (the contract this project's issue asks for): actor_token and
   * actor_token_type REQUIRED, audience REQUIRED. NOTE: Okta's documented "On-Behalf-Of Token
   * Exchange" guide sends no actor_token (subject_token + audience + scope); the REQUIRED actor is a
   * rule of this server's okta profile, not something Okta's OBO guide documents.
   */
  async function okta(ctx: OidcContext): Promise<void> {
    const params = ctx.oidc.params;
    if (typeof params.subject_token !== 'string') throw fail(400, 'invalid_request', "The 'subject_token' parameter is required.");
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw fail(400, 'invalid_request', `The 'subject_token_type' must be ${ACCESS_TOKEN_TYPE}.`);
    if (typeof params.actor_token !== 'string') throw fail(400, 'invalid_request', "The 'actor_token' parameter is required.");
    if (params.actor_token_type === undefined) throw fail(400, 'invalid_request', "The 'actor_token_type' parameter is required.");
    if (params.actor_token_type !== ACCESS_TOKEN_TYPE && params.actor_token_type !== JWT_TOKEN_TYPE) {
      throw fail(400, 'invalid_request', `The 'actor_token_type' must be ${ACCESS_TOKEN_TYPE} or ${JWT_TOKEN_TYPE}.`);
    }
    const audiences = asArray(params.audience);
    if (audiences.length === 0) throw fail(400, 'invalid_request', "The 'audience' parameter is required.");
    const targets = [...new Set([...audiences, ...asArray(params.resource)])];
    if (targets.some((target) => !allowedTargets.has(target))) throw fail(400, 'invalid_target', 'The audience is not valid for this authorization server.');

    const subject = await verifySubject(params.subject_token);
    if (!subject) throw fail(400, 'invalid_grant', "The 'subject_token' is invalid.");
    const actor = await verifyActor(ctx, params.actor_token);
    if (!actor) throw fail(400, 'invalid_grant', "The 'actor_token' is invalid.");
    if (subject.sub === BLOCKED_SUBJECT) throw fail(400, 'access_denied', 'The resource owner or authorization server denied the request.');

    const scope = issuedScope(params.scope, subject);
    // Okta access token claims: ver, jti "AT.…", cid (client id), scp (array); RFC 8693 §4.1 act.
    const accessToken = await issue({
      ver: 1,
      jti: `AT.${randomBytes(16).toString('base64url')}`,
      sub: subject.sub,
      aud: single(targets),
      cid: ctx.oidc.client.clientId,
      scp: scope?.split(' '),
      act: { sub: actor.sub },
    });
    respond(ctx, { token_type: 'Bearer', ...expiresIn(), access_token: accessToken, scope, issued_token_type: ACCESS_TOKEN_TYPE });
  }

  // --- profile: auth0 ----------------------------------------------------------------------------

  /**
   * Auth0 Custom Token Exchange (auth0.com docs: "Call your API using the Custom Token Exchange
   * flow"): a custom subject_token_type mapped to a Custom Token Exchange Profile, the audience is
   * an API identifier. The Action that validates the subject token is played by this server: it
   * accepts a JWT it signed itself.
   */
  async function auth0(ctx: OidcContext): Promise<void> {
    const params = ctx.oidc.params;
    const subjectTokenType = params.subject_token_type;
    // Auth0's wording for a missing parameter: "Missing required parameter: <name>".
    if (typeof subjectTokenType !== 'string') throw fail(400, 'invalid_request', 'Missing required parameter: subject_token_type');
    if (typeof params.subject_token !== 'string') throw fail(400, 'invalid_request', 'Missing required parameter: subject_token');
    // Reserved namespaces (Auth0 docs) cannot be Custom Token Exchange types.
    if (AUTH0_RESERVED_PREFIXES.some((prefix) => subjectTokenType.startsWith(prefix))) {
      throw fail(400, 'invalid_request', `subject_token_type ${subjectTokenType} uses a reserved namespace`);
    }
    // The profile is chosen by subject_token_type; no profile for it → the request is invalid.
    if (subjectTokenType !== auth0SubjectTokenType) {
      throw fail(400, 'invalid_request', `no Custom Token Exchange Profile for subject_token_type ${subjectTokenType}`);
    }
    // The tenant here has no default audience, so the API identifier is required.
    const audiences = asArray(params.audience);
    if (audiences.length === 0) throw fail(400, 'invalid_request', 'Missing required parameter: audience');
    if (audiences.length > 1) throw fail(400, 'invalid_request', 'audience must be a single API identifier');
    // Auth0 answers an unknown API identifier with 403 access_denied "Service not found: <audience>".
    if (!allowedTargets.has(audiences[0]!)) throw fail(403, 'access_denied', `Service not found: ${audiences[0]}`);

    // What Auth0 answers for an invalid subject token is up to the Action
    // (api.access.rejectInvalidSubjectToken / api.access.deny); this server answers invalid_grant.
    const subject = await verifySubject(params.subject_token);
    if (!subject) throw fail(400, 'invalid_grant', 'Invalid subject token');
    if (subject.sub === BLOCKED_SUBJECT) throw fail(400, 'access_denied', 'User cannot log in');

    const scope = issuedScope(params.scope, subject);
    const accessToken = await issue({ sub: subject.sub, aud: audiences[0], azp: ctx.oidc.client.clientId, scope });
    respond(ctx, { access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', ...expiresIn(), scope });
  }

  // --- profile: entra_obo ------------------------------------------------------------------------

  /**
   * Microsoft identity platform on-behalf-of flow (learn.microsoft.com "OAuth 2.0 On-Behalf-Of
   * flow"): NOT RFC 8693. grant_type jwt-bearer, assertion = the inbound token,
   * requested_token_use=on_behalf_of, scope = "<resource>/<permission>" (e.g. api://orders/.default).
   */
  async function entraObo(ctx: OidcContext): Promise<void> {
    const client = ctx.oidc.client;
    const params = ctx.oidc.params;
    // Not Entra's behaviour (it ignores unknown parameters): RFC 8693 parameters on the OBO grant
    // are a client mistake this server reports.
    for (const name of RFC8693_PARAMETERS.filter((parameter) => parameter !== 'scope')) {
      if (ctx.oidc.body[name] !== undefined) {
        throw entraError(400, 'invalid_request', undefined, `The on-behalf-of request must not contain the RFC 8693 parameter '${name}'.`);
      }
    }
    // AADSTS900144: a required parameter is missing.
    for (const name of ['assertion', 'requested_token_use', 'scope']) {
      if (typeof params[name] !== 'string' || params[name] === '') {
        throw entraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
      }
    }
    if (params.requested_token_use !== 'on_behalf_of') {
      throw entraError(400, 'invalid_request', undefined, "The value of the parameter 'requested_token_use' must be 'on_behalf_of'.");
    }

    // Scope: one resource per request (AADSTS28000), each resource scope "<resource>/<permission>"
    // (AADSTS70011), the resource must exist (AADSTS500011, error invalid_resource).
    const scopes = String(params.scope).split(' ').filter(Boolean);
    const resources = new Set<string>();
    const permissions: string[] = [];
    for (const scope of scopes) {
      if (OIDC_SCOPES.has(scope)) continue;
      const slash = scope.lastIndexOf('/');
      const resource = slash > 0 ? scope.slice(0, slash) : '';
      const permission = slash > 0 ? scope.slice(slash + 1) : '';
      if (!resource || !permission || resource.endsWith(':/')) {
        throw entraError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
      }
      resources.add(resource);
      permissions.push(permission);
    }
    if (resources.size === 0) {
      throw entraError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${params.scope} does not name a resource.`);
    }
    if (resources.size > 1) {
      throw entraError(400, 'invalid_scope', 28000, 'Provided value for the input parameter scope is not valid because it contains more than one resource.');
    }
    const target = [...resources][0]!;
    if (!allowedTargets.has(target)) {
      throw entraError(400, 'invalid_resource', 500011, `The resource principal named ${target} was not found in the tenant.`);
    }

    // The assertion is verified like a subject token; it must have been issued to the middle tier
    // (aud = its client id, or its App ID URI, which is options.resource here).
    let assertion: JWTPayload;
    try {
      assertion = await verifyOwnToken(String(params.assertion));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw entraError(400, 'invalid_grant', 500133, 'Assertion is not within its valid time range.');
      throw entraError(400, 'invalid_grant', 50013, 'Assertion failed signature validation.');
    }
    const audience = asArray(assertion.aud);
    if (!audience.includes(client.clientId) && !audience.includes(options.resource)) {
      throw entraError(400, 'invalid_grant', 50013, 'Assertion audience does not match the Client app presenting the assertion.');
    }
    // AADSTS65001 (consent_required): the user has not consented to the middle tier calling the resource.
    if (assertion.sub === NEEDS_CONSENT_SUBJECT) {
      throw entraError(
        400,
        'invalid_grant',
        65001,
        `The user or administrator has not consented to use the application with ID '${client.clientId}' named '${client.clientId}'. Send an interactive authorization request for this user and resource.`,
        { suberror: 'consent_required' },
      );
    }
    if (assertion.sub === BLOCKED_SUBJECT) throw entraError(400, 'access_denied', undefined, 'The user is blocked from this resource.');

    // Entra v2 access token: aud = the resource, scp = the delegated permissions (.default stands
    // for every consented one; 'user_impersonation' here), azp = the calling client, oid/sub of the user.
    const named = permissions.filter((permission) => permission !== '.default');
    const scp = named.length > 0 ? named.join(' ') : 'user_impersonation';
    const accessToken = await issue(
      { ver: '2.0', aud: target, sub: assertion.sub, oid: assertion.oid ?? assertion.sub, azp: client.clientId, azpacr: '1', scp },
      { typ: 'JWT' },
    );
    const lifetime = expiresIn();
    // Response: token_type, scope, expires_in, ext_expires_in, access_token; no issued_token_type.
    respond(ctx, {
      token_type: 'Bearer',
      scope: scopes.join(' '),
      ...lifetime,
      ...(lifetime.expires_in === undefined ? {} : { ext_expires_in: lifetime.expires_in }),
      access_token: accessToken,
    });
  }

  const profiles: Record<ProviderProfile, (ctx: OidcContext) => Promise<void>> = {
    rfc8693,
    keycloak,
    okta,
    auth0,
    entra_obo: entraObo,
  };

  /** The grant handler: records the request, waits exchangeDelayMs, then applies the profile. */
  async function exchangeGrant(ctx: OidcContext): Promise<void> {
    const clientId = ctx.oidc.client.clientId;
    const params: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(ctx.oidc.body)) {
      params[name] = Array.isArray(value) ? [...value] : value;
    }
    const traceparent = ctx.req.headers.traceparent;
    exchanges.push({ clientId, params, ...(typeof traceparent === 'string' ? { traceparent } : {}) });

    if (as.exchangeDelayMs > 0) await sleep(as.exchangeDelayMs, undefined, { signal: closing.signal });

    try {
      await profiles[profile](ctx);
    } catch (error) {
      if (!(error instanceof GrantError)) throw error;
      ctx.status = error.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = error.body;
    }
  }

  function validateClient(client: ExchangeClient): void {
    const method = client.authMethod ?? 'client_secret_basic';
    if (!CLIENT_AUTH_METHODS.includes(method)) throw new TypeError(`client ${client.id}: unknown authMethod ${method}`);
    if ((method === 'client_secret_basic' || method === 'client_secret_post') && !client.secret) {
      throw new TypeError(`client ${client.id}: ${method} needs a secret`);
    }
    if (method === 'private_key_jwt' && !client.jwks?.keys.length && !client.jwksUri) throw new TypeError(`client ${client.id}: private_key_jwt needs jwks or jwksUri`);
    if (method === 'tls_client_auth' && !client.tlsSubjectDn) throw new TypeError(`client ${client.id}: tls_client_auth needs tlsSubjectDn`);
  }

  /** oidc-provider client metadata of an exchange or introspection client. */
  function clientMetadata(client: ExchangeClient, exchange: boolean): Record<string, unknown> {
    const method = client.authMethod ?? 'client_secret_basic';
    const grantTypes: string[] = [];
    if (exchange) grantTypes.push(profile === 'entra_obo' ? JWT_BEARER_GRANT : TOKEN_EXCHANGE_GRANT);
    // client_credentials needs an authenticated client (it is also how actor tokens are obtained).
    if (method !== 'none') grantTypes.push('client_credentials');
    return merge(
      {
        client_id: client.id,
        grant_types: grantTypes,
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: method,
        scope: RESOURCE_SCOPE,
      },
      {
        client_secret: method === 'client_secret_basic' || method === 'client_secret_post' ? (rotatedSecrets.get(client.id) ?? client.secret) : undefined,
        // private_key_jwt: token_endpoint_auth_signing_alg stays unset, so any asymmetric
        // algorithm of CLIENT_AUTH_SIGNING_ALGS is accepted.
        jwks: method === 'private_key_jwt' && !client.jwksUri ? client.jwks : undefined,
        jwks_uri: method === 'private_key_jwt' ? client.jwksUri : undefined,
        tls_client_auth_subject_dn: method === 'tls_client_auth' ? client.tlsSubjectDn : undefined,
      },
    );
  }

  function buildProvider(listener: 'main' | 'alias'): OidcProvider {
    const signingKid = keys[0]!.kid;
    const clients = [
      {
        client_id: DEMO_CLIENT_ID,
        client_secret: DEMO_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: RESOURCE_SCOPE,
      },
      ...options.exchangeClients.map((client) => clientMetadata(client, true)),
      ...extraIntrospectionClients.map((client) => clientMetadata(client, false)),
    ];

    const discovery: Record<string, unknown> = {
      claim_types_supported: ['normal'],
      // RFC 8705 §3.3: certificate-bound access tokens are not issued.
      tls_client_certificate_bound_access_tokens: false,
    };
    if (aliasOrigin) {
      // RFC 8705 §5.
      discovery.mtls_endpoint_aliases = { token_endpoint: `${aliasOrigin}/token`, introspection_endpoint: `${aliasOrigin}/token/introspection` };
    }

    const provider = quietly(
      () =>
        new Provider(issuer, {
          adapter: Adapter,
          clients,
          jwks: { keys: keys.map((key) => key.privateJwk) },
          cookies: { keys: [randomBytes(32).toString('base64url')] },
          scopes: ['openid', 'offline_access', ...RESOURCE_SCOPE.split(' ')],
          clientAuthMethods: CLIENT_AUTH_METHODS,
          enabledJWA: { clientAuthSigningAlgValues: CLIENT_AUTH_SIGNING_ALGS },
          // Client jwks_uri fetches: oidc-provider refuses special-use addresses (SSRF protection), but
          // this server and the platform issuers of its tests live on loopback. Dev/test tool only.
          fetch: (url: string, init: Record<string, unknown>) => undiciFetch(url, { ...init, dispatcher: undefined } as never),
          discovery,
          features: {
            // No browser flows here; disabling devInteractions also avoids its console warning.
            devInteractions: { enabled: false },
            clientCredentials: { enabled: true },
            introspection: {
              enabled: true,
              // RFC 7662 §2.1: only the introspection clients may learn about tokens (and any client
              // about its own); anybody else gets active:false.
              allowedPolicy: async (_ctx: unknown, client: OidcClient, token: { clientId: string }) =>
                introspectors.has(client.clientId) || client.clientId === token.clientId,
            },
            mTLS: {
              enabled: true,
              tlsClientAuth: true,
              certificateBoundAccessTokens: false,
              // The peer certificate of the TLS connection (PEM), if the client sent one.
              getCertificate: (ctx: OidcContext) => {
                const certificate = peerCertificate(ctx.req.socket);
                return certificate ? new X509Certificate(certificate.raw).toString() : undefined;
              },
              // Chains to options.tls.ca (the TLS layer verified it; requestCert without rejectUnauthorized).
              certificateAuthorized: (ctx: OidcContext) => (ctx.req.socket as Partial<TLSSocket>).authorized === true,
              // RFC 8705 §2.1.2: tls_client_auth_subject_dn is an RFC 4514 DN; attribute types are
              // compared case-insensitively, values exactly (after unescaping), RDNs in order.
              certificateSubjectMatches: (ctx: OidcContext, property: string, expected: string) => {
                const certificate = peerCertificate(ctx.req.socket);
                if (!certificate || property !== 'tls_client_auth_subject_dn') return false;
                return JSON.stringify(certificateSubject(certificate.raw)) === JSON.stringify(parseRfc4514(expected));
              },
            },
            resourceIndicators: {
              enabled: true,
              // RFC 8707: options.resource is the only resource server; its tokens are RFC 9068 JWTs.
              getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string) => {
                if (resourceIndicator !== options.resource) throw new errors.InvalidTarget();
                return {
                  scope: RESOURCE_SCOPE,
                  audience: options.resource,
                  accessTokenTTL: accessTokenTtl,
                  accessTokenFormat: 'jwt',
                  jwt: { sign: { alg: 'RS256', kid: signingKid } },
                };
              },
            },
          },
          ttl: { AccessToken: accessTokenTtl, ClientCredentials: accessTokenTtl },
          // Overriding these defaults keeps oidc-provider from printing "you SHOULD change" notices.
          clientBasedCORS: () => false,
          renderError: async (ctx: { body: unknown }, out: unknown) => {
            ctx.body = out;
          },
        }),
    );
    provider.use(async (ctx, next) => {
      if (ctx.method === 'POST' && ctx.path === '/token/introspection') introspections++;
      await requestContext.run(ctx, next);
    });
    if (listener === 'alias') {
      // RFC 8705 §5: the alias endpoints are for mutual-TLS clients only. Every client is registered
      // here (introspection looks up the client a token was issued to), but the client being
      // authenticated (no client on the context yet) must be a tls_client_auth one.
      const { Client } = provider;
      const find = Client.find.bind(Client);
      Client.find = async (id: string, ...rest: unknown[]) => {
        const client = await find(id, ...rest);
        const ctx = requestContext.getStore();
        if (client && ctx && !ctx.oidc.client && client.clientAuthMethod !== 'tls_client_auth') {
          throw clientAuthError(errors, `client ${id} uses ${client.clientAuthMethod}; the mtls_endpoint_aliases endpoints accept tls_client_auth clients only`);
        }
        return client;
      };
    }
    if (strictSecretMethods) {
      // oidc-provider accepts a client secret in either place (Basic header or body) whatever the
      // client registered. The rfc8693, okta and auth0 profiles hold the client to its registered
      // token_endpoint_auth_method (RFC 7591 §2), so a caller that puts the secret in the wrong
      // place fails here; Keycloak and Entra ID accept both, and so do those profiles.
      const { prototype } = provider.Client;
      const compare = prototype.compareClientSecret;
      prototype.compareClientSecret = function (this: OidcClient, secret: string) {
        const viaHeader = requestContext.getStore()?.req.headers.authorization !== undefined;
        if (this.clientAuthMethod === (viaHeader ? 'client_secret_post' : 'client_secret_basic')) {
          throw clientAuthError(errors, `the client is registered for ${this.clientAuthMethod}`);
        }
        return compare.call(this, secret);
      };
    }
    if (profile === 'entra_obo') {
      // Entra's OBO request parameters; the RFC 8693 grant is not registered (unsupported_grant_type).
      provider.registerGrantType(JWT_BEARER_GRANT, exchangeGrant, ['assertion', 'requested_token_use', 'scope'], []);
    } else {
      provider.registerGrantType(
        TOKEN_EXCHANGE_GRANT,
        exchangeGrant,
        // RFC 8693 §2.1 request parameters; audience and resource may repeat.
        RFC8693_PARAMETERS,
        ['audience', 'resource'],
      );
    }
    // Platform-minted assertions (clients with a jwksUri) are reusable until they expire, as a federated token is.
    const reusable = new Set([...options.exchangeClients, ...extraIntrospectionClients].filter((client) => client.jwksUri).map((client) => client.id));
    if (reusable.size > 0) {
      const replay = provider.ReplayDetection;
      const unique = replay.unique.bind(replay);
      replay.unique = async (iss, jti, exp) => reusable.has(iss) || unique(iss, jti, exp);
    }
    return provider;
  }

  // Requests go to whichever provider is current (see rotateKey).
  let mainProvider = buildProvider('main');
  let handle = mainProvider.callback();
  let handleAlias = aliasServer ? buildProvider('alias').callback() : undefined;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res));
  aliasServer?.on('request', (req: IncomingMessage, res: ServerResponse) => void handleAlias?.(req, res));

  /** The server calling its own listener (clientCredentialsToken): with tls, over a loopback connection it just bound. */
  let selfDispatcher = tls ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;

  const as: AuthorizationServer = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    mtlsTokenEndpoint: aliasOrigin && `${aliasOrigin}/token`,
    mtlsIntrospectionEndpoint: aliasOrigin && `${aliasOrigin}/token/introspection`,
    exchanges,
    get introspections() {
      return introspections;
    },
    exchangeDelayMs: 0,

    mintAccessToken(claims, header) {
      return sign(keys[0]!.privateKey, merge(defaultClaims(), claims), { kid: keys[0]!.kid, ...header });
    },

    async mintWithForeignKey(claims, header) {
      foreignKey ??= newSigningKey('unknown-key');
      const key = await foreignKey;
      // Same claims as mintAccessToken: only the key differs.
      return sign(key.privateKey, merge(defaultClaims(), claims), { kid: key.kid, ...header });
    },

    async mintOpaqueToken({ sub, scope = DEFAULT_SCOPE, aud = options.resource, ttl = accessTokenTtl, clientId = DEMO_CLIENT_ID }) {
      const known = clientId === DEMO_CLIENT_ID || exchangeClientIds.has(clientId) || extraIntrospectionClients.some((client) => client.id === clientId);
      if (!known) throw new TypeError(`mintOpaqueToken: ${clientId} is not a registered client`);
      // oidc-provider's own AccessToken model, opaque format: introspection reports accountId as
      // sub, and aud, scope, client_id, iat, exp, iss.
      const token = new mainProvider.AccessToken({ accountId: sub, clientId, scope, aud, expiresIn: ttl });
      return token.save();
    },

    async revoke(token) {
      const stored = (await mainProvider.AccessToken.find(token)) ?? (await mainProvider.ClientCredentials.find(token));
      await stored?.destroy();
    },

    async clientCredentialsToken(scope = DEFAULT_SCOPE) {
      const response = await undiciFetch(as.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basicAuth(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: options.resource, scope }),
        ...(selfDispatcher ? { dispatcher: selfDispatcher } : {}),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || typeof body.access_token !== 'string') {
        throw new Error(`client_credentials grant failed: ${response.status} ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },

    setClientSecret(id, secret) {
      const client = [...options.exchangeClients, ...extraIntrospectionClients].find((candidate) => candidate.id === id);
      if (!client?.secret) throw new TypeError(`setClientSecret: ${id} is not a client with a secret`);
      rotatedSecrets.set(id, secret);
      // oidc-provider reads client metadata once, at construction: later requests go to a new Provider (as in rotateKey).
      mainProvider = buildProvider('main');
      handle = mainProvider.callback();
      if (aliasServer) handleAlias = buildProvider('alias').callback();
    },

    async rotateKey(dropOld = false) {
      const key = await newSigningKey();
      keys = dropOld ? [key] : [key, ...keys];
      mainProvider = buildProvider('main');
      handle = mainProvider.callback();
      if (aliasServer) handleAlias = buildProvider('alias').callback();
    },

    async close() {
      closing.abort(); // ends pending exchangeDelayMs waits
      const dispatcher = selfDispatcher;
      selfDispatcher = undefined;
      await Promise.all([closeServer(server), aliasServer ? closeServer(aliasServer) : undefined, dispatcher?.close()]);
    },
  };
  return as;
}
