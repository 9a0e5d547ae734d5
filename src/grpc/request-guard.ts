import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * What an open stream costs before its first data byte: grpc-js's call and
 * metadata objects and Node's stream (about 7.5 KiB measured on Node 20 with
 * grpc-js 1.14), so that streams that send headers only are bounded too.
 */
export const STREAM_CHARGE_BYTES = 8 * 1024;
/** Per header field, as HTTP/2 counts a header list (RFC 7541 §4.1). */
const FIELD_OVERHEAD_BYTES = 32;

/** Bytes of a header list, counted as RFC 7541 §4.1 does (name + value + 32 per field). */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (const part of rawHeaders) bytes += part.length;
  return bytes + (rawHeaders.length / 2) * FIELD_OVERHEAD_BYTES;
}

/**
 * Bounds what unfinished requests may hold on the gRPC listener (SPEC §5).
 * grpc-js buffers a message until its last byte arrives, and HTTP/2 flow
 * control does not stop that (the window reopens as grpc-js reads), so without
 * this one connection could park `streams × GRPC_MAX_MESSAGE_BYTES` for ever.
 *
 * - A connection that has not sent its HTTP/2 preface within
 *   `requestTimeoutMs` is closed.
 * - A stream whose request has not arrived whole (END_STREAM) within
 *   `requestTimeoutMs` closes its connection: Envoy writes a Check in one go,
 *   so a request left half-sent is a broken or hostile peer.
 * - The bytes of unfinished requests over all connections (each stream's
 *   {@link STREAM_CHARGE_BYTES}, headers and data received so far) stay under
 *   `maxPendingBytes`; past it, the connection holding the most is closed (the
 *   hog goes, not whichever connection happened to send the last byte).
 */
export class RequestGuard {
  readonly #pendingBySession = new Map<Http2Session, number>();
  #pending = 0;

  constructor(
    readonly maxPendingBytes: number,
    readonly requestTimeoutMs: number,
  ) {}

  /** Bytes of unfinished requests held now. */
  get pendingBytes(): number {
    return this.#pending;
  }

  /**
   * A connection must open with its HTTP/2 preface and SETTINGS within
   * `requestTimeoutMs` (RFC 9113 §3.4); the idle timeout of grpc-js does not
   * close a connection that never sent them.
   */
  watchConnection(socket: Socket, session: Http2Session): void {
    // Before the preface, destroying the session leaves the socket open: reset the TCP connection itself.
    const timer = setTimeout(() => socket.resetAndDestroy(), this.requestTimeoutMs).unref();
    const settled = () => clearTimeout(timer);
    session.once('remoteSettings', settled);
    session.once('close', settled);
  }

  /**
   * Watches one stream until its request has arrived or it closes. Must run after
   * grpc-js's own 'stream' listener: grpc-js pauses the stream, so the 'data'
   * listener added here observes its reads without starting the flow itself.
   */
  watch(stream: ServerHttp2Stream, rawHeaders: readonly string[]): void {
    const session = stream.session;
    if (!session) return;
    let held = STREAM_CHARGE_BYTES + headerListBytes(rawHeaders);
    let done = false;
    this.#add(session, held);
    if (this.#pending > this.maxPendingBytes) this.#closeLargest();
    const timer = setTimeout(() => session.destroy(), this.requestTimeoutMs).unref();
    const release = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.off('data', count);
      this.#add(session, -held);
    };
    const count = (chunk: Buffer) => {
      held += chunk.length;
      this.#add(session, chunk.length);
      if (this.#pending > this.maxPendingBytes) this.#closeLargest();
    };
    stream.on('data', count);
    stream.once('end', release);
    stream.once('close', release);
  }

  #add(session: Http2Session, bytes: number): void {
    if (bytes === 0) return;
    this.#pending += bytes;
    const held = (this.#pendingBySession.get(session) ?? 0) + bytes;
    if (held > 0) this.#pendingBySession.set(session, held);
    else this.#pendingBySession.delete(session);
  }

  /** Destroys the session with the most pending bytes; its streams' 'close' events release them. */
  #closeLargest(): void {
    let largest: Http2Session | undefined;
    let most = 0;
    for (const [session, held] of this.#pendingBySession) {
      if (held > most && !session.destroyed) [largest, most] = [session, held];
    }
    largest?.destroy();
  }
}
