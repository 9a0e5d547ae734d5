// A fault-injecting HTTP/1.1 reverse proxy for the soak (bench/soak.mjs): it
// sits between the service and the authorization server (token endpoint and
// JWKS) and answers according to its current phase:
//
//   healthy    forward to the upstream, answer as it did
//   down       the listener is closed (connection refused) and every open
//              socket is reset; a request already on a kept-alive socket is reset
//   slow       (alternating) wait `slowMs` before forwarding; or send the
//              headers and half the body, stall `slowMs`, then drop the socket
//   5xx        500 JSON server_error / 502 HTML / 503 + Retry-After / 504 empty
//   html       200 text/html (a login page)
//   truncated  (alternating) 200 with half the upstream's JSON and a matching
//              Content-Length; or the full Content-Length, half the body, then
//              the socket is dropped
//   oversized  the upstream's JSON plus padding up to `oversizedBytes`
//              (alternating: with Content-Length, or chunked without one)
//
// Runs in the caller's process; `setPhase()` switches at once. Counts every
// request by phase, path and what was done with it.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export const FAULT_PHASES = ['healthy', 'down', 'slow', '5xx', 'html', 'truncated', 'oversized'];

const HTML = `<!doctype html><html><head><title>Sign in</title></head><body>${'<p>Our identity service is under maintenance. Please try again later.</p>'.repeat(20)}</body></html>`;

/** Resolves on 'drain' or 'close', whichever comes first, and removes both listeners. */
function drainedOrClosed(stream) {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Starts the proxy on 127.0.0.1 (an ephemeral port, kept across `down` phases).
 * `upstream`: origin of the authorization server ("http://127.0.0.1:PORT").
 */
export async function startFaultProxy({ upstream, slowMs = 1500, oversizedBytes = 320 * 1024, upstreamTimeoutMs = 5000 }) {
  const origin = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set();
  const stats = {}; // phase -> path -> { requests, action: count }
  let phase = 'healthy';
  let server;
  let port = 0;
  let sequence = 0;
  let closed = false;

  const count = (phaseName, path, action) => {
    const byPath = (stats[phaseName] ??= {});
    const entry = (byPath[path] ??= { requests: 0 });
    if (action === 'request') entry.requests++;
    else entry[action] = (entry[action] ?? 0) + 1;
  };

  /** The upstream's answer to the same request, body fully read. */
  function forward(request, body) {
    return new Promise((resolve, reject) => {
      const headers = { ...request.headers, host: origin.host };
      delete headers.connection;
      delete headers['keep-alive'];
      const outbound = http.request(
        { host: origin.hostname, port: origin.port, method: request.method, path: request.url, headers, agent, timeout: upstreamTimeoutMs },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
          response.on('error', reject);
        },
      );
      outbound.on('timeout', () => outbound.destroy(new Error('upstream timeout')));
      outbound.on('error', reject);
      outbound.end(body);
    });
  }

  const passHeaders = (upstreamHeaders, length) => {
    const headers = {};
    for (const name of ['content-type', 'cache-control', 'pragma', 'retry-after']) if (upstreamHeaders[name] !== undefined) headers[name] = upstreamHeaders[name];
    if (length !== undefined) headers['content-length'] = String(length);
    return headers;
  };

  /** Waits `ms` unless the client goes away first; resolves true when it went away. */
  const waitOrGone = (response, ms) =>
    new Promise((resolve) => {
      const onClose = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        response.off('close', onClose);
        resolve(response.destroyed || response.socket?.destroyed === true);
      }, ms);
      response.once('close', onClose);
    });

  async function handle(request, response) {
    const current = phase; // the phase the request arrived in decides its fate
    const path = new URL(request.url, 'http://x').pathname;
    const n = sequence++;
    count(current, path, 'request');
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    try {
      switch (current) {
        case 'down':
          // Arrived on a kept-alive socket while the listener was closing.
          count(current, path, 'reset');
          request.socket.resetAndDestroy();
          return;
        case 'slow': {
          if (n % 2 === 0) {
            if (await waitOrGone(response, slowMs)) return count(current, path, 'clientGaveUp');
            const upstreamAnswer = await forward(request, body);
            response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, upstreamAnswer.body.length));
            response.end(upstreamAnswer.body);
            return count(current, path, 'delayedThenForwarded');
          }
          const upstreamAnswer = await forward(request, body);
          response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, upstreamAnswer.body.length));
          response.write(upstreamAnswer.body.subarray(0, upstreamAnswer.body.length >> 1));
          const gone = await waitOrGone(response, slowMs);
          response.destroy();
          return count(current, path, gone ? 'stalledClientGaveUp' : 'stalledThenDropped');
        }
        case '5xx': {
          const variant = n % 4;
          if (variant === 0) {
            response.writeHead(500, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ error: 'server_error', error_description: 'injected' }));
          } else if (variant === 1) {
            response.writeHead(502, { 'content-type': 'text/html' });
            response.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
          } else if (variant === 2) {
            response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
            response.end(JSON.stringify({ error: 'temporarily_unavailable' }));
          } else {
            response.writeHead(504);
            response.end();
          }
          return count(current, path, `status${[500, 502, 503, 504][variant]}`);
        }
        case 'html':
          response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          response.end(HTML);
          return count(current, path, 'html');
        case 'truncated': {
          const upstreamAnswer = await forward(request, body);
          const half = upstreamAnswer.body.subarray(0, Math.max(1, upstreamAnswer.body.length >> 1));
          if (n % 2 === 0) {
            response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, half.length));
            response.end(half);
            return count(current, path, 'halfBody');
          }
          response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, upstreamAnswer.body.length));
          response.write(half, () => setImmediate(() => response.destroy()));
          return count(current, path, 'halfBodyThenDropped');
        }
        case 'oversized': {
          const upstreamAnswer = await forward(request, body);
          let object;
          try {
            object = JSON.parse(upstreamAnswer.body.toString('utf8'));
          } catch {
            object = { upstream: upstreamAnswer.body.toString('utf8') };
          }
          object.padding = '';
          const base = Buffer.byteLength(JSON.stringify(object));
          object.padding = 'p'.repeat(Math.max(0, oversizedBytes - base));
          const big = Buffer.from(JSON.stringify(object));
          if (n % 2 === 0) {
            response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, big.length));
            response.end(big);
            return count(current, path, 'oversizedWithLength');
          }
          response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers)); // chunked
          for (let offset = 0; offset < big.length && !response.destroyed; offset += 16_384) {
            if (!response.write(big.subarray(offset, offset + 16_384))) await drainedOrClosed(response);
          }
          response.end();
          return count(current, path, 'oversizedChunked');
        }
        default: {
          const upstreamAnswer = await forward(request, body);
          response.writeHead(upstreamAnswer.status, passHeaders(upstreamAnswer.headers, upstreamAnswer.body.length));
          response.end(upstreamAnswer.body);
          return count(current, path, 'forwarded');
        }
      }
    } catch (error) {
      count(current, path, `proxyError:${error.code ?? error.message}`);
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'text/plain' });
        response.end('proxy error');
      } else response.destroy();
    }
  }

  async function listen() {
    const next = http.createServer((request, response) => {
      handle(request, response).catch(() => response.destroy());
    });
    next.keepAliveTimeout = 5000;
    next.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    next.on('clientError', (_error, socket) => socket.destroy());
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise((resolve, reject) => {
          next.once('error', reject);
          next.listen(port, '127.0.0.1', () => {
            next.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        // The port was closed a moment ago; something else could hold it briefly.
        if (attempt >= 50 || error.code !== 'EADDRINUSE') throw error;
        await sleep(20);
      }
    }
    port = next.address().port;
    server = next;
  }

  function goDown() {
    const old = server;
    server = undefined;
    old?.close();
    for (const socket of sockets) socket.resetAndDestroy();
  }

  await listen();
  const transitions = [];
  return {
    get port() {
      return port;
    },
    url: (path) => `http://127.0.0.1:${port}${path}`,
    get phase() {
      return phase;
    },
    stats,
    transitions,
    /** Switches to `name` (one of FAULT_PHASES): `down` closes the listener, leaving it reopens it. */
    async setPhase(name) {
      if (!FAULT_PHASES.includes(name)) throw new Error(`unknown fault phase ${name}`);
      if (closed || name === phase) return;
      const previous = phase;
      phase = name;
      transitions.push({ at: Date.now(), phase: name });
      if (name === 'down') goDown();
      else if (previous === 'down') await listen();
    },
    async close() {
      closed = true;
      goDown();
      agent.destroy();
    },
  };
}
