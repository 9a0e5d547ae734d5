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

/** What the guard keeps for one open stream. */
interface OpenStream {
  readonly session: Http2Session;
  /** bytes charged to the stream: {@link STREAM_CHARGE_BYTES}, its headers and what it has sent */
  held: number;
  /** when it opened (the guard's clock) */
  readonly opened: number;
  /** its request deadline has been checked: whole by then, it may wait for its answer as long as it takes */
  checked: boolean;
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
 *
 * This runs for every Check, so a stream costs two listeners shared by all
 * streams and a map entry, not a timer and closures of its own: every stream
 * has the same timeout, so one timer, set for the oldest stream still due,
 * serves them all.
 */
export class RequestGuard {
  readonly #heldBySession = new Map<Http2Session, number>();
  #held = 0;
  /** Open streams; a map keeps them in the order they opened, so the oldest comes first. */
  readonly #open = new Map<ServerHttp2Stream, OpenStream>();
  #sweep: NodeJS.Timeout | undefined;
  readonly #onData: (this: ServerHttp2Stream, chunk: Buffer) => void;
  readonly #onClose: (this: ServerHttp2Stream) => void;

  constructor(
    readonly maxBytes: number,
    readonly requestTimeoutMs: number,
    /** advertised as SETTINGS_MAX_HEADER_LIST_SIZE, which Node does not enforce on what it receives */
    readonly maxHeaderListBytes: number,
    /** milliseconds, monotonic */
    private readonly now: () => number = () => performance.now(),
  ) {
    const guard = this;
    this.#onData = function (chunk) {
      const open = guard.#open.get(this);
      if (!open) return;
      open.held += chunk.length;
      guard.#add(open.session, chunk.length);
      guard.#enforce();
    };
    this.#onClose = function () {
      const open = guard.#open.get(this);
      guard.#open.delete(this);
      if (open) guard.#add(open.session, -open.held);
    };
  }

  /** Resets the connection unless its session receives the peer's SETTINGS in time. */
  watchConnection(socket: Socket, session: Http2Session): void {
    // Before the preface, destroying the session leaves the socket open: reset the TCP connection itself.
    const timer = setTimeout(() => socket.resetAndDestroy(), this.requestTimeoutMs).unref();
    const settled = () => clearTimeout(timer);
    session.once('remoteSettings', settled);
    session.once('close', settled);
  }

  /**
   * Counts one stream until it closes. Must run after the stream's reader is
   * attached (grpc-js's own 'stream' listener, which pauses the stream, or the
   * Check fast path's), so the 'data' listener added here observes its reads
   * without starting the flow itself.
   */
  watch(stream: ServerHttp2Stream, rawHeaders: readonly string[]): void {
    const session = stream.session;
    if (!session) return;
    const headerBytes = headerListBytes(rawHeaders);
    // RFC 9113 §10.5.1: a header list larger than the advertised limit is refused (the stream, not the connection).
    if (headerBytes > this.maxHeaderListBytes) return void stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const held = STREAM_CHARGE_BYTES + headerBytes;
    this.#open.set(stream, { session, held, opened: this.now(), checked: false });
    this.#add(session, held);
    this.#sweep ??= setTimeout(() => this.#closeOverdue(), this.requestTimeoutMs).unref();
    stream.on('data', this.#onData);
    stream.on('close', this.#onClose);
    this.#enforce();
  }

  /** Closes the connection of every stream whose request is still not whole at its deadline; sets the timer for the next. */
  #closeOverdue(): void {
    this.#sweep = undefined;
    const now = this.now();
    for (const [stream, open] of this.#open) {
      if (open.checked) continue; // past its deadline already, whole in time: waiting for its answer
      const waited = now - open.opened;
      if (waited < this.requestTimeoutMs) {
        this.#sweep = setTimeout(() => this.#closeOverdue(), this.requestTimeoutMs - waited).unref();
        return;
      }
      open.checked = true;
      // 'end' has been emitted: the request arrived whole, and its answer may take as long as it takes.
      if (!stream.readableEnded) stream.session?.destroy();
    }
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
