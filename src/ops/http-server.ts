import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OpsRoutes {
  /** liveness: the process answers */
  readonly healthy: () => boolean;
  /** readiness: listening and the authorization server's endpoints are known */
  readonly ready: () => boolean;
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** RFC 9728 metadata document, served at each of `metadataPaths` */
  readonly metadata: string;
  readonly metadataPaths: readonly string[];
}

/**
 * Limits of the listener (SPEC §5): it serves probes and scrapers, whose
 * requests are a line and a few headers, so everything is tight.
 */
export const OPS_HTTP_LIMITS = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  /** kubelet probes open a connection each time; Prometheus scrapes every 15-60 s and reconnects cheaply */
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxHeadersCount: 64,
  /** a connection without a byte in either direction for this long is closed (Node's header timeout starts only with the first byte) */
  socketTimeoutMs: 10_000,
  /** how often Node checks the header and request timeouts */
  timeoutCheckMs: 1_000,
} as const;

/** The operations listener: `/healthz`, `/readyz`, `/metrics` and RFC 9728 metadata. GET and HEAD only. */
export class OpsHttpServer {
  readonly #server: Server;

  /**
   * `maxConnections`: open connections; more are closed as they are accepted (`HTTP_MAX_CONNECTIONS`).
   * `socketTimeoutMs`: see {@link OPS_HTTP_LIMITS}.
   */
  constructor(routes: OpsRoutes, limits: { maxConnections: number; socketTimeoutMs?: number } = { maxConnections: 64 }) {
    const metadataPaths = new Set(routes.metadataPaths);
    const options = { maxHeaderSize: OPS_HTTP_LIMITS.maxHeaderBytes, connectionsCheckingInterval: OPS_HTTP_LIMITS.timeoutCheckMs };
    this.#server = createServer(options, (request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      const send = (status: number, contentType: string, body: string) => {
        response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : body);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
      if (path === '/healthz') return routes.healthy() ? send(200, 'text/plain', 'ok\n') : send(503, 'text/plain', 'unhealthy\n');
      if (path === '/readyz') return routes.ready() ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
      if (path === '/metrics') {
        return void routes.metrics().then(
          (text) => send(200, routes.metricsContentType, text),
          () => send(500, 'text/plain', 'metrics unavailable\n'),
        );
      }
      if (metadataPaths.has(path)) return send(200, 'application/json', routes.metadata);
      return send(404, 'text/plain', 'not found\n');
    });
    this.#server.requestTimeout = OPS_HTTP_LIMITS.requestTimeoutMs;
    this.#server.headersTimeout = OPS_HTTP_LIMITS.headersTimeoutMs;
    this.#server.keepAliveTimeout = OPS_HTTP_LIMITS.keepAliveTimeoutMs;
    this.#server.maxHeadersCount = OPS_HTTP_LIMITS.maxHeadersCount;
    this.#server.maxConnections = limits.maxConnections;
    this.#server.timeout = limits.socketTimeoutMs ?? OPS_HTTP_LIMITS.socketTimeoutMs;
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, address, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
