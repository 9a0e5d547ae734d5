import { AuthzError } from '../errors.js';
import type { RequestView } from './request.js';

/** RFC 6750 §2.1 b64token. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
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
