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

/** The operations listener: `/healthz`, `/readyz`, `/metrics` and RFC 9728 metadata. GET and HEAD only. */
export class OpsHttpServer {
  readonly #server: Server;

  constructor(routes: OpsRoutes) {
    const metadataPaths = new Set(routes.metadataPaths);
    this.#server = createServer((request, response) => {
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
    // Bound slow clients: this port is for probes and scrapers.
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
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
