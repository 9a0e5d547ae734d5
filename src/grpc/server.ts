import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { HealthImplementation } from 'grpc-health-check';
import type { Config } from '../config/model.js';
import { AUTHORIZATION_SERVICE } from './protos.js';
import { unaryFastPath } from './fast-check.js';
import { RequestGuard } from './request-guard.js';

/** Node's (and HTTP/2's) initial connection window. */
const DEFAULT_WINDOW_BYTES = 65_535;

/** The gRPC listener's settings (`Config.grpc`, documented there). */
export type GrpcServerOptions = Config['grpc'];

/**
 * HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE of the gRPC listener. Envoy's Check
 * metadata (path, content-type, te, grpc-timeout, user-agent, x-envoy-*) is a
 * few hundred bytes; Node also caps a header list at 128 pairs by default.
 */
export const MAX_HEADER_LIST_BYTES = 16 * 1024;

/**
 * The gRPC listener: ext_authz `Authorization` and `grpc.health.v1.Health`.
 * Health reports the overall service ("") and `Authorization` by name.
 */
export class GrpcServer {
  readonly #server: Server;
  readonly #bounded = new WeakSet<Http2Server>();
  readonly #guard: RequestGuard;
  readonly #maxConnections: number;
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICE]: 'NOT_SERVING' });

  readonly #windowBytes: number;
  /** Takes a plain `Authorization/Check` stream off grpc-js (fast-check.ts); false for anything else. */
  readonly #fastCheck: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

  constructor(authorization: ServiceDefinition, handlers: UntypedServiceImplementation, options: GrpcServerOptions) {
    this.#windowBytes = options.connectionWindowBytes;
    this.#maxConnections = options.maxConnections;
    this.#guard = new RequestGuard(options.maxPendingBytes, options.requestTimeoutMs, MAX_HEADER_LIST_BYTES);
    this.#server = new Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams,
      'grpc.max_connection_idle_ms': options.idleTimeoutMs,
      // A maximum age makes Envoy open new connections, which spreads them over replicas added since (0 = never).
      ...(options.maxConnectionAgeMs > 0 ? { 'grpc.max_connection_age_ms': options.maxConnectionAgeMs, 'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs } : {}),
      'grpc.keepalive_time_ms': options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
      // No channelz service is served: its per-call bookkeeping (closures, timestamps, counters) would be work for no reader.
      'grpc.enable_channelz': 0,
    });
    const check = authorization.Check!;
    this.#fastCheck = unaryFastPath({
      path: check.path,
      requestDeserialize: check.requestDeserialize,
      responseSerialize: check.responseSerialize,
      handler: handlers.Check as Parameters<typeof unaryFastPath>[0]['handler'],
      maxMessageBytes: options.maxMessageBytes,
    });
    this.#server.addService(authorization, handlers);
    this.#health.addToServer(this.#server);
  }

  /** Binds and returns the port (ephemeral when 0). */
  listen(address: string, port: number): Promise<number> {
    const host = address.includes(':') ? `[${address}]` : address;
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
        if (error) return reject(error);
        try {
          this.#boundListeners();
        } catch (unbounded) {
          this.#server.forceShutdown();
          return reject(unbounded);
        }
        resolve(bound);
      });
    });
  }

  /**
   * grpc-js has no server option for the connection window, the connection cap,
   * the header-list size or a request deadline, so this reaches its HTTP/2
   * servers (a private field; test/grpc/server.ts and test/security/ fail if
   * that changes): each is a `net.Server`, whose `maxConnections` closes a
   * connection past the cap as it is accepted (SPEC §5).
   */
  #boundListeners(): void {
    const servers = (this.#server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
    if (!servers) throw new Error('grpc-js no longer exposes its HTTP/2 servers: the listener cannot be bounded');
    if (typeof (this.#server as unknown as { onStreamOpened?: unknown }).onStreamOpened !== 'function') throw new Error('grpc-js no longer counts streams through onStreamOpened: Check cannot be served beside it');
    for (const http2Server of servers.keys()) {
      if (this.#bounded.has(http2Server)) continue;
      this.#bounded.add(http2Server);
      http2Server.maxConnections = this.#maxConnections;
      http2Server.updateSettings({ maxHeaderListSize: MAX_HEADER_LIST_BYTES });
      // Node emits 'session' from its own 'connection' listener, just before this 'connection' listener runs.
      let accepted: ServerHttp2Session | undefined;
      http2Server.on('session', (session: ServerHttp2Session) => (accepted = session));
      http2Server.on('connection', (socket: Socket) => {
        if (accepted) this.#guard.watchConnection(socket, accepted);
        accepted = undefined;
      });
      // Check's plain case is served on the stream itself (fast-check.ts); everything else goes to grpc-js's own listener
      // (added at bind), which pauses the stream. The guard comes after either.
      const grpcListeners = http2Server.listeners('stream') as Array<(...args: unknown[]) => void>;
      http2Server.removeAllListeners('stream');
      http2Server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
        if (this.#fastCheck(stream, headers)) this.#streamOpened(stream);
        else for (const listener of grpcListeners) listener.call(http2Server, stream, headers, flags, rawHeaders);
        this.#guard.watch(stream, rawHeaders);
      });
      if (this.#windowBytes > DEFAULT_WINDOW_BYTES) http2Server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(this.#windowBytes));
    }
  }

  /** grpc-js counts a session's open streams for its idle timeout (`grpc.max_connection_idle_ms`); a stream it never saw must be counted too. */
  #streamOpened(stream: ServerHttp2Stream): void {
    (this.#server as unknown as { onStreamOpened(stream: ServerHttp2Stream): void }).onStreamOpened(stream);
  }

  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.#health.setStatus('', status);
    this.#health.setStatus(AUTHORIZATION_SERVICE, status);
  }

  /**
   * Stops accepting calls, lets in-flight checks finish, and after `graceMs`
   * closes whatever is left.
   */
  close(graceMs: number): Promise<void> {
    this.setServing(false);
    return new Promise((resolve) => {
      const force = setTimeout(() => this.#server.forceShutdown(), graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
