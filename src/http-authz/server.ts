import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CheckRequest } from '../request/check-request.js';
import type { Decision } from '../check/pipeline.js';
import type { ResponseBuilder } from '../check/response.js';
import { answerBefore } from '../check/deadline.js';
import { causeName, UNEXPECTED, unexpected } from '../check/failures.js';
import { AuthzError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CheckSpan, Tracing } from '../ops/tracing.js';
import { requestView } from '../request/view.js';
import { checkRequestOf } from './request.js';
import { httpAnswerOf, type HttpAnswer } from './response.js';

export interface HttpAuthzOptions {
  pipeline: { decide(request: CheckRequest, parent?: CheckSpan['context']): Decision | Promise<Decision> };
  responses: Pick<ResponseBuilder, 'allow' | 'deny'>;
  log: Logger;
  /** called once per answered request with the decision (an `internal` one when the pipeline threw), its duration, the HTTP answer and the trace, for metrics and the decision log line */
  onDecision?: (decision: Decision, seconds: number, answered: { method: string | undefined; status: number }, trace?: { readonly traceId: string; readonly spanId: string }) => void;
  /** when tracing is on: an HTTP SERVER span per request, parented on the proxy's trace headers */
  tracing?: Tracing | undefined;
  /**
   * Largest request head (request line + headers) accepted; above it Node answers 431
   * before the pipeline runs. Default 32 KiB, so a token of `MAX_TOKEN_BYTES` (16 KiB by
   * default) plus ordinary headers still reaches the pipeline and gets its SPEC answer.
   */
  maxHeaderBytes?: number;
  /** open connections; more are closed as they are accepted (`AUTHZ_HTTP_MAX_CONNECTIONS`); default: no cap */
  maxConnections?: number;
  /** idle keep-alive connections are closed after this (`AUTHZ_HTTP_KEEPALIVE_TIMEOUT_MS`) */
  keepAliveTimeoutMs?: number;
  /** most header lines in a request; more is denied 431 (`AUTHZ_HTTP_MAX_HEADERS`) */
  maxHeaders?: number;
  /** see `HTTP_AUTHZ_LIMITS.socketTimeoutMs` */
  socketTimeoutMs?: number;
}

/** Limits of the listener; the proxies keep connections to it open. */
export const HTTP_AUTHZ_LIMITS = {
  /** the whole request head must arrive within this */
  headersTimeoutMs: 10_000,
  /** the whole request, body included, must arrive within this */
  requestTimeoutMs: 30_000,
  /**
   * Idle keep-alive connections are closed after this. Longer than the proxies' own idle
   * timeouts (nginx upstream keepalive 60 s, Go's transport in Traefik 90 s, the 60 s the
   * example Envoy cluster sets), so the proxy, not this server, closes an idle connection
   * and never sends a request on a connection that is being closed.
   */
  keepAliveTimeoutMs: 120_000,
  maxHeaderBytes: 32 * 1024,
  /** far above what a proxy forwards (Envoy: 100 headers by default) */
  maxHeaders: 500,
  /**
   * A connection without a byte in either direction for this long is closed: Node's header
   * timeout starts only with the first byte, so a silent connection would otherwise stay.
   * As long as a whole request may take, so an answer still waiting on the pipeline is not cut.
   */
  socketTimeoutMs: 30_000,
  /** how often Node checks the header and request timeouts */
  timeoutCheckMs: 1_000,
  /** a body (Envoy `with_request_body`) is read and discarded up to this; beyond it the connection is closed after the answer */
  maxDrainBytes: 1024 * 1024,
} as const;

const HEADERS_TOO_LARGE = new AuthzError('headers_too_large', 'the request has too many headers');

/** Last resort when even the denial cannot be built. */
const SERVER_ERROR: HttpAnswer = {
  status: 500,
  headers: { 'cache-control': 'no-store', 'content-type': 'application/json' },
  body: JSON.stringify({ error: 'server_error', error_description: UNEXPECTED }),
};

/**
 * The check pipeline behind a plain HTTP endpoint, for Envoy's ext_authz `http_service`,
 * nginx `auth_request` and Traefik `forwardAuth`. Every method and path is an
 * authorization request. Allowed → 200 with the exchanged token in the response header
 * the proxy copies upstream; denied → the SPEC §3 status, headers and JSON body. The
 * decision uses headers only: a request body is never buffered (drained, bounded).
 */
export class HttpAuthzServer {
  readonly #server: Server;
  readonly #options: HttpAuthzOptions;
  readonly #maxHeaders: number;
  #closing = false;

  constructor(options: HttpAuthzOptions) {
    this.#options = options;
    this.#maxHeaders = options.maxHeaders ?? HTTP_AUTHZ_LIMITS.maxHeaders;
    this.#server = createServer(
      { maxHeaderSize: options.maxHeaderBytes ?? HTTP_AUTHZ_LIMITS.maxHeaderBytes, connectionsCheckingInterval: HTTP_AUTHZ_LIMITS.timeoutCheckMs },
      (request, response) => this.#handle(request, response),
    );
    // `Expect: 100-continue`: answer at once without inviting the body (no 100 Continue).
    this.#server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
      response.setHeader('connection', 'close');
      this.#handle(request, response);
    });
    this.#server.headersTimeout = HTTP_AUTHZ_LIMITS.headersTimeoutMs;
    this.#server.requestTimeout = HTTP_AUTHZ_LIMITS.requestTimeoutMs;
    this.#server.keepAliveTimeout = options.keepAliveTimeoutMs ?? HTTP_AUTHZ_LIMITS.keepAliveTimeoutMs;
    // Node drops header lines past maxHeadersCount silently: read one more than allowed, to see that there were more (and deny).
    this.#server.maxHeadersCount = this.#maxHeaders + 1;
    if (options.maxConnections !== undefined) this.#server.maxConnections = options.maxConnections;
    this.#server.timeout = options.socketTimeoutMs ?? HTTP_AUTHZ_LIMITS.socketTimeoutMs;
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, address, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting; idle connections close at once, in-flight requests get up to
   * `graceMs` to be answered (with `connection: close`), then every connection is closed.
   */
  close(graceMs = 0): Promise<void> {
    this.#closing = true;
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      let timer: NodeJS.Timeout | undefined;
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.#server.closeIdleConnections();
      if (graceMs > 0) timer = setTimeout(() => this.#server.closeAllConnections(), graceMs).unref();
      else this.#server.closeAllConnections();
    });
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    discardBody(request, response);
    let pending: Decision | Promise<Decision>;
    let span: CheckSpan | undefined;
    try {
      const check = checkRequestOf(request);
      const { tracing } = this.#options;
      span = tracing?.startServer(request.method ?? 'HTTP', requestView(check), { 'http.request.method': request.method ?? '', 'url.path': (request.url ?? '/').split('?')[0]! });
      // SPEC §5: the pipeline never sees a request whose headers were cut short.
      if (request.rawHeaders.length / 2 > this.#maxHeaders) pending = { allowed: false, error: HEADERS_TOO_LARGE };
      else pending = span ? tracing!.within(span, () => this.#options.pipeline.decide(check, span!.context)) : this.#options.pipeline.decide(check);
    } catch (error) {
      pending = this.#failed(error);
    }
    if (!isPromise(pending)) return this.#answer(pending, started, response, span);
    answerBefore(
      Promise.resolve(pending),
      budgetOf(request),
      (decision) => this.#answer(decision, started, response, span),
      (error) => this.#failed(error),
    );
  }

  #answer(decision: Decision, started: number, response: ServerResponse, span?: CheckSpan): void {
    let answered = decision;
    let answer: HttpAnswer;
    try {
      answer = httpAnswerOf(this.#build(decision));
    } catch (error) {
      answered = this.#failed(error);
      answer = this.#fallback(answered.error);
    }
    const { tracing } = this.#options;
    if (span) tracing!.endServer(span, { 'http.response.status_code': answer.status, 'authz.outcome': answered.allowed ? 'allowed' : answered.error.code }, answer.status >= 500);
    try {
      this.#options.onDecision?.(answered, (performance.now() - started) / 1000, { method: response.req.method, status: answer.status }, span && tracing!.ids(span));
    } catch (error) {
      this.#options.log.error('http authorization: onDecision failed', { cause: causeName(error) ?? typeof error });
    }
    // Shutting down: the proxy opens a new connection (to another instance) for its next check.
    if (this.#closing && !response.headersSent) response.setHeader('connection', 'close');
    send(response, answer);
  }

  /**
   * An exception outside the pipeline's own error handling: fail closed (500). The
   * pipeline's caller logs decisions; this is logged here, by class only (a message could
   * quote a token).
   */
  #failed(error: unknown): Extract<Decision, { allowed: false }> {
    this.#options.log.error('http authorization failed unexpectedly', { cause: causeName(error) ?? typeof error });
    return { allowed: false, error: unexpected(error) };
  }

  #build(decision: Decision) {
    const { responses } = this.#options;
    return decision.allowed ? responses.allow(decision.exchanged.value, decision.principal, decision.exchanger.target.header) : responses.deny(decision.error);
  }

  #fallback(error: AuthzError): HttpAnswer {
    try {
      return httpAnswerOf(this.#options.responses.deny(error));
    } catch {
      return SERVER_ERROR;
    }
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * The caller's deadline as the proxy states it: Envoy's router sends
 * `x-envoy-expected-rq-timeout-ms` with the time it will wait (the same rule as
 * the gRPC deadline then applies, SPEC §3). Without it (nginx, Traefik) the
 * check waits for the pipeline, whose calls are bounded by their own timeouts.
 */
const EXPECTED_TIMEOUT_HEADER = 'x-envoy-expected-rq-timeout-ms';

function budgetOf(request: IncomingMessage): number {
  const stated = request.headers[EXPECTED_TIMEOUT_HEADER];
  return typeof stated === 'string' && /^\d{1,9}$/.test(stated) ? Number(stated) : Infinity;
}

function send(response: ServerResponse, answer: HttpAnswer): void {
  if (response.headersSent || response.destroyed) return;
  try {
    response.statusCode = answer.status;
    for (const [name, value] of Object.entries(answer.headers)) response.setHeader(name, value);
    response.setHeader('content-length', Buffer.byteLength(answer.body));
    response.end(answer.body);
  } catch {
    // An invalid header value (Node refuses CR/LF): nothing of it was sent yet.
    if (response.headersSent) return void response.destroy();
    for (const name of response.getHeaderNames()) if (name !== 'connection') response.removeHeader(name);
    response.statusCode = SERVER_ERROR.status;
    for (const [name, value] of Object.entries(SERVER_ERROR.headers)) response.setHeader(name, value);
    response.setHeader('content-length', Buffer.byteLength(SERVER_ERROR.body));
    response.end(SERVER_ERROR.body);
  }
}

/**
 * The decision never depends on the body (Envoy sends one with `with_request_body`, and
 * a Traefik `forwardBody` or a misconfigured nginx may too). It is read and dropped chunk
 * by chunk so the connection can be reused; past `maxDrainBytes` (or a larger declared
 * `content-length`) reading stops and the connection is closed once the answer is out.
 */
function discardBody(request: IncomingMessage, response: ServerResponse): void {
  const limit = HTTP_AUTHZ_LIMITS.maxDrainBytes;
  let seen = 0;
  const stop = () => {
    request.pause();
    request.removeListener('data', count);
    if (response.writableFinished) request.socket.destroy();
    else {
      if (!response.headersSent) response.setHeader('connection', 'close');
      response.once('finish', () => request.socket.destroy());
    }
  };
  const count = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) stop();
  };
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return stop();
  request.on('data', count);
  request.on('error', () => {});
}
