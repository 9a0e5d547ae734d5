/**
 * Parsers for raw setting strings. Each returns the parsed value or throws an
 * Error whose message completes the sentence "<VARIABLE>: …".
 */

export type Parser<T> = (raw: string) => T;

export const text: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
};

/** An absolute http(s) URL without a fragment (RFC 8707 §2 for resources; RFC 8414 §2 for issuers). */
export const httpUrl: Parser<string> = (raw) => {
  refuseInvisible(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${JSON.stringify(raw)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${JSON.stringify(raw)} must use https (or http on loopback)`);
  if (url.hash || raw.includes('#')) throw new Error(`${JSON.stringify(raw)} must not contain a fragment`);
  if (url.username || url.password) throw new Error('must not contain credentials');
  return raw;
};

/** A `redis://` or `rediss://` URL (IANA provisional schemes). Messages never echo it: it may hold a password. */
export const redisUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('is not a URL (redis://host:port or rediss://host:port)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('must use redis:// or rediss:// (TLS)');
  if (url.hostname === '') throw new Error('names no host');
  if (url.pathname !== '' && !/^\/\d{0,2}$/.test(url.pathname)) throw new Error('the path may only be a database number');
  if (url.search !== '' || url.hash !== '') throw new Error('must not have a query or a fragment');
  return raw;
};

/** An absolute URI without a fragment, any scheme (RFC 8707 §2 `resource`, RFC 8693 §3 token types). */
export const absoluteUri: Parser<string> = (raw) => {
  refuseInvisible(raw);
  try {
    new URL(raw);
  } catch {
    throw new Error(`${JSON.stringify(raw)} is not an absolute URI`);
  }
  if (raw.includes('#')) throw new Error(`${JSON.stringify(raw)} must not contain a fragment`);
  return raw;
};

/** The URL parser silently drops tabs, line breaks and surrounding spaces; a value that has them would not match `iss`/`aud` verbatim. */
function refuseInvisible(raw: string): void {
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) throw new Error(`${JSON.stringify(raw)} contains whitespace or control characters`);
}

export function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`${JSON.stringify(raw)} is not a whole number`);
    const value = Number(raw.trim());
    if (value < min || value > max) throw new Error(`${value} is outside ${min}..${max}`);
    return value;
  };
}

export const boolean: Parser<boolean> = (raw) => {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`${JSON.stringify(raw)} must be true or false`);
};

/** Space-separated words (OAuth scope syntax, RFC 6749 §3.3); duplicates removed. */
export const words: Parser<readonly string[]> = (raw) => {
  const list = raw.split(/\s+/).filter(Boolean);
  if (list.length === 0) throw new Error('must hold at least one value');
  return [...new Set(list)];
};

/** Space-separated values each parsed by `item`. */
export function listOf(item: Parser<string>): Parser<readonly string[]> {
  return (raw) => words(raw).map(item);
}

export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    const value = values.find((candidate) => candidate === raw);
    if (value === undefined) throw new Error(`${JSON.stringify(raw)} must be one of ${values.join(', ')}`);
    return value;
  };
}

/** Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037): the only ones a JWKS can verify safely. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const algorithms: Parser<readonly string[]> = (raw) => {
  const list = words(raw);
  for (const alg of list) {
    if (alg === 'none' || /^HS/.test(alg)) throw new Error(`${JSON.stringify(alg)} is not accepted: only asymmetric algorithms can be verified against a JWKS`);
    if (!ASYMMETRIC_ALGORITHMS.some((known) => known === alg)) throw new Error(`${JSON.stringify(alg)} is not a supported algorithm (${ASYMMETRIC_ALGORITHMS.join(' ')})`);
  }
  return list;
};

/** Names a static extra parameter may not take: RFC 8693 §2.1, RFC 6749 client authentication, RFC 7523, RFC 7521. */
export const RESERVED_PARAMETERS = new Set([
  'grant_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type',
  'audience', 'resource', 'scope', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type',
  'assertion', 'requested_token_use',
]);

/** `name=value&name=value` (form-encoded) static parameters for the token request. */
export const extraParameters: Parser<ReadonlyArray<readonly [string, string]>> = (raw) => {
  const pairs = [...new URLSearchParams(raw)];
  if (pairs.length === 0) throw new Error('must hold at least one name=value pair');
  for (const [name] of pairs) {
    if (RESERVED_PARAMETERS.has(name)) throw new Error(`${JSON.stringify(name)} is set by the service and cannot be an extra parameter`);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a parameter name`);
  }
  return pairs;
};

/** A header name (RFC 9110 §5.1 token), lower-cased as Envoy expects. */
export const headerName: Parser<string> = (raw) => {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(raw)) throw new Error(`${JSON.stringify(raw)} is not a header name`);
  return raw.toLowerCase();
};

/**
 * The start of a header value, kept as written (a trailing space included, as
 * in "Bearer "): visible ASCII and spaces only, not starting with a space
 * (RFC 9110 §5.5), so nothing configured can break the header it starts.
 */
export const headerValuePrefix: Parser<string> = (raw) => {
  if (!/^([\x21-\x7e][\x20-\x7e]*)?$/.test(raw)) throw new Error(`${JSON.stringify(raw)} may hold only visible ASCII characters and inner spaces`);
  return raw;
};

/** Space-separated OAuth scopes (RFC 6749 §3.3 scope-token: no quote, backslash, control or non-ASCII character). */
export const scopes: Parser<readonly string[]> = (raw) => {
  const list = words(raw);
  for (const scope of list) if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) throw new Error(`${JSON.stringify(scope)} is not an RFC 6749 scope token`);
  return list;
};
