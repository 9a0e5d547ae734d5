import { connect } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { loadAuthorizationService } from '../../src/grpc/protos.js';
import { GrpcServer } from '../../src/grpc/server.js';

const CONNECTION_WINDOW_BYTES = 4 * 1024 * 1024;
const options = {
  maxConnectionAgeMs: 0,
  maxConnectionAgeGraceMs: 0,
  keepaliveTimeMs: 7_200_000,
  keepaliveTimeoutMs: 20_000,
  connectionWindowBytes: CONNECTION_WINDOW_BYTES,
  maxMessageBytes: 1024 * 1024,
  maxConcurrentStreams: 256,
  maxConnections: 100,
  maxPendingBytes: 32 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxRequestHeaders: 500,
  maxRequestHeaderBytes: 262_144,
};
const handlers = { Check: (_call: unknown, callback: (error: null, value: Buffer) => void) => callback(null, Buffer.alloc(0)) };

async function remoteWindowOf(port: number): Promise<number | undefined> {
  const session = connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => session.once('remoteSettings', () => resolve()).once('error', reject));
  // A WINDOW_UPDATE follows the server's SETTINGS: wait for it, briefly.
  for (let i = 0; i < 50 && (session.state.remoteWindowSize ?? 0) < CONNECTION_WINDOW_BYTES; i++) await sleep(10);
  const window = session.state.remoteWindowSize;
  session.close();
  return window;
}

t.test('GRPC_CONNECTION_WINDOW_BYTES = 65535 leaves Node\'s default window', async (t) => {
  const server = new GrpcServer(loadAuthorizationService(), handlers, { ...options, connectionWindowBytes: 65_535 });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  t.equal(await remoteWindowOf(port), 65_535);
});

t.test('every connection gets the configured receive window (4 MiB by default), not Node\'s 64 KiB', async (t) => {
  const server = new GrpcServer(loadAuthorizationService(), handlers, options);
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  for (const attempt of ['first', 'second']) {
    t.equal(await remoteWindowOf(port), CONNECTION_WINDOW_BYTES, `${attempt} connection: the client may send 4 MiB before a WINDOW_UPDATE`);
  }
});

t.test('the listener is bounded through grpc-js\'s HTTP/2 servers (fails if a grpc-js upgrade hides them)', async (t) => {
  const server = new GrpcServer(loadAuthorizationService(), handlers, { ...options, maxConnections: 3 });
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  const sockets = await Promise.all(
    Array.from({ length: 6 }, () => new Promise<import('node:net').Socket>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', () => {});
    })),
  );
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 100 && sockets.filter((socket) => !socket.closed).length > 3; i++) await sleep(10);
  t.equal(sockets.filter((socket) => !socket.closed).length, 3, 'maxConnections = 3: the connections past it were closed as they came');
});

t.test('a header list over 16 KiB, or over 128 fields, resets the stream; a small one reaches the handler', async (t) => {
  let checks = 0;
  const counting = { Check: (_call: unknown, callback: (error: null, value: Buffer) => void) => ((checks += 1), callback(null, Buffer.alloc(0))) };
  const server = new GrpcServer(loadAuthorizationService(), counting, options);
  const port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close(100));
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const send = (extra: Record<string, string>) =>
    new Promise<{ rstCode: number | undefined; grpcStatus: unknown }>((resolve) => {
      let grpcStatus: unknown;
      const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers', ...extra });
      stream.on('error', () => {});
      stream.on('response', (headers) => (grpcStatus ??= headers['grpc-status']));
      stream.on('trailers', (headers) => (grpcStatus ??= headers['grpc-status']));
      stream.on('data', () => {});
      stream.on('close', () => resolve({ rstCode: stream.rstCode, grpcStatus }));
      stream.end(Buffer.alloc(5)); // an empty CheckRequest
    });
  const big = await send({ 'x-big': 'a'.repeat(20_000) });
  t.equal(big.rstCode, 11, '20 KB of metadata: RST_STREAM ENHANCE_YOUR_CALM');
  const many = await send(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'v'])));
  t.equal(many.rstCode, 11, '200 fields: RST_STREAM ENHANCE_YOUR_CALM (Node\'s 128-pair limit)');
  const small = await send({ 'x-small': 'a'.repeat(1000) });
  t.equal(small.grpcStatus, '0', '1 KB of metadata: answered');
  t.equal(checks, 1, 'only the small one reached the handler');
});
