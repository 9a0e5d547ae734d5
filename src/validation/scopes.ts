import { InsufficientScopeError } from '../errors.js';
import type { Principal } from './principal.js';

/**
 * Scopes from a token's claims: `scope` as a space-separated string (RFC 8693
 * §4.2, RFC 9068 §2.2.3) and `scp` as an array or string (Entra ID, Okta).
 */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const found = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    if (typeof value === 'string') for (const scope of value.split(' ')) scope && found.add(scope);
    else if (Array.isArray(value)) for (const scope of value) typeof scope === 'string' && scope && found.add(scope);
  }
  return [...found];
}

/** Throws when the principal lacks any required scope; the challenge names all of them (RFC 6750 §3). */
export function requireScopes(principal: Principal, required: readonly string[]): void {
  for (const scope of required) {
    if (!principal.scopes.includes(scope)) throw new InsufficientScopeError(required);
  }
}
