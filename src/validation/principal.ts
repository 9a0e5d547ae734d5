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

/**
 * Builds principals from validated claims, holding once what many tokens
 * repeat (a client id, a scope list): a principal is kept per token, up to
 * 100,000s of them. One per app, passed down to the validators; bounded.
 */
export class Principals {
  readonly #strings = new Map<string, string>();
  readonly #scopeLists = new Map<string, readonly string[]>();

  /** A principal from validated claims; what many tokens share (client id, scope list) is held once. */
  principalOf(issuer: string, subject: string | undefined, clientId: string | undefined, scopes: readonly string[], expiresAt: number): Principal {
    return { issuer, subject, subjectFingerprint: subjectFingerprint(issuer, subject), clientId: this.#shared(clientId), scopes: this.#sharedScopes(scopes), expiresAt };
  }

  #shared(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    if (this.#strings.size < SHARED_MAX) this.#strings.set(value, value);
    return value;
  }

  #sharedScopes(scopes: readonly string[]): readonly string[] {
    const key = JSON.stringify(scopes); // unambiguous, whatever the scope strings contain
    const known = this.#scopeLists.get(key);
    if (known !== undefined) return known;
    if (this.#scopeLists.size >= SHARED_MAX) return scopes;
    const list = Object.freeze([...scopes]);
    this.#scopeLists.set(key, list);
    return list;
  }
}
