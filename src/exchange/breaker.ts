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

/**
 * A circuit breaker for one token endpoint: after several consecutive
 * faults of the server it fails calls fast (503, no request) for a while,
 * then lets one call through; success closes it, failure reopens it for twice
 * as long (up to 30 s). Keeps an outage from becoming a flood of retries.
 */
export class CircuitBreaker {
  #failures = 0;
  #openUntil = 0;
  #openFor = FIRST_OPEN_MS;
  #probing = false;

  constructor(private readonly clock: Clock) {}

  /** Throws 'unavailable' without calling while open; otherwise runs `call` and learns from it. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const now = this.clock();
    if (this.#failures >= FAILURES_TO_OPEN && (now < this.#openUntil || this.#probing)) {
      throw new BreakerOpenError();
    }
    const probe = this.#failures >= FAILURES_TO_OPEN;
    if (probe) this.#probing = true;
    try {
      const result = await call();
      this.#failures = 0;
      this.#openFor = FIRST_OPEN_MS;
      return result;
    } catch (error) {
      if (isServerFault(error)) this.#failed(probe);
      else this.#failures = 0; // the server answered: it is up
      throw error;
    } finally {
      if (probe) this.#probing = false;
    }
  }

  get open(): boolean {
    return this.#failures >= FAILURES_TO_OPEN && this.clock() < this.#openUntil;
  }

  #failed(probe: boolean): void {
    this.#failures++;
    if (this.#failures < FAILURES_TO_OPEN) return;
    if (probe) this.#openFor = Math.min(this.#openFor * 2, LONGEST_OPEN_MS);
    this.#openUntil = this.clock() + this.#openFor;
  }
}
