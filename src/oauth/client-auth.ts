import { readFile, stat } from 'node:fs/promises';
import { decodeJwt, importPKCS8 } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Clock } from '../clock.js';
import type { ClientConfig } from '../config/model.js';
import { AuthzError } from '../errors.js';

/**
 * Client authentication as oauth4webapi applies it to a request it builds: it
 * sets headers and body parameters. The endpoint called is the one named in
 * the authorization server object of that request (`token_endpoint` or
 * `introspection_endpoint`; see {@link endpointOf}).
 */
export type ClientAuthentication = oauth.ClientAuth;

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** RFC 7523 §2.2 / RFC 7521 §4.2 */
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Assertions live this long: long enough for the request, too short to replay. */
const ASSERTION_LIFETIME_SECONDS = 60;

/** The endpoint a request built by oauth4webapi goes to: the one endpoint its authorization server object names. */
export function endpointOf(as: oauth.AuthorizationServer): string {
  return String(as.token_endpoint ?? as.introspection_endpoint ?? as.issuer);
}

/**
 * Client authentication at the token and introspection endpoints, built once:
 * - `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded *before* Base64 (our encoder, see below);
 * - `client_secret_post` (RFC 6749 §2.3.1): both in the body (oauth4webapi `ClientSecretPost`);
 * - `private_key_jwt` (RFC 7523 §2.2): oauth4webapi `PrivateKeyJwt`, a signed assertion with a fresh `jti`
 *   and a short `exp` on the injected clock, `aud` the endpoint called or the issuer;
 * - `client_assertion_file` (RFC 7523 §2.2): an assertion the platform mints and rotates in a file
 *   (Kubernetes projected service-account token, SPIFFE JWT-SVID), see {@link AssertionFile};
 * - `tls_client_auth` (RFC 8705 §2): the certificate is on the connection; `client_id` in the body (oauth4webapi `TlsClientAuth`);
 * - `none` (RFC 6749 §2.1 public client): `client_id` in the body (oauth4webapi `None`).
 */
export function clientAuthentication(client: ClientConfig, issuer: string, clock: Clock): ClientAuthentication {
  switch (client.authMethod) {
    case 'client_secret_basic': {
      // Not oauth4webapi's ClientSecretBasic: it also percent-encodes the unreserved "-", ".", "_" and "~",
      // which changes every hyphenated client id for servers that compare the Basic credentials undecoded.
      const authorization = `Basic ${Buffer.from(`${formEncode(client.id)}:${formEncode(client.secret!)}`).toString('base64')}`;
      return constant((_as, _client, _body, headers) => headers.set('authorization', authorization));
    }
    case 'client_secret_post':
      return constant(oauth.ClientSecretPost(client.secret!));
    case 'tls_client_auth':
      return constant(oauth.TlsClientAuth());
    case 'none':
      return constant(oauth.None());
    case 'private_key_jwt': {
      const { key, alg, kid } = client.signingKey!;
      // WebCrypto, as oauth4webapi signs with it; imported once, on first use.
      let cryptoKey: Promise<CryptoKey> | undefined;
      return async (as, oauthClient, body, headers) => {
        cryptoKey ??= importPKCS8(key.export({ type: 'pkcs8', format: 'pem' }) as string, alg);
        const audience = client.assertionAudience === 'issuer' ? issuer : endpointOf(as);
        const now = Math.floor(clock() / 1000);
        const sign = oauth.PrivateKeyJwt(kid === undefined ? await cryptoKey : { key: await cryptoKey, kid }, {
          // The configured name stays in the header: oauth4webapi would name an Ed25519 key "Ed25519" (RFC 9864), which older servers do not know.
          [oauth.modifyAssertion]: (header, payload) => {
            header.alg = alg;
            Object.assign(payload, { aud: audience, iat: now, nbf: now, exp: now + ASSERTION_LIFETIME_SECONDS });
          },
        });
        return sign(as, oauthClient, body, headers);
      };
    }
    case 'client_assertion_file': {
      // oauth4webapi signs its own assertions only; one minted by the platform is set here.
      const file = new AssertionFile(client.assertionFile!, clock);
      return async (_as, oauthClient, body) => {
        const assertion = await file.current();
        body.set('client_id', oauthClient.client_id);
        body.set('client_assertion_type', JWT_BEARER_ASSERTION);
        body.set('client_assertion', assertion);
      };
    }
  }
}

/** Authentications that set the same credentials on every call and cannot fail (see {@link authenticatedNow}). */
const constants = new WeakSet<ClientAuthentication>();

function constant(authenticate: ClientAuthentication): ClientAuthentication {
  constants.add(authenticate);
  return authenticate;
}

/**
 * Authenticates now and returns a {@link ClientAuthentication} that sets the
 * same credentials again: so that a failure of our own (an unreadable or
 * expired assertion file) happens before, and outside, the call it is for.
 * A method whose credentials never change and cannot fail is returned as it is.
 */
export async function authenticatedNow(authenticate: ClientAuthentication, as: oauth.AuthorizationServer, client: oauth.Client): Promise<ClientAuthentication> {
  if (constants.has(authenticate)) return authenticate;
  const body = new URLSearchParams();
  const headers = new Headers();
  await authenticate(as, client, body, headers);
  return (_as, _client, request, requestHeaders) => {
    for (const [name, value] of body) request.append(name, value);
    for (const [name, value] of headers) requestHeaders.set(name, value);
  };
}

/**
 * A client assertion the platform writes to a file and replaces before it
 * expires (a Kubernetes projected token is rewritten by swapping a `..data`
 * symlink). The file is read again when its identity, size or time changes;
 * an assertion past its `exp` is never sent: the exchange fails as
 * `misconfigured` (500), whose log line says so (the description reaches the
 * caller too, so it names no path), and the authorization server sees no
 * doomed call.
 */
export class AssertionFile {
  #stamp = '';
  #assertion = '';
  #expiresAt = 0;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
  ) {}

  /** The current assertion; throws `misconfigured` when it cannot be read or has expired. */
  async current(): Promise<string> {
    try {
      const info = await stat(this.path);
      const stamp = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (stamp !== this.#stamp) {
        const assertion = (await readFile(this.path, 'utf8')).trim();
        const { exp } = decodeJwt(assertion);
        this.#assertion = assertion;
        this.#expiresAt = typeof exp === 'number' ? exp * 1000 : Infinity;
        this.#stamp = stamp;
      }
    } catch (error) {
      this.#stamp = '';
      throw new AuthzError('misconfigured', 'the client assertion file cannot be read as a JWT', { cause: error });
    }
    // RFC 7523 §3 item 4: an expired assertion must be rejected; it is not worth sending.
    if (this.#expiresAt <= this.clock()) {
      throw new AuthzError('misconfigured', `the client assertion file holds an assertion that expired at ${new Date(this.#expiresAt).toISOString()}; the platform has not replaced it`);
    }
    return this.#assertion;
  }
}
