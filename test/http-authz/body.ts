/**
 * The decision is made from headers alone: a request body (Envoy `with_request_body`,
 * Traefik `forwardBody`) is never buffered. Raw sockets, so what is sent and read is
 * exactly what the test says.
 */
import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import type { Decision } from '../../src/check/pipeline.js';
import { ResponseBuilder } from '../../src/check/response.js';
import { AuthzError } from '../../src/errors.js';
import { HTTP_AUTHZ_LIMITS, HttpAuthzServer } from '../../src/http-authz/server.js';
import { createLogger } from '../../src/log.js';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';
import { startHttpAuthz } from './fixtures/service.js';

async function stubServer(t: Test): Promise<{ port: number; decisions: number }> {
  const state = { port: 0, decisions: 0 };
  const server = new HttpAuthzServer({
    pipeline: {
      decide: (): Decision => {
        state.decisions++;
        return { allowed: false, error: new AuthzError('missing_token', 'a bearer token is required') };
      },
    },
    responses: new ResponseBuilder('https://mcp.example.com/mcp'),
    log: createLogger('fatal'),
  });
  state.port = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  return state;
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Everything received, split into complete responses as they arrive; `closed` resolves when the server closes. */
function reader(socket: Socket) {
  let text = '';
  const waiters: Array<() => void> = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    waiters.splice(0).forEach((wake) => wake());
  });
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      waiters.splice(0).forEach((wake) => wake());
      resolve();
    }),
  );
  /** The responses received so far, each with its body (content-length). */
  const responses = (): string[] => {
    const out: string[] = [];
    let rest = text;
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
      if (rest.length < end + 4 + length) return out;
      out.push(rest.slice(0, end + 4 + length));
      rest = rest.slice(end + 4 + length);
    }
  };
  return {
    text: () => text,
    responses,
    closed: closedPromise,
    isClosed: () => closed,
    /** waits until `count` responses are complete (or the socket closes) */
    async until(count: number): Promise<string[]> {
      while (responses().length < count && !closed) await new Promise<void>((wake) => waiters.push(wake));
      return responses();
    },
  };
}

t.test('a small body (Envoy with_request_body) is drained; the connection stays usable', async (t) => {
  const server = await stubServer(t);
  const socket = await rawSocket(server.port);
  const read = reader(socket);
  const body = 'authorization: Bearer in-the-body-not-a-header\n'.repeat(20);
  const request = `POST /mcp HTTP/1.1\r\nhost: mcp.example.com\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  socket.write(request);
  socket.write(request);
  const [first, second] = await read.until(2);
  t.match(first, /^HTTP\/1\.1 401 /, 'the body does not make a header: still missing_token');
  t.match(second, /^HTTP\/1\.1 401 /, 'a second request on the same connection is answered');
  t.notMatch(first!, /connection: close/i);
  t.equal(server.decisions, 2);
  socket.end();
});

t.test('a large declared body is not read: answered at once, then the connection is closed', async (t) => {
  const server = await stubServer(t);
  const socket = await rawSocket(server.port);
  const read = reader(socket);
  socket.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${5 * 1024 * 1024}\r\n\r\n`);
  socket.write(Buffer.alloc(16 * 1024, 0x61));
  const [answer] = await read.until(1);
  t.match(answer, /^HTTP\/1\.1 401 /, 'answered with 16 KiB of a 5 MiB body sent');
  t.match(answer!, /\r\nconnection: close\r\n/i);
  await Promise.race([read.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
  t.ok(read.isClosed(), 'closed within 5 s');
  t.pass('the server closed the connection without waiting for the rest');
});

t.test('an endless chunked body: answered, and reading stops past the drain limit', async (t) => {
  const server = await stubServer(t);
  const socket = await rawSocket(server.port);
  const read = reader(socket);
  socket.on('error', () => {}); // EPIPE / ECONNRESET once the server stops reading
  socket.write('POST /stream HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let sent = 0;
  const deadline = Date.now() + 10_000;
  // Bounded: at most 8× the drain limit and 10 s.
  while (!read.isClosed() && sent < 8 * HTTP_AUTHZ_LIMITS.maxDrainBytes && Date.now() < deadline) {
    // Every part is written (no short-circuit): a malformed chunk would make the server close on a parse error.
    socket.write(`${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    const flushed = socket.write('\r\n');
    sent += chunk.length;
    if (!flushed) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), read.closed, new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  await Promise.race([read.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
  t.match(read.responses()[0], /^HTTP\/1\.1 401 /, 'answered');
  t.equal(read.responses().length, 1, 'one answer: no 400 for a malformed stream');
  t.ok(read.isClosed(), `closed by the server after ${Math.round(sent / 1024)} KiB were offered`);
  t.ok(sent < 8 * HTTP_AUTHZ_LIMITS.maxDrainBytes, 'before the client gave up');
  socket.destroy();
});

t.test('Expect: 100-continue is answered with the decision, never 100 Continue', async (t) => {
  const server = await stubServer(t);
  const socket = await rawSocket(server.port);
  const read = reader(socket);
  socket.write('PUT /file HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\nexpect: 100-continue\r\n\r\n');
  const [answer] = await read.until(1);
  t.match(answer, /^HTTP\/1\.1 401 /);
  t.notMatch(read.text(), /100 Continue/);
  await read.closed;
  t.pass('the connection is closed after the answer (the body was never invited)');
});

t.test('with the real pipeline: a valid token and a body → 200 with the exchanged token', async (t) => {
  const as = await authorizationServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  const socket = await rawSocket(service.port);
  const read = reader(socket);
  const body = JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { token } });
  socket.write(`POST /mcp HTTP/1.1\r\nhost: mcp.example.com\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  const [answer] = await read.until(1);
  t.match(answer, /^HTTP\/1\.1 200 /);
  t.match(answer!, /\r\nauthorization: Bearer [\w-]+\.[\w-]+\.[\w-]+\r\n/i);
  t.equal(answer!.includes(token), false, 'neither the header token nor the body is echoed');
  socket.end();
});
