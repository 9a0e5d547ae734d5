import type { Clock } from '../clock.js';
import { AuthzError, RateLimitedError } from '../errors.js';

/** Consecutive failures that open the breaker. */
const FAILURES_TO_OPEN = 5;
const FIRST_OPEN_MS = 1000;
const LONGEST_OPEN_MS = 30_000;

/** Thrown while the breaker is open: no request was made. */
export class BreakerOpenError extends AuthzError {
  constructor() {
    super('unavailable', 'the authorization server is failing; not calling it for a moment');
  }
}

/**
 * SPEC §3: only the server's own faults count (connection failure, timeout,
 * 5xx, a body that is not an OAuth answer), never an OAuth error or a 429
 * about one subject, so one user's refusals never open it for everyone.
 */
export function isServerFault(error: unknown): boolean {
  return error instanceof AuthzError && error.code === 'unavailable' && !(error instanceof RateLimitedError);
}

/** What a breaker counts and answers; the defaults are the token endpoint's (SPEC §3). */
export interface BreakerRules {
  /** Failures that count; any other error means the dependency answered, so the run of failures ends. */
  readonly isFault: (error: unknown) => boolean;
  /** The run of failures must span this long to open it: a burst of timeouts in one slow moment is not "keeps failing". */
  readonly failingForMs: number;
  /** Thrown while open (no call made). */
  readonly openError: () => Error;
}

const TOKEN_ENDPOINT_RULES: BreakerRules = { isFault: isServerFault, failingForMs: 0, openError: () => new BreakerOpenError() };

/**
 * A circuit breaker for one dependency (a token endpoint, the shared cache's
 * Redis): after several consecutive faults it fails calls fast (no call) for a
 * while, then lets one call through; success closes it, failure reopens it for
 * twice as long (up to 30 s). Keeps an outage from becoming a flood of retries.
 */
export class CircuitBreaker {
  #failures = 0;
  /** when the current run of failures began */
  #failingSince = 0;
  #open = false;
  #openUntil = 0;
  #openFor = FIRST_OPEN_MS;
  #probing = false;

  constructor(
    private readonly clock: Clock,
    private readonly rules: BreakerRules = TOKEN_ENDPOINT_RULES,
  ) {}

  /** Throws `rules.openError()` without calling while open; otherwise runs `call` and learns from it. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const probe = this.#open;
    if (probe && (this.clock() < this.#openUntil || this.#probing)) throw this.rules.openError();
    if (probe) this.#probing = true;
    try {
      const result = await call();
      this.#closed();
      this.#openFor = FIRST_OPEN_MS;
      return result;
    } catch (error) {
      if (this.rules.isFault(error)) this.#failed(probe);
      else this.#closed(); // it answered: it is up
      throw error;
    } finally {
      if (probe) this.#probing = false;
    }
  }

  get open(): boolean {
    return this.#open && this.clock() < this.#openUntil;
  }

  #closed(): void {
    this.#failures = 0;
    this.#open = false;
  }

  #failed(probe: boolean): void {
    const now = this.clock();
    if (this.#failures++ === 0) this.#failingSince = now;
    if (!probe && (this.#failures < FAILURES_TO_OPEN || now - this.#failingSince < this.rules.failingForMs)) return;
    if (probe) this.#openFor = Math.min(this.#openFor * 2, LONGEST_OPEN_MS);
    this.#open = true;
    this.#openUntil = now + this.#openFor;
  }
}
