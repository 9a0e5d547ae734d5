import { AuthzError } from '../errors.js';
import { B64TOKEN } from '../oauth/b64token.js';
import type { RequestView } from '../request/view.js';
/** RFC 7235 §2.1: the scheme is case-insensitive and followed by one or more spaces. */
const BEARER_SCHEME = /^bearer +/i;

/**
 * Finds the one bearer token in the `authorization` header (RFC 6750 §2.1).
 * No bearer credentials → `missing_token`; more than one credential (repeated
 * header or a comma-joined value) → `invalid_request`; a malformed or
 * oversized token → `invalid_token`.
 */
export function bearerToken(view: RequestView, maxTokenBytes: number): string {
  const values = view.headerValues('authorization');
  const credentials = values.length === 1 && !values[0]!.includes(',') ? values : values.flatMap((value) => value.split(','));
  const bearers = credentials.filter((credential) => BEARER_SCHEME.test(credential.trimStart()));
  if (bearers.length === 0) throw new AuthzError('missing_token', 'a bearer token is required');
  if (credentials.length > 1) throw new AuthzError('invalid_request', 'the request carries more than one credential');

  const token = bearers[0]!.trimStart().replace(BEARER_SCHEME, '').trimEnd();
  // Length before pattern: never run a regular expression over an unbounded input.
  if (token.length > maxTokenBytes) throw new AuthzError('invalid_token', 'the access token is too long');
  if (!B64TOKEN.test(token)) throw new AuthzError('invalid_token', 'the access token is malformed');
  return token;
}

/**
 * RFC 6750 §2: a client uses one method per request. A bearer token in the
 * header and an `access_token` query parameter → `invalid_request` (SPEC §3),
 * since the URL, with that token, would otherwise reach the upstream. Names are
 * matched as servers read them: `&` or `;` separated, percent-decoded, `+` as
 * space, trimmed, any case, with or without an array suffix (`access_token[]`).
 */
export function refuseQueryToken(path: string | undefined): void {
  if (path === undefined) return;
  const query = path.indexOf('?');
  if (query === -1 || !hasAccessTokenParameter(path.slice(query + 1))) return;
  throw new AuthzError('invalid_request', 'the request carries a bearer token in the header and an access_token query parameter');
}

/**
 * RFC 6750 §2.2: the same rule for a form-encoded body carrying `access_token`,
 * when Envoy sends the body (`with_request_body`); the body goes upstream too.
 */
export function refuseBodyToken(view: RequestView, body: string | undefined): void {
  if (body === undefined || body.length === 0) return;
  const contentType = view.headerValues('content-type')[0]?.toLowerCase() ?? '';
  if (!contentType.startsWith('application/x-www-form-urlencoded') || !hasAccessTokenParameter(body)) return;
  throw new AuthzError('invalid_request', 'the request carries a bearer token in the header and an access_token in its form body');
}

function hasAccessTokenParameter(query: string): boolean {
  // Cheap pre-check on the hot path: every spelling of the name holds "_", "%5f" or "%5F".
  if (!/_|%5f/i.test(query)) return false;
  for (const pair of query.split(/[&;]/)) {
    const equals = pair.indexOf('=');
    const name = lenientDecode(equals === -1 ? pair : pair.slice(0, equals)).trim().toLowerCase();
    if (name === 'access_token' || name.startsWith('access_token[')) return true;
  }
  return false;
}

/** Percent-decoding that never throws: a malformed escape stays as written. */
function lenientDecode(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  if (!plus.includes('%')) return plus;
  return plus.replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return Buffer.from(escapes.replace(/%/g, ''), 'hex').toString('latin1');
    }
  });
}
