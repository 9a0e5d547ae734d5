/**
 * SPEC §5: a connection flood on one listener never starves the others. The
 * real service process runs under `prlimit --nofile=256`, with the gRPC, ops
 * and HTTP authorization listeners; 300 silent connections are opened to one
 * port at a time, and meanwhile fresh connections to the other ports get
 * their answers (an allowed Check, `/readyz` 200, an allowed HTTP check).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createEnvoyClient, summarize } from '../fixtures/envoy-client.js';
import { boundedService, hasPrlimit, MiB } from '../fixtures/bounded-service.js';
import { authorizationServer, bearer, serviceEnv } from '../fixtures/service.js';

const NOFILE = 256;
const FLOOD = 300;

/** Opens `count` connections that never send a byte; resolves once each is connected or refused. */
async function flood(port: number, count: number): Promise<Socket[]> {
  const sockets = Array.from({ length: count }, () => connect(port, '127.0.0.1'));
  await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('connect', resolve).once('error', resolve).once('close', resolve))));
  for (const socket of sockets) socket.on('error', () => {});
  return sockets;
}

/** GET on a fresh connection; resolves with the status code. */
function fetchStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer on port ${port}`)));
    request.on('error', reject);
  });
}

t.test(`a flood of ${FLOOD} silent connections under nofile=${NOFILE}`, { skip: !hasPrlimit() && !process.env.CI ? 'prlimit is not installed' : false }, async (t) => {
  const as = await authorizationServer(t);
  const service = await boundedService(t, serviceEnv(as, { LOG_LEVEL: 'info', AUTHZ_HTTP_PORT: '0' }), { nofile: NOFILE });
  const token = await as.mintAccessToken({ sub: 'alice' });

  /** A Check on a new gRPC connection. */
  const grpcCheck = async () => {
    const client = createEnvoyClient(`127.0.0.1:${service.grpcPort}`);
    try {
      return summarize(await client.check(bearer(token), { deadlineMs: 10_000 })).allowed;
    } finally {
      client.close();
    }
  };
  const readyz = () => fetchStatus(service.httpPort, '/readyz');
  const httpCheck = () => fetchStatus(service.authzHttpPort!, '/mcp', { host: 'mcp.example.com', authorization: `Bearer ${token}` });

  t.ok(await grpcCheck(), 'gRPC Check allowed before the flood');
  t.equal(await readyz(), 200, '/readyz before the flood');
  t.equal(await httpCheck(), 200, 'HTTP check allowed before the flood');
  const idle = service.rss();
  t.comment(`RSS before any flood: ${(idle / MiB).toFixed(1)} MiB`);

  const listeners = [
    ['gRPC', () => service.grpcPort],
    ['HTTP authorization', () => service.authzHttpPort!],
    ['ops HTTP', () => service.httpPort],
  ] as const;
  for (const [name, port] of listeners) {
    await t.test(`${FLOOD} silent connections to the ${name} port`, async (t) => {
      const sockets = await flood(port(), FLOOD);
      t.teardown(() => sockets.forEach((socket) => socket.destroy()));
      if (name !== 'gRPC') t.ok(await grpcCheck(), 'a Check on a new gRPC connection is allowed');
      if (name !== 'ops HTTP') t.equal(await readyz(), 200, '/readyz on a new connection answers 200');
      if (name !== 'HTTP authorization') t.equal(await httpCheck(), 200, 'an HTTP check on a new connection is allowed');
      t.ok(service.alive(), 'the service is still running');
      const open = () => sockets.filter((socket) => !socket.closed).length;
      for (let i = 0; i < 100 && open() > NOFILE; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      t.ok(open() < NOFILE, `the listener's cap held: the service closed ${FLOOD - open()} of the ${FLOOD} connections as they came`);
      t.comment(`${name} flood: ${open()} connections held; RSS ${(service.rss() / MiB).toFixed(1)} MiB`);
    });
  }

  t.ok(service.alive(), 'the service never crashed');
  t.notMatch(service.stderr(), /EMFILE|ENFILE/, 'never out of descriptors');
});

t.test('caps that do not fit the descriptor limit stop start-up: one line, exit 78', { skip: !hasPrlimit() && !process.env.CI ? 'prlimit is not installed' : false }, async (t) => {
  const child = spawn('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, process.execPath, fileURLToPath(new URL('../../dist/main.js', import.meta.url))], {
    env: { PATH: process.env.PATH, ...serviceEnv({ issuer: 'http://127.0.0.1:1' }), GRPC_MAX_CONNECTIONS: '1000' } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 78);
  t.match(stderr, /^configuration error: GRPC_MAX_CONNECTIONS: .*ulimit -n 256.*\n$/);
});
