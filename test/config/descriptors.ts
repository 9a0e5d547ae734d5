import t from 'tap';
import { connectionCaps, FALLBACK_DESCRIPTOR_LIMIT, parseDescriptorLimit, RESERVED_DESCRIPTORS } from '../../src/config/descriptors.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const BASE = {
  MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
  AUTHORIZATION_SERVER_URL: 'https://as.example.com',
  CLIENT_ID: 'gateway',
  CLIENT_SECRET: 's3cret',
};

/** /proc/self/limits as Linux writes it, with the given soft limit of open files. */
const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            ${soft}                  4096                 files     \n`;

/** loadConfig with `/proc/self/limits` saying `soft`; its problems, or the config. */
function load(env: Record<string, string>, soft: string | undefined) {
  try {
    return loadConfig({ ...BASE, ...env }, (path) => {
      if (path === '/proc/self/limits' && soft !== undefined) return limits(soft);
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems]; // a copy: Array.isArray does not narrow a readonly array
    throw error;
  }
}

t.test('parseDescriptorLimit reads the soft "Max open files"', async (t) => {
  t.equal(parseDescriptorLimit(limits('256')), 256);
  t.equal(parseDescriptorLimit(limits('unlimited')), Number.MAX_SAFE_INTEGER);
  t.equal(parseDescriptorLimit('nothing here'), undefined);
});

t.test('default caps share what the limit leaves after the reserve, and always fit', async (t) => {
  t.same(connectionCaps({}, true, 256), { grpc: 72, ops: 16, authz: 72 }, 'nofile 256: 160 for listeners');
  t.same(connectionCaps({}, false, 256), { grpc: 144, ops: 16, authz: undefined }, 'no HTTP authorization: gRPC gets the rest');
  t.same(connectionCaps({}, true, 1_048_576), { grpc: 4096, ops: 64, authz: 1024 }, 'a huge limit: the default ceilings');
  for (const limit of [100, 128, 256, 1000, 1024, 4096, 65_536]) {
    for (const authz of [true, false]) {
      const caps = connectionCaps({}, authz, limit);
      if (typeof caps === 'string') return t.fail(caps);
      t.ok(caps.grpc + caps.ops + (caps.authz ?? 0) <= limit - RESERVED_DESCRIPTORS, `nofile ${limit}, authz ${authz}: the sum fits`);
    }
  }
});

t.test('explicit caps are kept; the unset ones take what is left', async (t) => {
  t.same(connectionCaps({ grpc: 100 }, true, 256), { grpc: 100, ops: 16, authz: 44 });
  t.same(connectionCaps({ authz: 10 }, true, 256), { grpc: 134, ops: 16, authz: 10 });
  t.same(connectionCaps({ ops: 4, grpc: 50, authz: 50 }, true, 256), { grpc: 50, ops: 4, authz: 50 });
});

t.test('the configuration: caps from /proc/self/limits, the fallback where it cannot be read', async (t) => {
  const at256 = load({ AUTHZ_HTTP_PORT: '9003' }, '256');
  if (Array.isArray(at256)) return t.fail(at256.join('; '));
  t.same([at256.grpc.maxConnections, at256.opsHttp.maxConnections, at256.authzHttp.maxConnections], [72, 16, 72]);
  const fallback = load({}, undefined);
  if (Array.isArray(fallback)) return t.fail(fallback.join('; '));
  t.equal(fallback.grpc.maxConnections + fallback.opsHttp.maxConnections, FALLBACK_DESCRIPTOR_LIMIT - RESERVED_DESCRIPTORS);
  t.same(fallback.grpc.maxMessageBytes, 1024 * 1024, 'GRPC_MAX_MESSAGE_BYTES defaults to 1 MiB (SPEC §2)');
});

t.test('bad values: one line each, naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ GRPC_MAX_CONNECTIONS: '300' }, '256', /^GRPC_MAX_CONNECTIONS: .*add up to 316, more than the 160 descriptors/],
    [{ AUTHZ_HTTP_PORT: '9003', AUTHZ_HTTP_MAX_CONNECTIONS: '200' }, '256', /^AUTHZ_HTTP_MAX_CONNECTIONS: /],
    [{}, '64', /descriptor limit \(ulimit -n 64\) leaves no room/],
    [{ GRPC_MAX_MESSAGE_BYTES: '1MiB' }, '256', /^GRPC_MAX_MESSAGE_BYTES: /],
    [{ GRPC_MAX_MESSAGE_BYTES: '100' }, '256', /^GRPC_MAX_MESSAGE_BYTES: /],
    [{ GRPC_MAX_PENDING_BYTES: '1048575' }, '256', /^GRPC_MAX_PENDING_BYTES: .*less than GRPC_MAX_MESSAGE_BYTES/],
    [{ GRPC_MAX_REQUEST_HEADERS: '0' }, '256', /^GRPC_MAX_REQUEST_HEADERS: /],
    [{ GRPC_REQUEST_TIMEOUT_MS: '-1' }, '256', /^GRPC_REQUEST_TIMEOUT_MS: /],
    [{ HTTP_MAX_CONNECTIONS: 'many' }, '256', /^HTTP_MAX_CONNECTIONS: /],
    [{ AUTHZ_HTTP_KEEPALIVE_TIMEOUT_MS: '10' }, '256', /^AUTHZ_HTTP_KEEPALIVE_TIMEOUT_MS: /],
  ];
  for (const [env, soft, expected] of cases) {
    const result = load(env, soft);
    t.ok(Array.isArray(result) && result.length === 1 && expected.test(result[0]!), `${JSON.stringify(env)} → ${Array.isArray(result) ? result.join(' | ') : 'loaded'}`);
  }
});
