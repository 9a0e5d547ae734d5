/** RFC 6750 §2.1 `b64token`: the only syntax a bearer token may have. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Longest exchanged token written into a request header (SPEC §3). */
export const MAX_EXCHANGED_TOKEN_BYTES = 16 * 1024;

/**
 * Why `value` cannot be sent as `Bearer <value>` (RFC 6750 §2.1), in words
 * that never quote it; `undefined` when it can. Length is checked before the
 * pattern, so no regular expression runs over an unbounded input.
 */
export function b64tokenFault(value: unknown, maxBytes = MAX_EXCHANGED_TOKEN_BYTES): string | undefined {
  if (typeof value !== 'string') return value === undefined ? 'it is missing' : `it is a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}, not a string`;
  if (value.length === 0) return 'it is empty';
  if (value.length > maxBytes) return `it is longer than ${maxBytes} bytes`;
  if (B64TOKEN.test(value)) return undefined;
  // Name the first offending class, for the operator's log line.
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'it contains a control character';
  if (/[^\u0000-\u007f]/.test(value)) return 'it contains a non-ASCII character';
  if (value.includes(' ')) return 'it contains a space';
  if (value.includes(',')) return 'it contains a comma';
  return 'it is not an RFC 6750 b64token';
}
