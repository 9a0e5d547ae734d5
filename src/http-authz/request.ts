import type { IncomingMessage } from 'node:http';
import type { CheckRequest } from '../request/check-request.js';

/**
 * Turns an HTTP authorization request into the `CheckRequest` the pipeline
 * reads, for the three proxies that call a plain HTTP endpoint:
 *
 * - Envoy ext_authz `http_service` sends the original method, `path_prefix` +
 *   the original path, the original `Host` (`:authority`) and `authorization`;
 * - nginx `auth_request` sends a subrequest to a fixed URI with the original
 *   headers, and the config adds `X-Original-URI` / `X-Original-Method`;
 * - Traefik `forwardAuth` sends a GET to a fixed address with the original
 *   headers plus `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri`.
 *
 * The forwarded headers are trusted: the proxy must set (overwrite) them and
 * the port must be reachable by the proxy only (envoy/http-authz.md).
 * They only steer target selection (host, path prefix), never validation.
 */
export function checkRequestOf(request: IncomingMessage): CheckRequest {
  const distinct = request.headersDistinct;
  const headers: Record<string, string> = {};
  // Node keeps only the first of some repeated headers (authorization among them) in
  // `req.headers`; `headersDistinct` has every line. Joined with "," exactly as Envoy's
  // `headers` map joins them, so two `authorization` lines stay two credentials (400).
  for (const name in distinct) {
    const values = distinct[name];
    if (values && values.length > 0) headers[name] = values.join(',');
  }
  const host = lastLine(distinct, 'x-forwarded-host')?.split(',')[0]!.trim() || lastLine(distinct, 'host');
  const path = lastLine(distinct, 'x-forwarded-uri') || lastLine(distinct, 'x-original-uri') || request.url;
  const method = lastLine(distinct, 'x-forwarded-method') || lastLine(distinct, 'x-original-method') || request.method;
  return {
    attributes: {
      request: {
        http: {
          headers,
          ...(host ? { host } : {}),
          ...(path ? { path } : {}),
          ...(method ? { method: method.trim().toUpperCase() } : {}),
        },
      },
    },
  };
}

/** The last line of a header the proxy sets: a proxy that appends rather than overwrites adds its own line last. */
function lastLine(headers: NodeJS.Dict<string[]>, name: string): string | undefined {
  const values = headers[name];
  const value = values?.[values.length - 1]?.trim();
  return value ? value : undefined;
}
