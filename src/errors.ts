/**
 * The error vocabulary of the Check path. Every failure that can decide a
 * Check is an {@link AuthzError} with a stable `code`; `check/outcomes.ts`
 * maps each code to its HTTP status, gRPC code and challenge (SPEC §3).
 * Branch on `code`, never on a message.
 */
export type AuthzErrorCode =
  /** no `authorization` header, or not the Bearer scheme (RFC 6750 §3.1: no error code) */
  | 'missing_token'
  /** two bearer tokens: repeated header or a comma-joined value (RFC 6750 §3.1 invalid_request) */
  | 'invalid_request'
  /** malformed, badly signed, expired, wrong iss/aud, alg not allowed, inactive (RFC 6750 §3.1 invalid_token) */
  | 'invalid_token'
  /** the token lacks a required scope (RFC 6750 §3.1 insufficient_scope) */
  | 'insufficient_scope'
  /** the authorization server refused the exchange for this subject (RFC 8693 §2.2.2) */
  | 'exchange_refused'
  /** the authorization server rejected our client or grant: a misconfiguration */
  | 'misconfigured'
  /** the authorization server is unreachable, slow, failing or answered garbage */
  | 'unavailable'
  /** the CheckRequest carries no HTTP attributes (a network-level check) */
  | 'not_http'
  /** no exchange target matches the request, or the route names an unknown one */
  | 'no_target'
  /** an unexpected exception: fail closed */
  | 'internal'
  /** not a failure: a Check for the RFC 9728 metadata path, answered directly with the document */
  | 'resource_metadata'
  /** the Check's gRPC deadline would pass before an answer */
  | 'deadline'
  /** the request carries more header entries or bytes than the listener accepts (SPEC §5; RFC 6585 §5: 431) */
  | 'headers_too_large';

export class AuthzError extends Error {
  override readonly name = 'AuthzError';
  constructor(
    readonly code: AuthzErrorCode,
    /** safe to show to the client: never contains a token or secret */
    readonly description: string,
    options?: { cause?: unknown },
  ) {
    super(description, options);
  }
}

/** A token that lacks scopes; carries the scopes the challenge must name (RFC 6750 §3). */
export class InsufficientScopeError extends AuthzError {
  constructor(readonly requiredScopes: readonly string[]) {
    super('insufficient_scope', 'the access token lacks a required scope');
  }
}

/**
 * The authorization server answered something that is not a usable OAuth
 * answer (SPEC §3 "What the service accepts from the token endpoint"): 503,
 * never cached, and logged as an error naming the fault, never the value.
 * It counts as a fault of the server (the circuit breaker learns from it).
 */
export class GarbageAnswerError extends AuthzError {
  constructor(
    /** what is wrong, in words that never quote the value */
    readonly fault: string,
  ) {
    super('unavailable', `the authorization server answered garbage: ${fault}`);
  }
}

/**
 * The authorization server answered 429 about this call (RFC 6585 §4): 503
 * with its `retry-after`, and the same cache key is not retried before then.
 * Not a fault of the server: the circuit breaker ignores it (SPEC §3).
 */
export class RateLimitedError extends AuthzError {
  constructor(
    /** whole seconds, 1–60 */
    readonly retryAfterSeconds: number,
  ) {
    super('unavailable', 'the authorization server asked to slow down (HTTP 429)');
  }
}

/** One or more settings are missing or wrong; each problem is one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    // One line each, whatever a quoted value or path held: control characters are escaped.
    const lines = problems.map((problem) => problem.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1)));
    super(lines.join('\n'));
    this.problems = lines;
  }
}
