import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * What an open stream costs besides its headers and message: grpc-js's call and
 * metadata objects and Node's stream (about 7.5 KiB measured on Node 20 with
 * grpc-js 1.14), and room for its answer. Streams that send headers only, or
 * whose answers the client does not read, are bounded by it.
 */
export const STREAM_CHARGE_BYTES = 12 * 1024;
/** Per header field, as HTTP/2 counts a header list (RFC 7541 §4.1). */
const FIELD_OVERHEAD_BYTES = 32;

/** Bytes of a header list, counted as RFC 7541 §4.1 does (name + value + 32 per field). */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (const part of rawHeaders) bytes += part.length;
  return bytes + (rawHeaders.length / 2) * FIELD_OVERHEAD_BYTES;
}

/**
 * Bounds what open streams may hold on the gRPC listener, and for how long
 * (SPEC §5). grpc-js buffers a message until its last byte arrives, and HTTP/2
 * flow control does not stop that (the window reopens as grpc-js reads), so
 * without this one connection could park `streams × GRPC_MAX_MESSAGE_BYTES`.
 *
 * - A stream whose header list is larger than `maxHeaderListBytes` is reset.
 * - A connection that has not sent its HTTP/2 preface and SETTINGS within
 *   `requestTimeoutMs` (RFC 9113 §3.4) is reset.
 * - A stream whose request has not arrived whole (END_STREAM) within
 *   `requestTimeoutMs` closes its connection: Envoy writes a Check in one go,
 *   so a request left half-sent is a broken or hostile peer.
 * - What open streams hold over all connections ({@link STREAM_CHARGE_BYTES}
 *   each, plus their headers and message bytes) stays under `maxBytes`; past
 *   it, the connection holding the most is closed: the hog goes, not whichever
 *   connection happened to send the last byte.
 */
export class RequestGuard {
  readonly #heldBySession = new Map<Http2Session, number>();
  #held = 0;

  constructor(
    readonly maxBytes: number,
    readonly requestTimeoutMs: number,
    /** advertised as SETTINGS_MAX_HEADER_LIST_SIZE, which Node does not enforce on what it receives */
    readonly maxHeaderListBytes: number,
  ) {}

  /** Resets the connection unless its session receives the peer's SETTINGS in time. */
  watchConnection(socket: Socket, session: Http2Session): void {
    // Before the preface, destroying the session leaves the socket open: reset the TCP connection itself.
    const timer = setTimeout(() => socket.resetAndDestroy(), this.requestTimeoutMs).unref();
    const settled = () => clearTimeout(timer);
    session.once('remoteSettings', settled);
    session.once('close', settled);
  }

  /**
   * Counts one stream until it closes. Must run after grpc-js's own 'stream'
   * listener: grpc-js pauses the stream, so the 'data' listener added here
   * observes its reads without starting the flow itself.
   */
  watch(stream: ServerHttp2Stream, rawHeaders: readonly string[]): void {
    const session = stream.session;
    if (!session) return;
    const headerBytes = headerListBytes(rawHeaders);
    // RFC 9113 §10.5.1: a header list larger than the advertised limit is refused (the stream, not the connection).
    if (headerBytes > this.maxHeaderListBytes) return void stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    let held = STREAM_CHARGE_BYTES + headerBytes;
    this.#add(session, held);
    const deadline = setTimeout(() => session.destroy(), this.requestTimeoutMs).unref();
    const count = (chunk: Buffer) => {
      held += chunk.length;
      this.#add(session, chunk.length);
      this.#enforce();
    };
    stream.on('data', count);
    stream.once('end', () => clearTimeout(deadline));
    stream.once('close', () => {
      clearTimeout(deadline);
      stream.off('data', count);
      this.#add(session, -held);
    });
    this.#enforce();
  }

  #add(session: Http2Session, bytes: number): void {
    this.#held += bytes;
    const held = (this.#heldBySession.get(session) ?? 0) + bytes;
    if (held > 0) this.#heldBySession.set(session, held);
    else this.#heldBySession.delete(session);
  }

  /** Over the budget: destroys the session holding the most; its streams' 'close' events release their bytes. */
  #enforce(): void {
    if (this.#held <= this.maxBytes) return;
    let largest: Http2Session | undefined;
    let most = 0;
    for (const [session, held] of this.#heldBySession) {
      if (held > most && !session.destroyed) [largest, most] = [session, held];
    }
    largest?.destroy();
  }
}
