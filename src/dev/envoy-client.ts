/**
 * A Check client that speaks exactly as Envoy does: it loads Envoy's OFFICIAL
 * ext_authz v3 protos (shipped in `@grpc/grpc-js-xds/deps`), not the trimmed
 * copy the service uses, and fills a `CheckRequest` the way Envoy's ext_authz
 * HTTP filter fills it. For tests, `npm run check` and the demo.
 */
import { randomBytes } from 'node:crypto';
import { accessSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const EXTERNAL_AUTH_PROTO = 'envoy/service/auth/v3/external_auth.proto';
const SERVICE = 'envoy.service.auth.v3.Authorization';
const CHECK_PATH = `/${SERVICE}/Check`;
const DEFAULT_DEADLINE_MS = 10_000;

/** `deps/{envoy-api,googleapis,xds,protoc-gen-validate}` of `@grpc/grpc-js-xds` (`udpa/annotations` lives in `xds`). */
export function officialIncludeDirs(): string[] {
  const packageJson = createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json');
  const deps = join(dirname(packageJson), 'deps');
  return ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((name) => join(deps, name));
}

export interface EnvoyCheckInput {
  /** request headers; names as given. Sent lower-cased in `attributes.request.http.headers` (Envoy joins repeated values with ","; pass an array value to get that joining) */
  headers?: Record<string, string | string[]>;
  /** when true, send headers the way Envoy does with `encode_raw_headers: true`: as `header_map.headers[]` entries `{ key, raw_value: Buffer }`, one entry per value (repeated headers = repeated entries), and no `headers` map */
  raw?: boolean;
  method?: string; // default 'GET'
  path?: string; // default '/mcp'
  host?: string; // default 'mcp.example.com'
  contextExtensions?: Record<string, string>;
  destinationPrincipal?: string;
  /** omit attributes.request.http entirely (a network-level check) */
  noHttp?: boolean;
}

/** The response decoded with the OFFICIAL schema (proto-loader object: keepCase, enums as names). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DecodedCheckResponse = Record<string, any>;

export interface EnvoyClient {
  check(input: EnvoyCheckInput, options?: { deadlineMs?: number }): Promise<DecodedCheckResponse>;
  /** raw: send an already-built request object */
  checkRaw(request: Record<string, unknown>, options?: { deadlineMs?: number }): Promise<DecodedCheckResponse>;
  close(): void;
}

function socketAddress(port: number): Record<string, unknown> {
  return { address: { socket_address: { address: '127.0.0.1', port_value: port } } };
}

/**
 * Header lines in Envoy's order: pseudo-headers first, then the request's own
 * headers (names lower-cased; a name given twice in different cases is one
 * header with both values). A given header replaces a default of the same name.
 */
function headerLines(input: EnvoyCheckInput, method: string, path: string, host: string, requestId: string): Map<string, string[]> {
  const lines = new Map<string, string[]>([
    [':authority', [host]],
    [':path', [path]],
    [':method', [method]],
    [':scheme', ['https']],
  ]);
  const given = new Map<string, string[]>();
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const key = name.toLowerCase();
    given.set(key, [...(given.get(key) ?? []), ...(Array.isArray(value) ? value : [value])]);
  }
  for (const [key, values] of given) lines.set(key, values);
  if (!lines.has('x-forwarded-proto')) lines.set('x-forwarded-proto', ['https']);
  if (!lines.has('x-request-id')) lines.set('x-request-id', [requestId]);
  return lines;
}

function uuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/**
 * Builds the CheckRequest object (official schema field names) as Envoy fills
 * it: attributes.source/destination (socket addresses 127.0.0.1), request.time,
 * request.http { id, method, headers|header_map, path, host, scheme 'https',
 * protocol 'HTTP/1.1' }, context_extensions, and the (empty) metadata contexts.
 * The header set includes the pseudo-headers ':authority', ':path', ':method'
 * and ':scheme', as Envoy includes them.
 */
export function envoyCheckRequest(input: EnvoyCheckInput): Record<string, unknown> {
  const method = input.method ?? 'GET';
  const path = input.path ?? '/mcp';
  const host = input.host ?? 'mcp.example.com';
  const now = Date.now();

  const destination: Record<string, unknown> = socketAddress(10000);
  if (input.destinationPrincipal !== undefined) destination.principal = input.destinationPrincipal;
  const request: Record<string, unknown> = {
    time: { seconds: String(Math.floor(now / 1000)), nanos: (now % 1000) * 1_000_000 },
  };
  const attributes: Record<string, unknown> = {
    source: socketAddress(40000 + (now % 20000)),
    destination,
    request,
    metadata_context: {},
    route_metadata_context: {},
  };
  if (input.contextExtensions !== undefined) attributes.context_extensions = { ...input.contextExtensions };

  if (!input.noHttp) {
    // Envoy's `id` is the stream id (a uint64 in decimal), distinct from x-request-id.
    const id = randomBytes(8).readBigUInt64BE().toString();
    const lines = headerLines(input, method, path, host, uuid());
    const http: Record<string, unknown> = { id, method, path, host, scheme: 'https', protocol: 'HTTP/1.1' };
    if (input.raw) {
      const entries: Array<{ key: string; raw_value: Buffer }> = [];
      for (const [key, values] of lines) for (const value of values) entries.push({ key, raw_value: Buffer.from(value, 'utf8') });
      http.header_map = { headers: entries };
    } else {
      const map: Record<string, string> = {};
      for (const [key, values] of lines) map[key] = values.join(',');
      http.headers = map;
    }
    request.http = http;
  }
  return { attributes };
}

let officialService: ServiceDefinition | undefined;

function officialAuthorizationService(): ServiceDefinition {
  officialService ??= loadSync(EXTERNAL_AUTH_PROTO, {
    includeDirs: officialIncludeDirs(),
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  })[SERVICE] as ServiceDefinition;
  return officialService;
}

export function createEnvoyClient(address: string): EnvoyClient {
  const check = officialAuthorizationService().Check as MethodDefinition<Record<string, unknown>, DecodedCheckResponse>;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());

  function checkRaw(request: Record<string, unknown>, options?: { deadlineMs?: number }): Promise<DecodedCheckResponse> {
    const deadline = Date.now() + (options?.deadlineMs ?? DEFAULT_DEADLINE_MS);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        CHECK_PATH,
        check.requestSerialize,
        check.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline },
        (error, response) => (error ? reject(error) : resolve(response ?? {})),
      );
    });
  }

  return {
    check: (input, options) => checkRaw(envoyCheckRequest(input), options),
    checkRaw,
    close: () => client.close(),
  };
}

let types: { CheckRequest: protobuf.Type; CheckResponse: protobuf.Type } | undefined;

/** Official-schema protobufjs types for tests: encode/decode CheckRequest and CheckResponse with the official .proto files. */
export function officialTypes(): { CheckRequest: protobuf.Type; CheckResponse: protobuf.Type } {
  if (types) return types;
  const root = officialRoot();
  types = {
    CheckRequest: root.lookupType('envoy.service.auth.v3.CheckRequest'),
    CheckResponse: root.lookupType('envoy.service.auth.v3.CheckResponse'),
  };
  return types;
}

/** A protobufjs Root of `file` resolved against `includeDirs` (google/protobuf/* from protobufjs' bundled copies). */
export function loadProtobufRoot(file: string, includeDirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of includeDirs) {
      const full = join(dir, target);
      try {
        accessSync(full);
        return full;
      } catch {
        continue;
      }
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The official protos as a protobufjs Root (for comparing schemas). */
export function officialRoot(): protobuf.Root {
  return loadProtobufRoot(EXTERNAL_AUTH_PROTO, officialIncludeDirs());
}

function headerValue(option: DecodedCheckResponse): { key: string; value: string } {
  const header = option.header ?? {};
  const raw = header.raw_value as Buffer | undefined;
  return { key: String(header.key ?? '').toLowerCase(), value: raw && raw.length > 0 ? Buffer.from(raw).toString('utf8') : String(header.value ?? '') };
}

/** Convenience for printing: { allowed, httpStatus, grpcCode, headers: Record<lowercase name, value>, body } */
export function summarize(response: DecodedCheckResponse): {
  allowed: boolean;
  grpcCode: number;
  httpStatus: number | undefined;
  headers: Record<string, string>;
  appendActions: Record<string, string | undefined>;
  appendSet: boolean;
  body: string | undefined;
} {
  const grpcCode = Number(response.status?.code ?? 0);
  const allowed = grpcCode === 0;
  const denied = response.denied_response as DecodedCheckResponse | undefined;
  const options = ((allowed ? response.ok_response?.headers : denied?.headers) ?? []) as DecodedCheckResponse[];
  const headers: Record<string, string> = {};
  const appendActions: Record<string, string | undefined> = {};
  let appendSet = false;
  for (const option of options) {
    const { key, value } = headerValue(option);
    headers[key] = key in headers ? `${headers[key]},${value}` : value;
    appendActions[key] = option.append_action as string | undefined;
    if (option.append !== undefined && option.append !== null) appendSet = true;
  }
  // Allowed: Envoy forwards the request, so there is no status of its own (undefined).
  let httpStatus: number | undefined;
  if (!allowed) {
    // Enums are decoded as names (`Unauthorized`); map back through the official enum.
    // Envoy answers 403 when a denial carries no status (or `Empty`).
    const code: unknown = denied?.status?.code;
    const statusEnum = officialTypes().CheckResponse.root.lookupEnum('envoy.type.v3.StatusCode');
    const numeric = typeof code === 'number' ? code : typeof code === 'string' ? statusEnum.values[code] : undefined;
    httpStatus = numeric === undefined || numeric === 0 ? 403 : numeric;
  }
  return { allowed, grpcCode, httpStatus, headers, appendActions, appendSet, body: denied?.body as string | undefined };
}
