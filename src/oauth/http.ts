import { rootCertificates } from 'node:tls';
import type { Context } from '@opentelemetry/api';
import { Agent, request } from 'undici';
import { AuthzError } from '../errors.js';

/** What a traced call is called and where it belongs: a CLIENT span under `parent` (default: the active context). */
export interface CallSpan {
  readonly name: string;
  readonly parent?: Context | undefined;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Wraps one call in a CLIENT span when tracing is on; `call` gets the headers that continue the trace (`traceparent`). */
export interface HttpTracer {
  client<T extends { readonly status: number }>(span: CallSpan, method: string, url: string, call: (headers: Record<string, string>) => Promise<T>): Promise<T>;
}

export interface HttpLimits {
  /** whole-call limit: connect, headers and body each fit inside it */
  readonly timeoutMs: number;
  /** responses larger than this are refused (undici `maxResponseSize`) */
  readonly maxResponseBytes: number;
  /** extra trusted CAs (PEM), added to Node's defaults */
  readonly ca?: string | undefined;
  /** a client certificate for mutual TLS (RFC 8705 §2) */
  readonly clientCertificate?: { readonly cert: string; readonly key: string } | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly retryAfter: string | undefined;
}

/**
 * The one HTTP client for every call to the authorization server: discovery,
 * token exchange and introspection (through oauth4webapi's `customFetch`),
 * JWKS (through jose's `customFetch`); each call in a
 * CLIENT span when a tracer is given. One bounded undici
 * Agent (keep-alive `request`, not `fetch`, which costs several times the CPU);
 * every failure to get a complete response becomes `AuthzError('unavailable')`.
 * undici sets TCP_NODELAY and TCP keep-alive on each socket and keeps an idle
 * connection for 4 s (or the server's `Keep-Alive: timeout` hint less 2 s), so
 * exchanges that keep coming reuse a warm connection.
 * A client that authenticates with a certificate gets its own instance, since
 * the certificate belongs to the connection.
 */
export class HttpClient {
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #tracer: HttpTracer | undefined;

  constructor(limits: HttpLimits, tracer?: HttpTracer) {
    if (!(limits.timeoutMs > 0) || !(limits.maxResponseBytes > 0)) throw new TypeError('HttpClient limits must be positive');
    this.#timeoutMs = limits.timeoutMs;
    this.#tracer = tracer;
    this.#agent = new Agent({
      connect: {
        timeout: limits.timeoutMs,
        ...(limits.ca ? { ca: [...rootCertificates, limits.ca] } : {}),
        ...(limits.clientCertificate ?? {}),
      },
      headersTimeout: limits.timeoutMs,
      bodyTimeout: limits.timeoutMs,
      maxResponseSize: limits.maxResponseBytes,
      connections: 64,
    });
  }

  /** A `fetch`-shaped adapter for jose's `customFetch`, so JWKS calls share the agent and its limits. */
  readonly fetch = async (url: string, options: { headers: Headers; signal: AbortSignal }): Promise<Response> => {
    const response = await this.#traced(url, 'GET', Object.fromEntries(options.headers), undefined, options.signal, JWKS_SPAN);
    return new Response(response.body, { status: response.status, headers: { 'content-type': response.contentType } });
  };

  /**
   * A `fetch`-shaped adapter for oauth4webapi's `customFetch`: the request it
   * built goes through this client (agent, limits, CLIENT span `span`), and
   * the answer stays readable as an {@link HttpResponse} ({@link httpResponseOf}).
   * The `Response` carries the body, for oauth4webapi's own processors (discovery).
   */
  fetcher(span: CallSpan): OAuthFetch {
    return async (url, init) => asResponse(await this.#sendBuilt(url, init, span));
  }

  /**
   * Like {@link fetcher}, for calls whose answer our own processor reads through
   * {@link httpResponseOf} alone (token exchange, introspection): the `Response` handed back
   * carries the status only, since a body stream and a header list that nobody
   * reads cost more than the rest of the adapter per call.
   */
  statusFetcher(span: CallSpan): OAuthFetch {
    return async (url, init) => asStatusResponse(await this.#sendBuilt(url, init, span));
  }

  /** Sends a request oauth4webapi built, as it built it: its plain header object and its form body. */
  #sendBuilt(url: string, init: Parameters<OAuthFetch>[1], span: CallSpan): Promise<HttpResponse> {
    const method = init.method === 'POST' ? 'POST' : 'GET';
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    // oauth4webapi's bodies are forms; the media type defines no charset parameter (RFC 6749 Appendix B), so none is sent.
    const headers = body === undefined ? init.headers : { ...init.headers, 'content-type': FORM };
    return this.#traced(url, method, headers, body, init.signal ?? undefined, span);
  }

  #traced(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined, signal: AbortSignal | undefined, span: CallSpan | undefined): Promise<HttpResponse> {
    if (!this.#tracer) return this.#send(url, method, headers, body, signal);
    return this.#tracer.client(span ?? { name: method }, method, url, (trace) => this.#send(url, method, { ...headers, ...trace }, body, signal));
  }

  async #send(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<HttpResponse> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await request(url, {
        method,
        headers: { accept: 'application/json', ...headers },
        body,
        dispatcher: this.#agent,
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      });
      return {
        status: response.statusCode,
        contentType: String(response.headers['content-type'] ?? ''),
        retryAfter: typeof response.headers['retry-after'] === 'string' ? response.headers['retry-after'] : undefined,
        body: await response.body.text(),
      };
    } catch (error) {
      throw new AuthzError('unavailable', `the authorization server could not be reached (${describe(error)})`, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

const JWKS_SPAN: CallSpan = { name: 'jwks' };
const FORM = 'application/x-www-form-urlencoded';

/** The `customFetch` oauth4webapi calls: its request, already built and authenticated. */
export type OAuthFetch = (url: string, init: { readonly method: string; readonly headers: Record<string, string>; readonly body?: unknown; readonly signal?: AbortSignal | null | undefined }) => Promise<Response>;

/** What each `Response` handed to oauth4webapi was made from, so the processors read the bounded body once. */
const answers = new WeakMap<Response, HttpResponse>();

/** Fetch API statuses that cannot carry a body (a hostile server may still send one). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** The Fetch API allows only 200–599; anything else from outside becomes a plain server fault. */
function fetchStatus(answer: HttpResponse): HttpResponse {
  return answer.status >= 200 && answer.status <= 599 ? answer : { ...answer, status: 502 };
}

function asResponse(answer: HttpResponse): Response {
  const kept = fetchStatus(answer);
  const headers: Record<string, string> = { 'content-type': kept.contentType };
  if (kept.retryAfter !== undefined) headers['retry-after'] = kept.retryAfter;
  let response: Response;
  try {
    response = new Response(NULL_BODY_STATUSES.has(kept.status) ? null : kept.body, { status: kept.status, headers });
  } catch (error) {
    // A header value the Fetch API will not hold (undici accepted it): the answer is garbage.
    throw new AuthzError('unavailable', `the authorization server answered HTTP ${answer.status} with unusable headers`, { cause: error });
  }
  answers.set(response, kept);
  return response;
}

function asStatusResponse(answer: HttpResponse): Response {
  const kept = fetchStatus(answer);
  const response = new Response(null, { status: kept.status });
  answers.set(response, kept);
  return response;
}

/** The answer behind a `Response` from {@link HttpClient.fetcher} or {@link HttpClient.statusFetcher}. */
export function httpResponseOf(response: Response): HttpResponse {
  const answer = answers.get(response);
  if (answer === undefined) throw new TypeError('the response did not come from HttpClient.fetcher');
  return answer;
}

/** The error's code or name only: undici messages can quote URLs, never tokens, but stay terse. */
function describe(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown };
  return String(e.code ?? e.name ?? 'error');
}

/** Parses a JSON object body; anything else is garbage from the server's side. */
export function parseJsonObject(response: HttpResponse, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(response.body);
  } catch (error) {
    throw new AuthzError('unavailable', `the ${what} response is not JSON (HTTP ${response.status})`, { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AuthzError('unavailable', `the ${what} response is not a JSON object (HTTP ${response.status})`);
  }
  return value as Record<string, unknown>;
}
