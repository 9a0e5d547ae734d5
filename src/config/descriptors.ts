/**
 * How many connections each listener may hold, so that together they fit inside
 * the process's descriptor limit (RLIMIT_NOFILE) and a flood on one port cannot
 * take the descriptors another port, or an outbound call, needs (SPEC §5).
 */

/**
 * Descriptors kept for everything that is not an inbound connection: up to 64
 * outbound connections per authorization-server origin (`oauth/http.ts`), Redis,
 * log output, and Node's own (event loop, stdio, worker IPC).
 */
export const RESERVED_DESCRIPTORS = 96;
/** When the limit cannot be read (not Linux): a common soft limit. */
export const FALLBACK_DESCRIPTOR_LIMIT = 1024;
/**
 * Default ceilings, so that a huge descriptor limit does not mean a huge memory
 * bound: gRPC serves every sidecar of a mesh (one connection per Envoy worker),
 * HTTP authorization a few gateways' keep-alive pools, ops a kubelet and a scraper.
 */
const DEFAULT_MAX = { grpc: 4096, ops: 64, authz: 1024 } as const;

/** The soft "Max open files" of `/proc/self/limits`, or `undefined` when the text has none. */
export function parseDescriptorLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (!match) return undefined;
  return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

export interface ConnectionCaps {
  readonly grpc: number;
  readonly ops: number;
  /** undefined when the HTTP authorization listener is off */
  readonly authz: number | undefined;
}

/**
 * Each listener's connection cap: the explicit setting where there is one,
 * otherwise a share of what the descriptor limit leaves after the reserve (the
 * ops port a tenth, at most 64; gRPC and HTTP authorization halves of the rest).
 * Returns a problem line when the caps cannot fit.
 */
export function connectionCaps(explicit: { grpc?: number | undefined; ops?: number | undefined; authz?: number | undefined }, authzOn: boolean, limit: number): ConnectionCaps | string {
  const available = limit - RESERVED_DESCRIPTORS;
  const listeners = authzOn ? 3 : 2;
  if (available < listeners) return `the descriptor limit (ulimit -n ${limit}) leaves no room for the listeners after the ${RESERVED_DESCRIPTORS} reserved for outbound connections and logs`;
  const ops = explicit.ops ?? Math.min(DEFAULT_MAX.ops, Math.max(1, Math.floor(available / 10)));
  const rest = available - ops;
  const share = authzOn && explicit.authz === undefined ? Math.floor(rest / 2) : rest;
  const grpc = explicit.grpc ?? Math.max(1, Math.min(DEFAULT_MAX.grpc, explicit.authz === undefined ? share : rest - explicit.authz));
  const authz = authzOn ? (explicit.authz ?? Math.max(1, Math.min(DEFAULT_MAX.authz, rest - grpc))) : undefined;
  const total = grpc + ops + (authz ?? 0);
  if (total <= available) return { grpc, ops, authz };
  const named = [['GRPC_MAX_CONNECTIONS', explicit.grpc], ['HTTP_MAX_CONNECTIONS', explicit.ops], ['AUTHZ_HTTP_MAX_CONNECTIONS', authzOn ? explicit.authz : undefined]] as const;
  const first = named.find(([, value]) => value !== undefined)?.[0] ?? 'GRPC_MAX_CONNECTIONS';
  return `${first}: the listeners' connection caps (gRPC ${grpc}, HTTP ${ops}${authz === undefined ? '' : `, HTTP authorization ${authz}`}) add up to ${total}, more than the ${available} descriptors the limit (ulimit -n ${limit}) leaves after ${RESERVED_DESCRIPTORS} reserved`;
}

/** RLIMIT_NOFILE of this process, read from `/proc/self/limits` (Linux); the fallback elsewhere. */
export function descriptorLimit(readFile: (path: string) => string): number {
  try {
    return parseDescriptorLimit(readFile('/proc/self/limits')) ?? FALLBACK_DESCRIPTOR_LIMIT;
  } catch {
    return FALLBACK_DESCRIPTOR_LIMIT;
  }
}
