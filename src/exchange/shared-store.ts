import type { createClient } from 'redis';
import type { Clock } from '../clock.js';
import type { SharedCacheConfig } from '../config/model.js';
import { CircuitBreaker } from './breaker.js';

/** Why the store did not answer: past REDIS_TIMEOUT_MS, an error or no connection, or the breaker is open (nothing sent). */
export type StoreFailure = 'timeout' | 'unavailable' | 'breaker_open';

export class SharedStoreError extends Error {
  override readonly name = 'SharedStoreError';
  constructor(
    readonly reason: StoreFailure,
    options?: { cause?: unknown },
  ) {
    super(`the shared cache is ${reason === 'timeout' ? 'too slow' : reason === 'breaker_open' ? 'failing; not asking it for a moment' : 'unavailable'}`, options);
  }
}

/** The breaker opens only on failures that span this long (a burst of concurrent timeouts in one slow moment is not "keeps failing"). */
const FAILING_FOR_MS = 1000;
/** The client's own command timeout comes this long after ours: it only cleans up. */
const CLIENT_TIMEOUT_SLACK_MS = 1000;
/** Commands waiting in the client at once; past it a command fails at once (a miss). */
const MAX_QUEUED_COMMANDS = 10_000;
/** Reconnection backoff: 50 ms, doubling, at most 2 s. */
const reconnectDelay = (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2000);

/**
 * The shared tier's Redis (or Valkey) connection: RESP3, TLS with `rediss://`,
 * automatic pipelining, no offline queue (a command while disconnected fails
 * at once), every command bounded by REDIS_TIMEOUT_MS. A breaker stops asking a
 * Redis that keeps failing and lets one probe through later. Nothing here
 * waits for Redis at start-up; every failure is a {@link SharedStoreError}.
 */
type RedisClient = ReturnType<typeof createClient>;

export class RedisStore {
  /** created by `connect()`: the `redis` package is loaded only when REDIS_URL is set (about 28 MB of RSS) */
  #client: RedisClient | undefined;
  #closed = false;
  readonly #timeoutMs: number;
  /** every failure counts: Redis has no answer that means "up, but not for you" */
  readonly #breaker: CircuitBreaker;

  constructor(
    private readonly config: SharedCacheConfig,
    clock: Clock,
    /** connection-level errors (refused, reset, TLS): the caller logs them at a bounded rate */
    private readonly onConnectionError: (error: Error) => void,
  ) {
    this.#timeoutMs = config.timeoutMs;
    this.#breaker = new CircuitBreaker(clock, { isFault: () => true, failingForMs: FAILING_FOR_MS, openError: () => new SharedStoreError('breaker_open') });
  }

  /** Loads the client and starts connecting in the background; commands fail (as misses) until it is up. */
  connect(): void {
    import('redis').then(
      ({ createClient }) => {
        if (this.#closed) return;
        const { config } = this;
        this.#client = createClient({
          url: config.url,
          ...(config.password === undefined ? {} : { password: config.password }),
          RESP: 3,
          disableOfflineQueue: true,
          commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
          // The client drops a command itself a while after we stopped waiting, so a slow Redis cannot pile up replies.
          commandOptions: { timeout: config.timeoutMs + CLIENT_TIMEOUT_SLACK_MS, rejectInFlight: true },
          socket: { connectTimeout: Math.max(1000, config.timeoutMs), reconnectStrategy: reconnectDelay },
          disableClientInfo: true,
        });
        this.#client.on('error', this.onConnectionError);
        this.#client.connect().catch(() => {}); // reported through 'error'; reconnects on its own
      },
      (error: unknown) => this.onConnectionError(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** One MGET: a value or null per key. */
  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.#run(() => this.#ready().mGet([...keys]) as Promise<Array<string | null>>);
  }

  /** SET with a TTL in milliseconds. */
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#run(() => this.#ready().set(key, value, { expiration: { type: 'PX', value: ttlMs } }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#client?.isOpen) this.#client.destroy();
  }

  #ready(): RedisClient {
    if (!this.#client) throw new SharedStoreError('unavailable');
    return this.#client;
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await this.#breaker.run(() => this.#bounded(command));
    } catch (error) {
      throw error instanceof SharedStoreError ? error : new SharedStoreError('unavailable', { cause: error });
    }
  }

  async #bounded<T>(command: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    // Timers run before I/O in each turn of the event loop: after a busy moment the timer would win over a reply
    // that has already arrived. Rejecting from setImmediate lets this turn's I/O be read first.
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => setImmediate(() => reject(new SharedStoreError('timeout'))), this.#timeoutMs);
    });
    try {
      return await Promise.race([command(), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
