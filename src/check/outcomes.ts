import type { AuthzErrorCode } from '../errors.js';

/** How one kind of denial goes on the wire (SPEC §3). */
export interface Outcome {
  /** `denied_response.status.code` */
  readonly httpStatus: number;
  /** `CheckResponse.status.code` (google.rpc.Code) */
  readonly grpcCode: number;
  /** `error` in the JSON body */
  readonly bodyError: string;
  /** what `www-authenticate` carries: nothing, a bare challenge, or an RFC 6750 §3.1 error code */
  readonly challenge: 'none' | 'bare' | 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  /** a retry-after header (seconds) */
  readonly retryAfterSeconds?: number;
}

export const GRPC_OK = 0;
const INVALID_ARGUMENT = 3;
const PERMISSION_DENIED = 7;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

/** The one table from error code to wire answer. */
export const OUTCOMES: Readonly<Record<AuthzErrorCode, Outcome>> = {
  missing_token: { httpStatus: 401, grpcCode: UNAUTHENTICATED, bodyError: 'missing_token', challenge: 'bare' },
  invalid_request: { httpStatus: 400, grpcCode: INVALID_ARGUMENT, bodyError: 'invalid_request', challenge: 'invalid_request' },
  invalid_token: { httpStatus: 401, grpcCode: UNAUTHENTICATED, bodyError: 'invalid_token', challenge: 'invalid_token' },
  insufficient_scope: { httpStatus: 403, grpcCode: PERMISSION_DENIED, bodyError: 'insufficient_scope', challenge: 'insufficient_scope' },
  exchange_refused: { httpStatus: 403, grpcCode: PERMISSION_DENIED, bodyError: 'access_denied', challenge: 'none' },
  misconfigured: { httpStatus: 500, grpcCode: INTERNAL, bodyError: 'server_error', challenge: 'none' },
  unavailable: { httpStatus: 503, grpcCode: UNAVAILABLE, bodyError: 'temporarily_unavailable', challenge: 'none', retryAfterSeconds: 1 },
  not_http: { httpStatus: 403, grpcCode: PERMISSION_DENIED, bodyError: 'access_denied', challenge: 'none' },
  no_target: { httpStatus: 403, grpcCode: PERMISSION_DENIED, bodyError: 'access_denied', challenge: 'none' },
  internal: { httpStatus: 500, grpcCode: INTERNAL, bodyError: 'server_error', challenge: 'none' },
  // A local reply with status 200: Envoy sends denied_response as it is, so the document needs no extra route.
  resource_metadata: { httpStatus: 200, grpcCode: PERMISSION_DENIED, bodyError: '', challenge: 'none' },
  deadline: { httpStatus: 503, grpcCode: UNAVAILABLE, bodyError: 'temporarily_unavailable', challenge: 'none', retryAfterSeconds: 1 },
  headers_too_large: { httpStatus: 431, grpcCode: INVALID_ARGUMENT, bodyError: 'invalid_request', challenge: 'none' },
};
