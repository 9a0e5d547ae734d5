import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';

/** What a unary handler reads of its call: the same on grpc-js's calls and on the fast path's. */
export type UnaryCall<Request> = Pick<ServerUnaryCall<Request, unknown>, 'request' | 'getDeadline'>;

/** What the fast path needs of the unary method it serves: grpc-js's own method definition and handler. */
export interface UnaryMethod<Request, Response> {
  readonly path: string;
  readonly requestDeserialize: (bytes: Buffer) => Request;
  readonly responseSerialize: (response: Response) => Buffer;
  readonly handler: (call: UnaryCall<Request>, callback: sendUnaryData<Response>) => void;
  /** the listener's `GRPC_MAX_MESSAGE_BYTES` */
  readonly maxMessageBytes: number;
}

/** gRPC over HTTP/2 (the gRPC "PROTOCOL-HTTP2" document): a message is a compressed flag, a 4-byte length and its bytes. */
const PREFIX_BYTES = 5;
/** grpc-timeout units (PROTOCOL-HTTP2 "Timeout"), in milliseconds. */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': 'identity,deflate,gzip', 'grpc-encoding': 'identity' };
const OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': 'OK' };

/**
 * One unary method served on the HTTP/2 stream itself, without grpc-js's call
 * machinery: its interceptor chain, metadata objects and call wrappers cost
 * more per call than the whole Check path (bench/RESULTS.md, "Analysis of the
 * misses"). Only the plain case is taken: a POST to the method's path with a
 * gRPC content type and no message compression. Anything else (another
 * method, health, a compressed request) returns false and stays grpc-js's, as
 * do the listener's bounds, which act on the HTTP/2 server and its sessions
 * (src/grpc/server.ts). The answers are the ones grpc-js would send: status
 * RESOURCE_EXHAUSTED for a message over the limit (refused from its length
 * prefix, before it is buffered), INTERNAL for anything but exactly one
 * uncompressed message or one that does not decode, and the handler's
 * response with grpc-status 0 otherwise.
 */
export function unaryFastPath<Request, Response>(method: UnaryMethod<Request, Response>) {
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean => {
    const contentType = headers['content-type'];
    const encoding = headers['grpc-encoding'];
    if (headers[':path'] !== method.path || headers[':method'] !== 'POST') return false;
    if (contentType !== 'application/grpc' && contentType !== 'application/grpc+proto') return false;
    if (encoding !== undefined && encoding !== 'identity') return false;

    const deadline = deadlineOf(headers['grpc-timeout']);
    const chunks: Buffer[] = [];
    let received = 0;
    let prefixChecked = false;
    let failed = false;
    const fail = (code: GrpcStatus, details: string) => {
      failed = true;
      if (answerable(stream)) stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeURI(details) }, { endStream: true });
    };
    stream.on('error', () => {}); // a reset by the peer surfaces here and as 'close'; there is no one left to answer
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      received += chunk.length;
      chunks.push(chunk);
      if (prefixChecked || received < PREFIX_BYTES) {
        // A second message (or bytes past the first) in a unary call: refused at the end, never buffered past the limit.
        if (received > PREFIX_BYTES + method.maxMessageBytes) fail(GrpcStatus.RESOURCE_EXHAUSTED, 'Received more than one message');
        return;
      }
      prefixChecked = true;
      const length = (chunks.length === 1 ? chunk : Buffer.concat(chunks)).readUInt32BE(1);
      if (length > method.maxMessageBytes) fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${method.maxMessageBytes})`);
    });
    stream.on('end', () => {
      if (failed) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (body.length < PREFIX_BYTES || body.length !== PREFIX_BYTES + body.readUInt32BE(1)) return fail(GrpcStatus.INTERNAL, 'a unary call takes exactly one message');
      if (body[0] !== 0) return fail(GrpcStatus.INTERNAL, 'compressed message without grpc-encoding');
      let request: Request;
      try {
        request = method.requestDeserialize(body.subarray(PREFIX_BYTES));
      } catch {
        return fail(GrpcStatus.INTERNAL, 'Error deserializing request');
      }
      const call: UnaryCall<Request> = { request, getDeadline: () => deadline };
      const respond: sendUnaryData<Response> = (error, response) => {
        if (!answerable(stream)) return; // the caller reset the stream or the connection went: no one to answer
        if (error || response == null) return fail(error?.code ?? GrpcStatus.INTERNAL, error?.details ?? 'no response');
        let message: Buffer;
        try {
          message = method.responseSerialize(response);
        } catch {
          return fail(GrpcStatus.INTERNAL, 'Error serializing response');
        }
        const frame = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
        frame[0] = 0;
        frame.writeUInt32BE(message.length, 1);
        message.copy(frame, PREFIX_BYTES);
        stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
        stream.end(frame);
      };
      // As grpc-js does: a handler that throws is the server's fault (INTERNAL), never the process's end.
      try {
        method.handler(call, respond);
      } catch {
        fail(GrpcStatus.INTERNAL, 'the handler failed');
      }
    });
    return true;
  };
}

/** Node throws on `respond` to a stream already closed, reset or answered. */
function answerable(stream: ServerHttp2Stream): boolean {
  return !stream.destroyed && !stream.closed && !stream.headersSent;
}

/** The call's deadline (epoch ms) from `grpc-timeout`, or Infinity without one, as grpc-js's `getDeadline()`. */
export function deadlineOf(timeout: string | string[] | undefined): number {
  const match = typeof timeout === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(timeout) : null;
  return match ? Date.now() + Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]! : Infinity;
}
