import { fileURLToPath } from 'node:url';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { decodeCheckRequest, DEFAULT_HEADER_LIMITS, type HeaderLimits } from './codec.js';

/** `protos/` at the project root, from `src/grpc` or `dist/grpc` alike. */
export const PROTOS_DIR = fileURLToPath(new URL('../../protos', import.meta.url));

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/**
 * Loads the trimmed ext_authz v3 protos (see protos/README.md); requests over
 * `headerLimits` are decoded marked, for a 431 denial. Options:
 * proto field names (`keepCase`), enums as names, no defaults materialised,
 * bytes as Buffer (for `raw_value`).
 */
export function loadAuthorizationService(headerLimits: HeaderLimits = DEFAULT_HEADER_LIMITS): ServiceDefinition {
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [PROTOS_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const service = definition[AUTHORIZATION_SERVICE] as ServiceDefinition;
  const check = service.Check as MethodDefinition<object, object>;
  // The hot pair goes through the hand-written codec: requests are decoded field by field, allowed
  // responses arrive already encoded (a Buffer); denials still use proto-loader's encoder.
  return {
    ...service,
    Check: {
      ...check,
      requestDeserialize: (bytes: Buffer) => decodeCheckRequest(bytes, headerLimits),
      responseSerialize: (response: object) => (Buffer.isBuffer(response) ? response : check.responseSerialize(response)),
    },
  };
}
