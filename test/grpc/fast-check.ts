/**
 * The unary fast path (src/grpc/fast-check.ts) on a real node:http2 server on
 * 127.0.0.1:0, driven by real node:http2 clients writing gRPC frames by hand,
 * and by a real grpc-js client. The method's handler is a small FAKE that
 * echoes what it was given; what is under test is the framing, the statuses
 * and which streams the fast path takes. The whole service through it is every
 * gRPC test (test/grpc/wire-compat.ts proves the bytes against Envoy's protos).
 */
import { once } from 'node:events';
import { createServer, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { credentials, Client, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { deadlineOf, unaryFastPath } from '../../src/grpc/fast-check.js';
import { listenLoopback } from '../fixtures/http2-loopback.js';

const PATH = '/test.Echo/Call';
const MAX = 64;

type Seen = { request: string; deadline: number };

/** A server whose 'stream' listener is the fast path; streams it does not take are answered 404 by hand ("not taken"). */
async function fastServer(t: Test, answer: (request: string, callback: (error: { code: number; details: string } | null, response?: string) => void) => void = (request, callback) => callback(null, `echo:${request}`)) {
  const seen: Seen[] = [];
  const streams: ServerHttp2Stream[] = [];
  const take = unaryFastPath<string, string>({
    path: PATH,
    requestDeserialize: (bytes) => {
      if (bytes.includes(0xff)) throw new Error('not a message');
      return bytes.toString('utf8');
    },
    responseSerialize: (response) => {
      if (response === 'cannot serialize') throw new Error('not a message');
      return Buffer.from(response, 'utf8');
    },
    handler: (call, callback) => {
      seen.push({ request: call.request, deadline: Number(call.getDeadline()) });
      answer(call.request, (error, response) => (error ? callback(error as never) : callback(null, response)));
    },
    maxMessageBytes: MAX,
  });
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    streams.push(stream);
    if (!take(stream, headers)) stream.respond({ ':status': 404, 'x-not-taken': '1' }, { endStream: true });
  });
  const { port, connect: session } = await listenLoopback(t, server);
  return { port, seen, session, streams };
}

function frame(message: Buffer, compressed = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** One request by hand; resolves with the response headers, the body and the trailers. */
function call(session: ClientHttp2Session, body: Buffer | undefined, headers: Record<string, string> = {}) {
  const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  stream.on('error', () => {});
  return new Promise<{ headers: IncomingHttpHeaders; body: Buffer; trailers: IncomingHttpHeaders }>((resolve) => {
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('close', () => resolve({ headers: head, body: Buffer.concat(chunks), trailers }));
    stream.end(body);
  });
}

/** grpc-status and grpc-message from a trailers-only answer (in the headers) or from the trailers. */
const statusOf = (answer: { headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders }) => ({
  code: Number(answer.headers['grpc-status'] ?? answer.trailers['grpc-status']),
  message: decodeURI(String(answer.headers['grpc-message'] ?? answer.trailers['grpc-message'] ?? '')),
});

t.test('a unary call is answered as grpc-js answers it: one framed message, then grpc-status 0 in the trailers', async (t) => {
  const { session, seen } = await fastServer(t);
  const answer = await call(session(), frame(Buffer.from('hello')));
  t.equal(answer.headers[':status'], 200);
  t.equal(answer.headers['content-type'], 'application/grpc+proto');
  t.equal(answer.headers['grpc-encoding'], 'identity');
  t.same(answer.body, frame(Buffer.from('echo:hello')), 'the serialized response, length-prefixed, uncompressed');
  t.same(statusOf(answer), { code: 0, message: 'OK' });
  t.equal(seen[0]?.request, 'hello', 'the handler got the deserialized request');
  t.equal(seen[0]?.deadline, Infinity, 'no grpc-timeout: no deadline');
});

t.test('a grpc-js client calls the fast path as it calls grpc-js', async (t) => {
  const { port } = await fastServer(t);
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => client.close());
  const identity = (value: Buffer) => value;
  const reply = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(PATH, identity, identity, Buffer.from('from grpc-js'), new Metadata(), { deadline: Date.now() + 5000 }, (error, value) => (error ? reject(error) : resolve(value!))),
  );
  t.equal(reply.toString(), 'echo:from grpc-js');
});

t.test('grpc-timeout becomes the call\'s deadline', async (t) => {
  const { session, seen } = await fastServer(t);
  const before = Date.now();
  await call(session(), frame(Buffer.from('x')), { 'grpc-timeout': '250m' });
  const deadline = seen[0]!.deadline;
  t.ok(deadline >= before + 250 && deadline <= Date.now() + 250, 'now + 250 ms');
  t.equal(deadlineOf('2S') - Date.now() <= 2000, true);
  t.ok(deadlineOf('1H') - Date.now() > 3_599_000, 'hours');
  t.equal(deadlineOf('10x'), Infinity, 'an unknown unit: no deadline');
  t.equal(deadlineOf('123456789m'), Infinity, 'more than 8 digits: no deadline');
  t.equal(deadlineOf(undefined), Infinity);
});

t.test('streams the fast path does not take are left to grpc-js untouched', async (t) => {
  const { session, seen } = await fastServer(t);
  const client = session();
  const cases: Array<[string, Record<string, string>]> = [
    ['another method', { ':path': '/test.Echo/Other' }],
    ['GET', { ':method': 'GET' }],
    ['a non-gRPC content type', { 'content-type': 'application/json' }],
    ['a compressed request (grpc-encoding gzip)', { 'grpc-encoding': 'gzip' }],
  ];
  for (const [name, headers] of cases) {
    const answer = await call(client, name === 'GET' ? undefined : frame(Buffer.from('x')), headers);
    t.equal(answer.headers['x-not-taken'], '1', name);
  }
  t.equal(seen.length, 0, 'the handler saw none of them');
});

t.test('a message over the limit is refused from its length prefix: RESOURCE_EXHAUSTED, never handled', async (t) => {
  const { session, seen } = await fastServer(t);
  const client = session();
  // Only the prefix of a message declared 1 MiB long: the answer comes before the rest is sent.
  const stream = client.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc' });
  stream.on('error', () => {});
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(1 << 20, 1);
  stream.write(prefix);
  const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  t.equal(Number(headers['grpc-status']), GrpcStatus.RESOURCE_EXHAUSTED);
  t.match(decodeURI(String(headers['grpc-message'])), /larger than max \(1048576 vs 64\)/);
  stream.close();
  t.equal(seen.length, 0);
  t.same(statusOf(await call(client, frame(Buffer.alloc(MAX + 1, 0x61)))), { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `Received message larger than max (${MAX + 1} vs ${MAX})` }, 'the same for a whole message');
  t.same(statusOf(await call(client, frame(Buffer.alloc(MAX, 0x61)))).code, 0, 'exactly the limit is accepted');
});

t.test('anything but exactly one uncompressed, decodable message is INTERNAL, never handled', async (t) => {
  const { session, seen } = await fastServer(t);
  const client = session();
  const cases: Array<[string, Buffer | undefined, RegExp]> = [
    ['no message', undefined, /exactly one message/],
    ['a cut-short message', frame(Buffer.from('hello')).subarray(0, 7), /exactly one message/],
    ['two messages', Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]), /exactly one message/],
    ['a compressed flag without grpc-encoding', frame(Buffer.from('x'), 1), /compressed/],
    ['a message that does not decode', frame(Buffer.from([0xff])), /deserializing/],
  ];
  for (const [name, body, message] of cases) {
    const status = statusOf(await call(client, body));
    t.equal(status.code, GrpcStatus.INTERNAL, name);
    t.match(status.message, message, name);
  }
  t.equal(seen.length, 0);
  t.equal(statusOf(await call(client, frame(Buffer.from('ok')))).code, 0, 'the connection serves the next call');
});

t.test('a handler that throws, or a response that does not serialize, is INTERNAL and the server goes on', async (t) => {
  const { session } = await fastServer(t, (request, callback) => {
    if (request === 'throw') throw new Error('handler bug');
    callback(null, request === 'unserializable' ? 'cannot serialize' : `echo:${request}`);
  });
  const client = session();
  t.equal(statusOf(await call(client, frame(Buffer.from('throw')))).code, GrpcStatus.INTERNAL);
  t.equal(statusOf(await call(client, frame(Buffer.from('unserializable')))).code, GrpcStatus.INTERNAL);
  t.same(statusOf(await call(client, frame(Buffer.from('next')))), { code: 0, message: 'OK' });
});

t.test('a handler\'s error is answered with its status', async (t) => {
  const { session } = await fastServer(t, (_request, callback) => callback({ code: GrpcStatus.UNAVAILABLE, details: 'not now' }));
  t.same(statusOf(await call(session(), frame(Buffer.from('x')))), { code: GrpcStatus.UNAVAILABLE, message: 'not now' });
});

t.test('an answer for a stream the caller has reset is dropped, and the server goes on', async (t) => {
  const pending: Array<() => void> = [];
  const { session, streams } = await fastServer(t, (request, callback) => {
    if (request === 'slow') pending.push(() => callback(null, 'late'));
    else callback(null, `echo:${request}`);
  });
  const client = session();
  const stream = client.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc' });
  stream.on('error', () => {});
  stream.end(frame(Buffer.from('slow')));
  while (pending.length === 0) await new Promise((resolve) => setImmediate(resolve));
  const closedOnServer = once(streams[0]!, 'close');
  stream.close();
  await closedOnServer;
  t.doesNotThrow(() => pending[0]!(), 'answering a reset stream does not throw');
  t.same(statusOf(await call(client, frame(Buffer.from('next')))), { code: 0, message: 'OK' }, 'the server still serves');
});
