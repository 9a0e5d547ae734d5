/**
 * The parts of an `envoy.service.auth.v3.CheckRequest` the service reads, as
 * `@grpc/proto-loader` decodes them (`keepCase`, bytes as Buffer). Everything
 * is optional: Envoy omits empty fields and a hostile caller may omit anything.
 */
export interface CheckRequest {
  attributes?: {
    destination?: { principal?: string; service?: string } | null;
    request?: { http?: HttpRequestAttributes | null } | null;
    context_extensions?: Record<string, string> | null;
  } | null;
}

export interface HttpRequestAttributes {
  headers?: Record<string, string> | null;
  header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Buffer | Uint8Array }> | null } | null;
  path?: string;
  host?: string;
  method?: string;
  /** only when Envoy's `with_request_body` is on: the body as text, or its bytes (`pack_as_bytes`) */
  body?: string;
  raw_body?: Buffer | Uint8Array;
}
