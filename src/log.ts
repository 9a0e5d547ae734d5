import { write, writeSync } from 'node:fs';
import { SERVICE_NAME, VERSION } from './build-info.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const LEVEL_RANK = Object.fromEntries(LOG_LEVELS.map((level, rank) => [level, rank])) as Record<LogLevel, number>;

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  fatal(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  trace(msg: string, fields?: LogFields): void;
  /**
   * A line whose fields the caller has already written as JSON members
   * (`"a":1,"b":"x"`), for the one line per Check: the caller guarantees the
   * names are fixed and no value is a secret, so no redaction pass runs.
   */
  preformatted(level: LogLevel, msg: string, members: string): void;
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

/** Longest a line waits in the batch before it is written. */
const FLUSH_AFTER_MS = 20;
/** A batch this large is written at once. */
const FLUSH_AT_CHARS = 64 * 1024;
/** Most text waiting while a write is slow (SPEC §5: every buffer bounded); lines past it are dropped and counted. */
const MAX_PENDING_CHARS = 8 * 1024 * 1024;

/** Where the batches go: fd 1 by default; tests pass their own. */
export interface LineSink {
  /** Writes what it can of `bytes`; `written` may be short (a full non-blocking pipe). */
  write(bytes: Buffer, done: (error: NodeJS.ErrnoException | null, written: number) => void): void;
  writeSync(text: string): void;
}

const stdoutSink: LineSink = {
  // libuv's thread pool does the blocking write, so a slow reader of stdout never stalls the event loop.
  write: (bytes, done) => write(1, bytes, 0, bytes.length, null, done),
  writeSync: (text) => {
    try {
      writeSync(1, text);
    } catch {
      // At exit, best effort: a closed or full stdout must not turn a clean exit into a crash.
    }
  },
};

/**
 * Lines for stdout, written in batches: one write per 20 ms or 64 KiB instead
 * of one per line (a write is a system call; at thousands of checks a second
 * that was most of a log line's cost, and at one stream it was one per Check).
 * One write at a time, off the event loop: a log reader that falls behind (a
 * full pipe) delays lines, never Checks. What waits meanwhile is bounded
 * (SPEC §5); lines past the bound are dropped and a warning line says how
 * many. Flushed synchronously on exit, so nothing logged before
 * `process.exit` is lost.
 */
export function batchedWriter(sink: LineSink = stdoutSink, maxPendingChars = MAX_PENDING_CHARS): (line: string) => void {
  let pending = '';
  let writing: Buffer | undefined;
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const later = () => {
    if (!timer) timer = setTimeout(flush, FLUSH_AFTER_MS).unref();
  };
  const send = (bytes: Buffer) => {
    writing = bytes;
    sink.write(bytes, (error, written) => {
      if (error?.code === 'EAGAIN') written = 0;
      else if (error) written = bytes.length; // a closed stdout loses this batch only; the next one tries again
      if (written < bytes.length) {
        // Short or refused (a non-blocking pipe that is full): the rest goes first, a little later.
        writing = bytes.subarray(written);
        return void setTimeout(() => send(writing!), written > 0 ? 0 : FLUSH_AFTER_MS).unref();
      }
      writing = undefined;
      if (pending.length >= FLUSH_AT_CHARS) flush();
      else if (pending.length > 0) later();
    });
  };
  function flush() {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (writing !== undefined || pending.length === 0) return;
    if (dropped > 0) {
      pending += `{"time":"${new Date().toISOString()}","level":"warn","msg":"log lines dropped: the log reader fell behind","dropped":${dropped}}\n`;
      dropped = 0;
    }
    const text = pending;
    pending = '';
    send(Buffer.from(text, 'utf8'));
  }
  process.once('exit', () => {
    // A write still in flight may not have reached the reader: written again rather than lost.
    const rest = (writing ? writing.toString('utf8') : '') + pending;
    if (rest.length > 0) sink.writeSync(rest);
  });
  return (line) => {
    if (pending.length + line.length > maxPendingChars) {
      dropped += 1;
      return;
    }
    pending += line;
    if (pending.length >= FLUSH_AT_CHARS) flush();
    else later();
  };
}

let isoMs = 0;
let iso = '';

/** `toISOString()` of the current millisecond, formatted once per millisecond rather than once per line. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

/** Who writes the lines: `service` and `version` on every one. */
export interface LogIdentity {
  readonly service: string;
  readonly version: string;
}

/**
 * JSON-lines logger: one object per line with `time`, `level`, `msg`,
 * `service`, `version` and the (redacted) fields.
 */
export function createLogger(level: LogLevel, write: (line: string) => void = batchedWriter(), identity: LogIdentity = { service: SERVICE_NAME, version: VERSION }): Logger {
  const threshold = LEVEL_RANK[level];
  const enabled = (at: LogLevel) => LEVEL_RANK[at] <= threshold;
  // Written once here, so the per-Check line only concatenates it.
  const identityMembers = `,"service":${JSON.stringify(identity.service)},"version":${JSON.stringify(identity.version)}`;
  const emit = (at: LogLevel) => (msg: string, fields?: LogFields) => {
    if (!enabled(at)) return;
    // One object per line: the fields are redacted straight into it (this runs once per Check).
    const record: Record<string, unknown> = { time: isoNow(), level: at, msg, service: identity.service, version: identity.version };
    write(JSON.stringify(fields ? redactInto(record, fields, 0) : record) + '\n');
  };
  const preformatted = (at: LogLevel, msg: string, members: string) => {
    if (!enabled(at)) return;
    write(`{"time":"${isoNow()}","level":"${at}","msg":${JSON.stringify(msg)}${identityMembers}${members === '' ? '' : ','}${members}}\n`);
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
    preformatted,
  };
}

/**
 * A URL as it may appear in a log line: scheme, host, port and path only (no
 * user information, query or fragment, where credentials could travel).
 */
export function loggableUrl(url: string): string {
  try {
    const { protocol, host, pathname } = new URL(url);
    return `${protocol}//${host}${pathname}`;
  } catch {
    return '[not a URL]';
  }
}

/** A logger that drops everything (for library use and tests that do not read logs). */
export const silentLogger: Logger = createLogger('fatal', () => {});
