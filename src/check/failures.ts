import { AuthzError } from '../errors.js';

/** The description of every `internal` denial that comes from an unexpected exception. */
export const UNEXPECTED = 'the check failed unexpectedly';

/**
 * An exception nothing anticipated becomes an `internal` denial (fail closed,
 * SPEC §3: 500 / gRPC 13), keeping the exception as its `cause`.
 */
export function unexpected(cause: unknown): AuthzError {
  return new AuthzError('internal', UNEXPECTED, { cause });
}

/**
 * The cause's code or class only, for logs: messages can quote response bodies
 * (a JSON parse error does) or the token itself. `undefined` for a non-Error.
 */
export function causeName(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return undefined;
  return String((cause as { code?: unknown }).code ?? cause.name);
}
