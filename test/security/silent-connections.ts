/**
 * SPEC §5 idle and header timeouts: a connection that never sends a byte, or
 * stops half-way through a request head, is closed on every listener; idle
 * keep-alive connections are closed after their timeout. Real servers on
 * 127.0.0.1:0 with short timeouts.
 */
import { connect as connectHttp2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { loadAuthorizationService } from '../../src/grpc/protos.js';
import { GrpcServer } from '../../src/grpc/server.js';
import { HttpAuthzServer } from '../../src/http-authz/server.js';
import { silentLogger } from '../../src/log.js';
import { OpsHttpServer } from '../../src/ops/http-server.js';

/** Resolves when the server closes `socket` (true), or after `ms` (false). */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function silentSocket(t: Test, port: number): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  return socket;
}


t.test('ops HTTP: a connection that never sends a byte is closed', async (t) => {
  const routes = { healthy: () => true, ready: () => true, metrics: async () => '', metricsContentType: 'text/plain', metadata: '{}', metadataPaths: [] };
  const server = new OpsHttpServer(routes, { maxConnections: 8, socketTimeoutMs: 300 });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  t.ok(await closedWithin(silentSocket(t, port), 10_000));
});

t.test('HTTP authorization: a silent connection and a half-sent request head are closed', async (t) => {
  const server = new HttpAuthzServer({
    pipeline: { decide: () => t.fail('no request reached the pipeline') as never },
    responses: { allow: () => t.fail('never allowed') as never, deny: () => t.fail('never denied') as never },
    log: silentLogger,
    socketTimeoutMs: 300,
  });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  t.ok(await closedWithin(silentSocket(t, port), 10_000), 'silent: closed');
  const partial = silentSocket(t, port);
  partial.write('GET /mcp HTTP/1.1\r\nhost: mcp.example.com\r\nauthorization: Bearer abc');
  t.ok(await closedWithin(partial, 10_000), 'half a request head, then silence: closed');
});

t.test('gRPC: a connection without the HTTP/2 preface is closed by GRPC_REQUEST_TIMEOUT_MS, one without streams by GRPC_IDLE_TIMEOUT_MS', async (t) => {
  const options = {
    maxConnectionAgeMs: 0,
    maxConnectionAgeGraceMs: 0,
    keepaliveTimeMs: 7_200_000,
    keepaliveTimeoutMs: 20_000,
    connectionWindowBytes: 65_535,
    maxMessageBytes: 1024 * 1024,
    maxConcurrentStreams: 256,
    maxConnections: 16,
    maxPendingBytes: 32 * 1024 * 1024,
    requestTimeoutMs: 500,
    idleTimeoutMs: 1000,
    maxRequestHeaders: 500,
    maxRequestHeaderBytes: 262_144,
  };
  const server = new GrpcServer(loadAuthorizationService(), { Check: () => t.fail('no Check arrives') }, options);
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  t.ok(await closedWithin(silentSocket(t, port), 15_000), 'a TCP connection that never sends the HTTP/2 preface: closed');
  const session = connectHttp2(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000);
    session.once('close', () => resolve(clearTimeout(timer) === undefined));
  });
  t.ok(closed, 'an HTTP/2 connection without streams: closed');
});
