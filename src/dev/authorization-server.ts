/**
 * A real, local OAuth 2.0 authorization server for tests and `npm run demo`, built on
 * `oidc-provider` (panva). It issues RFC 9068 JWT access tokens (client_credentials, or minted
 * directly) and implements the RFC 8693 token-exchange grant. Dev/test tool only: the service
 * never loads this module.
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type identifier for OAuth access tokens. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** A confidential client allowed to use the token-exchange grant. */
export interface ExchangeClient {
  id: string;
  secret: string;
  /** default 'client_secret_basic' */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
}

/** Options of {@link startAuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** IPv4 address or host name to listen on and to put in the issuer; default '127.0.0.1' */ host?: string;
  /** default 0 (ephemeral) */ port?: number;
  /** resource identifier that inbound (subject) tokens are issued for, e.g. 'https://mcp.example.com/mcp' */
  resource: string;
  /** confidential clients allowed to use the token-exchange grant */
  exchangeClients: ExchangeClient[];
  /** `audience` / `resource` values the exchange accepts; anything else → invalid_target. */
  exchangeTargets: string[];
  /** expires_in (seconds) of exchanged tokens; `null` omits expires_in from the response. default 300 */
  exchangedTokenTtl?: number | null;
  /** access token lifetime (s) of tokens minted by mintAccessToken / client_credentials; default 600 */
  accessTokenTtl?: number;
}

/** One token-exchange request as seen by the grant handler. */
export interface ExchangeRecord {
  /** the authenticated client */
  clientId: string;
  /** the form parameters received (subject_token included); repeated parameters are arrays */
  params: Record<string, string | string[]>;
}

/** A running local authorization server. */
export interface AuthorizationServer {
  /** e.g. 'http://127.0.0.1:40123' (no trailing slash) */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  readonly introspectionEndpoint: string;
  /** every token-exchange request that reached the grant handler, in order */
  readonly exchanges: ExchangeRecord[];
  /** extra latency (ms) added before answering any token-exchange request; default 0; settable at run time */
  exchangeDelayMs: number;
  /** Sign an access token (JWT, RFC 9068 shape, header typ 'at+jwt', alg RS256, the server's current kid)
   *  with the server's own signing key. Defaults: iss = issuer, aud = options.resource,
   *  iat = now, exp = now + accessTokenTtl, jti random, client_id 'demo-app', scope 'mcp:tools'.
   *  Every claim can be overridden or removed (pass `undefined` to remove it) by `claims`. `header` overrides protected header fields. */
  mintAccessToken(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** Sign with a key the server does not publish (for "unknown kid" / "bad signature" tests): `kid` is 'unknown-key' unless header overrides it. */
  mintWithForeignKey(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /** Get a real access token from the server's own token endpoint with the client_credentials grant for client 'demo-app' (secret 'demo-app-secret', registered automatically) and resource=options.resource. */
  clientCredentialsToken(scope?: string): Promise<string>;
  /** Publish a new signing key (new kid) and sign future tokens with it; the old key stays in the JWKS unless dropOld is true. */
  rotateKey(dropOld?: boolean): Promise<void>;
  close(): Promise<void>;
}

const DEMO_CLIENT_ID = 'demo-app';
const DEMO_CLIENT_SECRET = 'demo-app-secret';
const RESOURCE_SCOPE = 'mcp:tools mcp:read';
const DEFAULT_SCOPE = 'mcp:tools';
const BLOCKED_SUBJECT = 'blocked-user';

// ---------------------------------------------------------------------------------------------
// oidc-provider ships no type declarations (and @types/oidc-provider is not a dependency), so the
// small part of its API used here is typed locally and the module is imported through a variable
// specifier (a literal one would be a TS7016 error under `strict`).

interface OidcContext {
  oidc: {
    client: { clientId: string };
    /** the parsed form body, straight from node:querystring (repeated keys are arrays) */
    body: Record<string, string | string[]>;
    params: Record<string, string | string[] | undefined>;
  };
  body: unknown;
  set(field: string, value: string): void;
}

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  registerGrantType(
    name: string,
    handler: (ctx: OidcContext) => Promise<void>,
    parameters: string[],
    allowedDuplicateParameters: string[],
  ): void;
}

type OidcError = new (description?: string) => Error;

interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: Record<'InvalidRequest' | 'InvalidGrant' | 'InvalidTarget' | 'AccessDenied', OidcError>;
}

const OIDC_PROVIDER_MODULE = 'oidc-provider';
let oidcProviderModule: Promise<OidcProviderModule> | undefined;

/**
 * oidc-provider talks through console.warn/console.info ("oidc-provider WARNING: ..."): on import
 * (it wants Node 22 LTS) and when built with its in-memory adapter. Both are expected here, so while
 * those run, lines mentioning oidc-provider (and only those) are dropped. Returns the undo function.
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
  // RFC 9068 §2.1: access token JWTs carry typ "at+jwt".
  const protectedHeader = merge({ alg: 'RS256', typ: 'at+jwt' }, header) as { alg: string };
  return new SignJWT(payload as JWTPayload).setProtectedHeader(protectedHeader).sign(key);
}

const now = (): number => Math.floor(Date.now() / 1000);

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function basicAuth(id: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

const asArray = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Start a local authorization server on `host:port` (default 127.0.0.1, ephemeral port).
 *
 * Key rotation: oidc-provider reads its keystore once, in its constructor, and has no API to swap
 * keys at run time. `rotateKey` therefore builds a fresh Provider (same issuer, clients and grant)
 * with the new key set and routes later requests to it, so both its `/jwks` endpoint and the
 * tokens it signs itself (client_credentials) follow the rotation. Its in-memory state (opaque
 * artefacts only; nothing the tests rely on) does not carry over.
 */
export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const { default: Provider, errors } = await loadOidcProvider();
  const host = options.host ?? '127.0.0.1';
  const accessTokenTtl = options.accessTokenTtl ?? 600;
  const exchangedTokenTtl = options.exchangedTokenTtl === undefined ? 300 : options.exchangedTokenTtl;
  const allowedTargets = new Set(options.exchangeTargets);
  const closing = new AbortController();

  let keys: SigningKey[] = [await newSigningKey()]; // keys[0] signs
  let foreignKey: Promise<SigningKey> | undefined;

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;

  const exchanges: ExchangeRecord[] = [];

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

  /** RFC 8693 §2: the token-exchange grant handler (client already authenticated by oidc-provider). */
  async function tokenExchange(ctx: OidcContext): Promise<void> {
    const clientId = ctx.oidc.client.clientId;
    const params: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(ctx.oidc.body)) {
      params[name] = Array.isArray(value) ? [...value] : value;
    }
    exchanges.push({ clientId, params });

    if (as.exchangeDelayMs > 0) await sleep(as.exchangeDelayMs, undefined, { signal: closing.signal });

    // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED; only access tokens are supported here.
    const { subject_token: subjectToken, subject_token_type: subjectTokenType, scope } = ctx.oidc.params;
    if (typeof subjectToken !== 'string') throw new errors.InvalidRequest('subject_token is required');
    if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }

    let subject: JWTPayload;
    try {
      const jwks = createLocalJWKSet({ keys: keys.map((key) => key.publicJwk) });
      ({ payload: subject } = await jwtVerify(subjectToken, jwks, { issuer, algorithms: ['RS256'], clockTolerance: 0 }));
    } catch {
      // RFC 8693 §2.2.2 says invalid_request for an invalid subject_token; this server answers
      // invalid_grant (RFC 6749 §5.2) instead, as many deployed servers do.
      throw new errors.InvalidGrant('subject token is invalid');
    }

    // RFC 8693 §2.1 + RFC 8707: the target is every audience and resource value; §2.2.2 invalid_target.
    const targets = [...new Set([...asArray(ctx.oidc.params.audience), ...asArray(ctx.oidc.params.resource)])];
    if (targets.length === 0 || targets.some((target) => !allowedTargets.has(target))) {
      throw new errors.InvalidTarget();
    }

    if (subject.sub === BLOCKED_SUBJECT) throw new errors.AccessDenied();

    const issuedScope = typeof scope === 'string' ? scope : typeof subject.scope === 'string' ? subject.scope : undefined;
    const iat = now();
    const accessToken = await sign(
      keys[0]!.privateKey,
      {
        iss: issuer,
        sub: subject.sub,
        aud: targets.length === 1 ? targets[0] : targets,
        client_id: clientId,
        scope: issuedScope,
        act: { sub: clientId }, // RFC 8693 §4.1: the exchanging client is the current actor
        iat,
        exp: iat + (exchangedTokenTtl ?? 300),
        jti: randomUUID(),
      },
      { kid: keys[0]!.kid },
    );

    // RFC 8693 §2.2.1 response; RFC 6749 §5.1 requires no-store.
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      ...(exchangedTokenTtl === null ? {} : { expires_in: exchangedTokenTtl }),
      ...(issuedScope === undefined ? {} : { scope: issuedScope }),
    };
  }

  function buildProvider(): OidcProvider {
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
      ...options.exchangeClients.map((client) => ({
        client_id: client.id,
        client_secret: client.secret,
        grant_types: [TOKEN_EXCHANGE_GRANT, 'client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: client.authMethod ?? 'client_secret_basic',
        scope: RESOURCE_SCOPE,
      })),
    ];

    const provider = quietly(
      () =>
        new Provider(issuer, {
          clients,
          jwks: { keys: keys.map((key) => key.privateJwk) },
          cookies: { keys: [randomBytes(32).toString('base64url')] },
          scopes: ['openid', 'offline_access', ...RESOURCE_SCOPE.split(' ')],
          features: {
            // No browser flows here; disabling devInteractions also avoids its console warning.
            devInteractions: { enabled: false },
            clientCredentials: { enabled: true },
            introspection: { enabled: true, allowedPolicy: async () => true },
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
    provider.registerGrantType(
      TOKEN_EXCHANGE_GRANT,
      tokenExchange,
      // RFC 8693 §2.1 request parameters; audience and resource may repeat.
      ['audience', 'resource', 'scope', 'requested_token_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type'],
      ['audience', 'resource'],
    );
    return provider;
  }

  // Requests go to whichever provider is current (see rotateKey).
  let handle = buildProvider().callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res));

  const as: AuthorizationServer = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    exchanges,
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

    async clientCredentialsToken(scope = DEFAULT_SCOPE) {
      const response = await fetch(as.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basicAuth(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: options.resource, scope }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || typeof body.access_token !== 'string') {
        throw new Error(`client_credentials grant failed: ${response.status} ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },

    async rotateKey(dropOld = false) {
      const key = await newSigningKey();
      keys = dropOld ? [key] : [key, ...keys];
      handle = buildProvider().callback();
    },

    async close() {
      closing.abort(); // ends pending exchangeDelayMs waits
      if (!server.listening) return; // already closed
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
      await closed;
    },
  };
  return as;
}
