import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { HealthImplementation } from 'grpc-health-check';
import { AUTHORIZATION_SERVICE } from './protos.js';

/** Node's (and HTTP/2's) initial connection window. */
const DEFAULT_WINDOW_BYTES = 65_535;

export interface GrpcServerOptions {
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /**
   * Receive window of each HTTP/2 connection. Envoy multiplexes every check onto
   * a few connections; with the default 64 KiB, 200 streams on one connection
   * wait on WINDOW_UPDATEs (bench/RESULTS.md, "HTTP/2 window").
   */
  readonly connectionWindowBytes: number;
}

/**
 * The gRPC listener: ext_authz `Authorization` and `grpc.health.v1.Health`.
 * Health reports the overall service ("") and `Authorization` by name.
 */
export class GrpcServer {
  readonly #server: Server;
  readonly #widened = new WeakSet<Http2Server>();
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICE]: 'NOT_SERVING' });

  readonly #windowBytes: number;

  constructor(authorization: ServiceDefinition, handlers: UntypedServiceImplementation, options: GrpcServerOptions) {
    this.#windowBytes = options.connectionWindowBytes;
    this.#server = new Server({
      // A maximum age makes Envoy open new connections, which spreads them over replicas added since (0 = never).
      ...(options.maxConnectionAgeMs > 0 ? { 'grpc.max_connection_age_ms': options.maxConnectionAgeMs, 'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs } : {}),
      'grpc.keepalive_time_ms': options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
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
        if (this.#windowBytes > DEFAULT_WINDOW_BYTES) this.#widenConnectionWindows();
        resolve(bound);
      });
    });
  }

  /**
   * grpc-js has no server option for the connection window, so this reaches its
   * HTTP/2 servers (a private field; test/grpc/server.ts fails if that changes)
   * and widens the window of every new connection.
   */
  #widenConnectionWindows(): void {
    const servers = (this.#server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
    for (const http2Server of servers?.keys() ?? []) {
      if (this.#widened.has(http2Server)) continue;
      this.#widened.add(http2Server);
      http2Server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(this.#windowBytes));
    }
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
