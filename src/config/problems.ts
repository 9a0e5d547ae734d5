/**
 * The problems of one configuration load, one line each, every line naming its
 * variable or file position (SPEC §2: a bad setting stops start-up).
 *
 * Besides the lines it records which settings already have a line of their
 * own, so that a later rule ("is required") does not add a second, misleading
 * line about a value that was given but was unusable.
 */
export class Problems {
  readonly lines: string[] = [];
  readonly #failed = new Set<string>();

  push(...lines: string[]): void {
    this.lines.push(...lines);
  }

  get length(): number {
    return this.lines.length;
  }

  /** Records that the setting `env` of one entry (`scope`: its position, '' for the environment) has a line. */
  markFailed(scope: string, env: string): void {
    this.#failed.add(`${scope}\n${env}`);
  }

  /** Whether the setting `env` of the entry `scope` already has a line. */
  failed(scope: string, env: string): boolean {
    return this.#failed.has(`${scope}\n${env}`);
  }
}

/** The `code` of a file-system error ("ENOENT"), for a problem line; never its message, which may quote content. */
export function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'error';
}

/** The message of an Error a parser threw; it completes the sentence "<VARIABLE>: …". */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
