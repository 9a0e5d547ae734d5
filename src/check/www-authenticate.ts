import type { Outcome } from './outcomes.js';

/**
 * The `www-authenticate` value for an outcome (RFC 6750 §3, RFC 9728 §5.1), or
 * `undefined` when the outcome carries none.
 */
export function wwwAuthenticate(outcome: Outcome, metadataUrl: string, requiredScopes: readonly string[]): string | undefined {
  const resourceMetadata = `resource_metadata="${metadataUrl}"`;
  switch (outcome.challenge) {
    case 'none':
      return undefined;
    case 'bare':
      // RFC 6750 §3.1: a request without authentication information gets no error code.
      return `Bearer ${resourceMetadata}`;
    case 'insufficient_scope':
      return `Bearer error="insufficient_scope", scope="${requiredScopes.join(' ')}"`;
    default:
      return `Bearer error="${outcome.challenge}", ${resourceMetadata}`;
  }
}
