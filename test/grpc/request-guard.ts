/**
 * SPEC §5 bounds on what open streams may hold and for how long, on a real
 * node:http2 server on 127.0.0.1:0 wired as src/grpc/server.ts wires grpc-js's
 * (the guard's listeners after the handler's), with real node:http2 clients
 * and raw sockets. The guard's deadlines run on Node's mock timers and Date: time is
 * moved by hand, never waited for. The whole service under the same attacks
 * is test/security/grpc-half-sent.ts.
 */
import { EventEmitter, once } from 'node:events';
import { constants, createServer, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { connect as connectTcp, type Socket } from 'node:net';
import { mock } from 'node:test';
import t, { type Test } from 'tap';
import { headerListBytes, RequestGuard, STREAM_CHARGE_BYTES } from '../../src/grpc/request-guard.js';
import { listenLoopback } from '../fixtures/http2-loopback.js';

const TIMEOUT_MS = 10_000;
const MAX_HEADER_LIST_BYTES = 4096;

/** An HTTP/2 server that reads each request whole and answers 200 with the bytes it read; `received` reports each chunk. */
async function guardedServer(t: Test, maxBytes: number) {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  t.teardown(() => mock.timers.reset());
  // The guard's clock is the mocked Date, so its deadlines and its timer move together.
  const guard = new RequestGuard(maxBytes, TIMEOUT_MS, MAX_HEADER_LIST_BYTES, () => Date.now());
  const server = createServer();
  const received = new EventEmitter();
  let accepted: ServerHttp2Session | undefined;
  server.on('session', (session: ServerHttp2Session) => {
    accepted = session;
    session.on('error', () => {});
  });
  server.on('connection', (socket: Socket) => {
    if (accepted) guard.watchConnection(socket, accepted);
    accepted = undefined;
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    let bytes = 0;
    stream.on('error', () => {});
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      received.emit('bytes', bytes);
    });
    stream.on('end', () => {
      const answer = () => {
        if (!stream.destroyed) stream.respond({ ':status': 200, 'x-received': String(bytes) }, { endStream: true });
      };
      // `x-hold`: the request is whole, its answer waits for the test (as a Check waits for the exchange).
      if (headers['x-hold']) received.emit('held', answer);
      else answer();
    });
    guard.watch(stream, rawHeaders);
  });
  const { port, connect } = await listenLoopback(t, server);
  const client = () => {
    const session = connect();
    return { session, closed: new Promise<void>((resolve) => session.once('close', () => resolve())) };
  };
  /** Waits until the server has read `bytes` bytes of one stream. */
  const serverRead = (bytes: number) =>
    new Promise<void>((resolve) => {
      const seen = (count: number) => {
        if (count < bytes) return;
        received.off('bytes', seen);
        resolve();
      };
      received.on('bytes', seen);
    });
  /** Resolves with the answer of the next request sent with `x-hold`, once the server has read it whole. */
  const nextHeld = () => new Promise<() => void>((resolve) => received.once('held', resolve));
  return { port, client, serverRead, nextHeld };
}

/** Sends a request with `bytes` of body; `end`: the request is complete (END_STREAM). */
function send(session: ClientHttp2Session, bytes: number, end = true, headers: Record<string, string> = {}) {
  const stream = session.request({ ':method': 'POST', ':path': '/check', ...headers }, { endStream: false });
  stream.on('error', () => {});
  const answered = new Promise<{ status: number | undefined; received: string | undefined; rstCode: number }>((resolve) => {
    let status: number | undefined;
    let got: string | undefined;
    stream.on('response', (head) => {
      status = head[':status'];
      got = head['x-received'] as string | undefined;
    });
    stream.resume();
    stream.on('close', () => resolve({ status, received: got, rstCode: stream.rstCode }));
  });
  if (bytes > 0) stream.write(Buffer.alloc(bytes, 0x61));
  if (end) stream.end();
  return { stream, answered };
}

t.test('headerListBytes counts a header list as RFC 7541 §4.1 does: name + value + 32 per field', async (t) => {
  t.equal(headerListBytes([]), 0);
  t.equal(headerListBytes([':path', '/check']), 5 + 6 + 32);
  t.equal(headerListBytes([':method', 'POST', 'te', 'trailers']), 7 + 4 + 32 + 2 + 8 + 32);
});

t.test('whole requests are answered; a closed stream gives its bytes back', async (t) => {
  // Room for one stream with 30 000 bytes, not two: a stream that kept its bytes after closing would close the next one's connection.
  const { client } = await guardedServer(t, STREAM_CHARGE_BYTES + 40_000);
  const { session } = client();
  for (let i = 0; i < 5; i++) t.match(await send(session, 30_000).answered, { status: 200, received: '30000' }, `request ${i + 1} on the same connection`);
  t.notOk(session.destroyed);
});

t.test('over the budget, the connection holding the most is closed, not the one that sent the last byte', async (t) => {
  const { client, serverRead } = await guardedServer(t, 2 * STREAM_CHARGE_BYTES + 90_000);
  const hog = client();
  const hogStream = send(hog.session, 60_000, false);
  await serverRead(60_000);
  const polite = client();
  const answer = send(polite.session, 40_000).answered;
  await hog.closed;
  t.ok(hog.session.destroyed, 'the connection holding 60 000 bytes is closed');
  t.not((await hogStream.answered).status, 200, 'its half-sent request is never answered');
  t.match(await answer, { status: 200, received: '40000' }, 'the request that crossed the budget is answered');
  t.match(await send(polite.session, 40_000).answered, { status: 200 }, 'and its connection stays usable, the hog\'s bytes released');
});

t.test('a header list larger than advertised resets the stream, not the connection (RFC 9113 §10.5.1)', async (t) => {
  const { client } = await guardedServer(t, 1 << 20);
  const { session } = client();
  const large = await send(session, 10, true, { 'x-large': 'v'.repeat(MAX_HEADER_LIST_BYTES) }).answered;
  t.equal(large.status, undefined, 'no answer');
  t.equal(large.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM);
  t.match(await send(session, 10).answered, { status: 200 }, 'the connection serves the next request');
});

t.test('a request not whole within the request timeout closes its connection', async (t) => {
  const { client, serverRead } = await guardedServer(t, 1 << 20);
  const { session, closed } = client();
  t.match(await send(session, 100).answered, { status: 200 }, 'a whole request first: its deadline is cleared');
  const half = send(session, 1000, false);
  await serverRead(1000);
  mock.timers.tick(TIMEOUT_MS - 1);
  t.match(await send(session, 10).answered, { status: 200 }, 'not before the timeout: the connection still serves');
  mock.timers.tick(1);
  await closed;
  t.not((await half.answered).status, 200);
});

t.test('each stream\'s deadline runs from its own start, whichever streams opened before it', async (t) => {
  const { client, serverRead } = await guardedServer(t, 1 << 20);
  const first = client();
  send(first.session, 100, false);
  await serverRead(100);
  mock.timers.tick(TIMEOUT_MS / 2);
  const second = client();
  t.match(await send(second.session, 10).answered, { status: 200 }, 'the second connection serves');
  send(second.session, 200, false);
  await serverRead(200);
  mock.timers.tick(TIMEOUT_MS / 2);
  await first.closed;
  t.notOk(second.session.destroyed, 'the later half-sent request is not due yet');
  mock.timers.tick(TIMEOUT_MS / 2 - 1);
  t.match(await send(second.session, 10).answered, { status: 200 }, 'one millisecond before its deadline the connection still serves');
  mock.timers.tick(1);
  await second.closed;
  t.pass('closed at its own deadline');
});

t.test('a whole request whose answer is pending is not cut by the request timeout', async (t) => {
  const { client, nextHeld } = await guardedServer(t, 1 << 20);
  const { session } = client();
  const held = nextHeld();
  const whole = send(session, 100, true, { 'x-hold': '1' });
  const answer = await held;
  mock.timers.tick(TIMEOUT_MS);
  answer();
  t.match(await whole.answered, { status: 200, received: '100' }, 'answered after the timeout has passed');
  t.notOk(session.destroyed);
});

t.test('a connection that never sends its HTTP/2 preface is reset after the request timeout (RFC 9113 §3.4)', async (t) => {
  const { port, client } = await guardedServer(t, 1 << 20);
  const silent = connectTcp(port, '127.0.0.1');
  let socketError: NodeJS.ErrnoException | undefined;
  silent.on('error', (error) => (socketError = error));
  const reset = new Promise((resolve) => silent.once('close', resolve));
  await once(silent, 'connect');
  const healthy = client();
  t.match(await send(healthy.session, 10).answered, { status: 200 }, 'a client that sent its preface and SETTINGS');
  mock.timers.tick(TIMEOUT_MS);
  await reset;
  t.equal(socketError?.code, 'ECONNRESET', 'the silent socket is reset (RST), not closed cleanly');
  t.match(await send(healthy.session, 10).answered, { status: 200 }, 'the other connection was settled in time and is kept');
});
