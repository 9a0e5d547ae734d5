import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { decodeJwt, SignJWT } from 'jose';
import type { Clock } from '../clock.js';
import type { ClientConfig } from '../config/model.js';
import { AuthzError } from '../errors.js';

/** What client authentication adds to one request: headers and body parameters. */
export interface ClientCredentials {
  readonly headers: Readonly<Record<string, string>>;
  readonly params: ReadonlyArray<readonly [string, string]>;
}

/** Produces the credentials for a request to `endpoint` (a fresh assertion each time for private_key_jwt). */
export type ClientAuthentication = (endpoint: string) => ClientCredentials | Promise<ClientCredentials>;

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** RFC 7523 §2.2 / RFC 7521 §4.2 */
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Assertions live this long: long enough for the request, too short to replay. */
const ASSERTION_LIFETIME_SECONDS = 60;

/**
 * Client authentication at the token and introspection endpoints, built once:
 * - `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded *before* Base64;
 * - `client_secret_post` (RFC 6749 §2.3.1): both in the body;
 * - `private_key_jwt` (RFC 7523 §2.2): a signed assertion with a fresh `jti` and a short `exp`,
 *   `aud` the endpoint called or the issuer;
 * - `client_assertion_file` (RFC 7523 §2.2): an assertion the platform mints and rotates in a file
 *   (Kubernetes projected service-account token, SPIFFE JWT-SVID), see {@link AssertionFile};
 * - `tls_client_auth` (RFC 8705 §2): the certificate is on the connection; `client_id` in the body;
 * - `none` (RFC 6749 §2.1 public client): `client_id` in the body.
 */
export function clientAuthentication(client: ClientConfig, issuer: string, clock: Clock): ClientAuthentication {
  switch (client.authMethod) {
    case 'client_secret_basic': {
      const credentials = `${formEncode(client.id)}:${formEncode(client.secret!)}`;
      const fixed = { headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }, params: [] };
      return () => fixed;
    }
    case 'client_secret_post': {
      const fixed = { headers: {}, params: [['client_id', client.id], ['client_secret', client.secret!]] as const };
      return () => fixed;
    }
    case 'tls_client_auth':
    case 'none': {
      const fixed = { headers: {}, params: [['client_id', client.id]] as const };
      return () => fixed;
    }
    case 'private_key_jwt': {
      const { key, alg, kid } = client.signingKey!;
      return async (endpoint) => {
        const now = Math.floor(clock() / 1000);
        const assertion = await new SignJWT({})
          .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
          .setIssuer(client.id)
          .setSubject(client.id)
          .setAudience(client.assertionAudience === 'issuer' ? issuer : endpoint)
          .setJti(randomUUID())
          .setIssuedAt(now)
          .setExpirationTime(now + ASSERTION_LIFETIME_SECONDS)
          .sign(key);
        return { headers: {}, params: [['client_id', client.id], ['client_assertion_type', JWT_BEARER_ASSERTION], ['client_assertion', assertion]] };
      };
    }
    case 'client_assertion_file': {
      const file = new AssertionFile(client.assertionFile!, clock);
      return async () => ({ headers: {}, params: [['client_id', client.id], ['client_assertion_type', JWT_BEARER_ASSERTION], ['client_assertion', await file.current()]] });
    }
  }
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
