import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadConfig, type Config, type Environment } from './load.js';

/**
 * The configuration as it can be read again (SPEC §5): the environment plus
 * every file it names (`CONFIG_FILE`, each `…_FILE`, keys, certificates).
 * Each load remembers a hash of every file it read, so `changed()` can tell,
 * by polling, that a mounted secret was replaced (Kubernetes swaps a `..data`
 * symlink: the path reads the new content).
 */
export class ReloadableConfig {
  #files = new Map<string, string>();

  constructor(private readonly env: Environment) {}

  /** Loads and validates everything (throws a ConfigError); a failed load is remembered too, so it is not retried until a file changes again. */
  load(): Config {
    const seen = new Map<string, string>();
    try {
      return loadConfig(this.env, (path) => {
        seen.set(path, UNREADABLE);
        const text = readFileSync(path, 'utf8');
        seen.set(path, digest(text));
        return text;
      });
    } finally {
      this.#files = seen;
    }
  }

  /** True when a file the last load read (or failed to read) now reads differently. */
  changed(): boolean {
    for (const [path, hash] of this.#files) if (read(path) !== hash) return true;
    return false;
  }
}

const UNREADABLE = 'unreadable';

function read(path: string): string {
  try {
    return digest(readFileSync(path, 'utf8'));
  } catch {
    return UNREADABLE;
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
