import t from 'tap';
import { GRPC_OK, OUTCOMES } from '../../src/check/outcomes.js';

/** google.rpc.Code values, from the gRPC status code table */
const GRPC = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 };

t.test('the SPEC §3 table, code by code', async (t) => {
  t.equal(GRPC_OK, GRPC.OK);
  const expected = {
    missing_token: [401, GRPC.UNAUTHENTICATED, 'missing_token', 'bare'],
    invalid_request: [400, GRPC.INVALID_ARGUMENT, 'invalid_request', 'invalid_request'],
    invalid_token: [401, GRPC.UNAUTHENTICATED, 'invalid_token', 'invalid_token'],
    insufficient_scope: [403, GRPC.PERMISSION_DENIED, 'insufficient_scope', 'insufficient_scope'],
    exchange_refused: [403, GRPC.PERMISSION_DENIED, 'access_denied', 'none'],
    misconfigured: [500, GRPC.INTERNAL, 'server_error', 'none'],
    unavailable: [503, GRPC.UNAVAILABLE, 'temporarily_unavailable', 'none'],
    not_http: [403, GRPC.PERMISSION_DENIED, 'access_denied', 'none'],
    no_target: [403, GRPC.PERMISSION_DENIED, 'access_denied', 'none'],
    internal: [500, GRPC.INTERNAL, 'server_error', 'none'],
    resource_metadata: [200, GRPC.PERMISSION_DENIED, '', 'none'],
    deadline: [503, GRPC.UNAVAILABLE, 'temporarily_unavailable', 'none'],
    headers_too_large: [431, GRPC.INVALID_ARGUMENT, 'invalid_request', 'none'],
  } as const;
  t.strictSame(Object.keys(OUTCOMES).sort(), Object.keys(expected).sort(), 'every code has exactly one row');
  for (const [code, [httpStatus, grpcCode, bodyError, challenge]] of Object.entries(expected)) {
    const outcome = OUTCOMES[code as keyof typeof expected];
    t.strictSame({ httpStatus: outcome.httpStatus, grpcCode: outcome.grpcCode, bodyError: outcome.bodyError, challenge: outcome.challenge }, { httpStatus, grpcCode, bodyError, challenge }, code);
  }
});

t.test('only the 503s ask the client to retry, after a second', async (t) => {
  for (const [code, outcome] of Object.entries(OUTCOMES)) {
    t.equal(outcome.retryAfterSeconds, outcome.httpStatus === 503 ? 1 : undefined, code);
  }
});

t.test('no denial is answered with gRPC OK', async (t) => {
  for (const [code, outcome] of Object.entries(OUTCOMES)) t.not(outcome.grpcCode, GRPC_OK, code);
});
