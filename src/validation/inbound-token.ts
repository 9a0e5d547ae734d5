import { hash } from 'node:crypto';

/**
 * The bearer token from the request, with its SHA-256 computed once: the hash
 * keys every cache and (shortened) names the token in logs; the value itself
 * only ever goes to the verifier and to the token endpoint.
 */
export interface InboundToken {
  readonly value: string;
  /** base64url SHA-256 of the value */
  readonly hash: string;
}

export function inboundToken(value: string): InboundToken {
  return { value, hash: hash('sha256', value, 'base64url') };
}

/** A short, non-reversible name for logs (SPEC §5). */
export function fingerprintOf(token: InboundToken): string {
  return token.hash.slice(0, 12);
}
