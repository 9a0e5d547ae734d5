import { writeSync } from 'node:fs';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  fatal(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  trace(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
}

/**
 * Field names whose values are replaced before a line is written, at any depth.
 * The Check path never hands a token to the logger; this is the second fence.
 */
const REDACTED_KEYS = new Set([
  'authorization',
  'token',
  'access_token',
  'subject_token',
  'actor_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'secret',
  'password',
  'cookie',
]);

function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  return redactInto({}, value as Record<string, unknown>, depth);
}

/** Copies `fields` into `out`, redacting by key at any depth. */
function redactInto(out: Record<string, unknown>, fields: Record<string, unknown>, depth: number): Record<string, unknown> {
  for (const key in fields) {
    const inner = fields[key];
    out[key] = REDACTED_KEYS.has(key) || REDACTED_KEYS.has(key.toLowerCase()) ? '[redacted]' : typeof inner === 'object' ? redact(inner, depth + 1) : inner;
  }
  return out;
}

/**
 * Lines for stdout, written in batches: one write per turn of the event loop
 * instead of one per line (a write is a system call; at thousands of checks a
 * second that is most of a log line's cost). Flushed synchronously on exit.
 */
function batchedStdout(): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    process.stdout.write(text);
  };
  process.once('exit', () => {
    if (pending.length > 0) writeSync(1, pending.join(''));
  });
  return (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** JSON-lines logger: one object per line with `time`, `level`, `msg` and the (redacted) fields. */
export function createLogger(level: LogLevel, write: (line: string) => void = batchedStdout()): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (at: LogLevel) => LOG_LEVELS.indexOf(at) <= threshold;
  const emit = (at: LogLevel) => (msg: string, fields?: LogFields) => {
    if (!enabled(at)) return;
    // One object per line: the fields are redacted straight into it (this runs once per Check).
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: at, msg };
    write(JSON.stringify(fields ? redactInto(record, fields, 0) : record) + '\n');
  };
  return {
    level,
    enabled,
    fatal: emit('fatal'),
    error: emit('error'),
    warn: emit('warn'),
    info: emit('info'),
    debug: emit('debug'),
    trace: emit('trace'),
  };
}

/** A logger that drops everything (for library use and tests that do not read logs). */
export const silentLogger: Logger = createLogger('fatal', () => {});
