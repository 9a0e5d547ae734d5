import type { Config } from '../config/model.js';

/**
 * RFC 9728 §3.1: the metadata URL inserts `/.well-known/oauth-protected-resource`
 * between the host and the path of the resource identifier.
 */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** RFC 9728 §2 protected resource metadata (SPEC §4a). */
export function resourceMetadata(resource: string, issuers: readonly string[], scopes: readonly string[]): Record<string, unknown> {
  return {
    resource,
    authorization_servers: [...issuers],
    bearer_methods_supported: ['header'],
    ...(scopes.length > 0 ? { scopes_supported: [...scopes] } : {}),
  };
}

/** The paths the document is served at: the one derived from the resource (RFC 9728 §3.1) and the bare well-known path. */
export function resourceMetadataPaths(resource: string): string[] {
  const derived = new URL(resourceMetadataUrl(resource)).pathname;
  return [...new Set([derived, '/.well-known/oauth-protected-resource'])];
}

/** The document of a configuration, serialised once: its issuers and every scope some target requires (SPEC §4a). */
export function resourceMetadataDocument(config: Pick<Config, 'resourceUrl' | 'issuers' | 'targets'>): string {
  const scopes = [...new Set(config.targets.flatMap((target) => target.requiredScopes))];
  return JSON.stringify(resourceMetadata(config.resourceUrl, config.issuers.map((issuer) => issuer.issuer), scopes));
}
