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
