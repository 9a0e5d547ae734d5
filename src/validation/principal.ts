import { hash } from 'node:crypto';

/** Who the inbound token speaks for, as far as the Check path needs to know. */
export interface Principal {
  readonly issuer: string;
  readonly subject: string | undefined;
  /** short hash of issuer and subject, for logs: correlates a user's checks without naming them */
  readonly subjectFingerprint: string | undefined;
  /** RFC 9068 §2.2 / RFC 8693 §4.3 `client_id` */
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  /** `exp`, seconds since the epoch: nothing derived from the token outlives it */
  readonly expiresAt: number;
}

/** A validated principal and how long the validation may be reused (epoch ms). */
export interface Validation {
  readonly principal: Principal;
  readonly reusableUntil: number;
}

/** A short, non-reversible name of (issuer, subject) for logs. */
export function subjectFingerprint(issuer: string, subject: string | undefined): string | undefined {
  return subject === undefined ? undefined : hash('sha256', `${issuer}\n${subject}`, 'base64url').slice(0, 12);
}

/** Most distinct client ids and scope lists held for sharing; past it, new ones are simply not shared. */
const SHARED_MAX = 10_000;
const sharedStrings = new Map<string, string>();
const sharedScopeLists = new Map<string, readonly string[]>();

/** One copy of a value many cached principals repeat (a client id): a principal is kept per token, up to 100,000s of them. */
function shared(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const known = sharedStrings.get(value);
  if (known !== undefined) return known;
  if (sharedStrings.size < SHARED_MAX) sharedStrings.set(value, value);
  return value;
}

function sharedScopes(scopes: readonly string[]): readonly string[] {
  const key = JSON.stringify(scopes); // unambiguous, whatever the scope strings contain
  const known = sharedScopeLists.get(key);
  if (known !== undefined) return known;
  if (sharedScopeLists.size >= SHARED_MAX) return scopes;
  const list = Object.freeze([...scopes]);
  sharedScopeLists.set(key, list);
  return list;
}

/** A principal from validated claims; what many tokens share (client id, scope list) is held once. */
export function principalOf(issuer: string, subject: string | undefined, clientId: string | undefined, scopes: readonly string[], expiresAt: number): Principal {
  return { issuer, subject, subjectFingerprint: subjectFingerprint(issuer, subject), clientId: shared(clientId), scopes: sharedScopes(scopes), expiresAt };
}
