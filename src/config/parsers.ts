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
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`"${raw}" must use https (or http on loopback)`);
  if (url.hash || raw.includes('#')) throw new Error(`"${raw}" must not contain a fragment`);
  if (url.username || url.password) throw new Error('must not contain credentials');
  return raw;
};

export function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`"${raw}" is not a whole number`);
    const value = Number(raw.trim());
    if (value < min || value > max) throw new Error(`${value} is outside ${min}..${max}`);
    return value;
  };
}

export const boolean: Parser<boolean> = (raw) => {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`"${raw}" must be true or false`);
};

/** Space-separated words (OAuth scope syntax, RFC 6749 §3.3); duplicates removed. */
export const words: Parser<readonly string[]> = (raw) => {
  const list = raw.split(/\s+/).filter(Boolean);
  if (list.length === 0) throw new Error('must hold at least one value');
  return [...new Set(list)];
};

export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    if (!(values as readonly string[]).includes(raw)) throw new Error(`"${raw}" must be one of ${values.join(', ')}`);
    return raw as T;
  };
}

/** Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037): the only ones a JWKS can verify safely. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const algorithms: Parser<readonly string[]> = (raw) => {
  const list = words(raw);
  for (const alg of list) {
    if (alg === 'none' || /^HS/.test(alg)) throw new Error(`"${alg}" is not accepted: only asymmetric algorithms can be verified against a JWKS`);
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) throw new Error(`"${alg}" is not a supported algorithm (${ASYMMETRIC_ALGORITHMS.join(' ')})`);
  }
  return list;
};
