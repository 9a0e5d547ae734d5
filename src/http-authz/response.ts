import type { CheckResponse } from '../check/response.js';

/** What the HTTP authorization endpoint sends back. */
export interface HttpAnswer {
  readonly status: number;
  /** lower-case names */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Envoy's HTTP ext_authz client reads this response header on a 200 and removes the named
 * request headers before the request goes upstream (the HTTP form of `headers_to_remove`).
 * nginx and Traefik ignore it: their configs must drop those headers themselves.
 */
export const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/** The answer carries an exchanged token: nothing between us and the proxy may keep it. */
const NO_STORE = { 'cache-control': 'no-store' } as const;

/** `envoy.type.v3.StatusCode` names, should a denial carry one instead of the number. */
const STATUS_BY_NAME: Readonly<Record<string, number>> = {
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  RequestTimeout: 408,
  Conflict: 409,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  NotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

/**
 * Every proxy treats a 2xx from the authorization endpoint as "allow". A denial whose
 * status is not an error (the gRPC path answers RFC 9728 metadata requests with a 200
 * local reply) is therefore refused here: the request would otherwise reach the upstream
 * with the client's own token.
 */
const NOT_AUTHORIZED: HttpAnswer = {
  status: 403,
  headers: { ...NO_STORE, 'content-type': 'application/json' },
  body: JSON.stringify({ error: 'access_denied', error_description: 'this request cannot be authorized through the HTTP authorization endpoint' }),
};

/**
 * Maps a `CheckResponse` to HTTP: OK → 200, empty body, the `ok_response` headers
 * (the proxy copies them upstream), `headers_to_remove` as `x-envoy-auth-headers-to-remove`;
 * denied → `denied_response` status, headers and body. Dynamic metadata has no HTTP form
 * and is dropped.
 */
export function httpAnswerOf(response: CheckResponse): HttpAnswer {
  if (response.status.code === 0 && response.ok_response) {
    const headers: Record<string, string> = { ...NO_STORE };
    for (const { header } of response.ok_response.headers) headers[header.key.toLowerCase()] = header.value;
    const remove = response.ok_response.headers_to_remove ?? [];
    if (remove.length > 0) headers[HEADERS_TO_REMOVE] = remove.join(',');
    return { status: 200, headers, body: '' };
  }
  const denied = response.denied_response;
  const status = denied ? statusOf(denied.status.code as number | string) : undefined;
  if (!denied || status === undefined || status < 400 || status > 599) return NOT_AUTHORIZED;
  const headers: Record<string, string> = { ...NO_STORE };
  for (const { header } of denied.headers) headers[header.key.toLowerCase()] = header.value;
  return { status, headers, body: denied.body };
}

function statusOf(code: number | string): number | undefined {
  if (typeof code === 'number') return Number.isInteger(code) ? code : undefined;
  if (/^\d{3}$/.test(code)) return Number(code);
  return STATUS_BY_NAME[code];
}
