/**
 * SPEC §5 `/healthz` and `/readyz`: healthy until closing; ready once the
 * listeners are bound and a warm-up finished (every issuer's keys or metadata
 * and every discovered token endpoint loaded), until closing. A later outage
 * of the authorization server does not flip it.
 */
export class Readiness {
  #listening = false;
  #warm = false;
  #closing = false;

  /** `onWarm`: called each time a warm-up finishes (at start, and after each applied reload). */
  constructor(private readonly onWarm: () => void) {}

  readonly healthy = (): boolean => !this.#closing;
  readonly ready = (): boolean => this.#listening && this.#warm && !this.#closing;

  /** The listeners are bound: warm `target` now, as every later core is warmed once it is built. */
  started(target: { warmUp(onWarm: () => void): void }): void {
    this.#listening = true;
    this.warm(target);
  }

  /** Warms `target` up when listening (before that, `started` does). */
  warm(target: { warmUp(onWarm: () => void): void }): void {
    if (!this.#listening) return;
    target.warmUp(() => {
      this.#warm = true;
      this.onWarm();
    });
  }

  closing(): void {
    this.#closing = true;
  }
}
