import { fileURLToPath } from 'node:url';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';

/** `protos/` at the project root, from `src/grpc` or `dist/grpc` alike. */
export const PROTOS_DIR = fileURLToPath(new URL('../../protos', import.meta.url));

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/**
 * Loads the trimmed ext_authz v3 protos (see protos/README.md). Options:
 * proto field names (`keepCase`), enums as names, no defaults materialised,
 * bytes as Buffer (for `raw_value`).
 */
export function loadAuthorizationService(): ServiceDefinition {
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [PROTOS_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return definition[AUTHORIZATION_SERVICE] as ServiceDefinition;
}
