import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { CacheKey } from '../config/cache-keys.js';

/** Every shared-tier key starts with this; the version changes if the layout below ever does. */
export const KEY_PREFIX = 'tea:v1:';
const HKDF_INFO = 'token-exchange-authz shared cache v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** expiry and lifetime, milliseconds, as two big-endian doubles */
const HEADER_BYTES = 16;
/** A sealed exchanged token is at most 16 KiB (SPEC §3) plus a few dozen bytes: anything longer is not ours. */
const MAX_VALUE_CHARS = 24 * 1024;

/** What the local cache key covers (SPEC §4): the exchange target, the inbound token and the actor token. */
export interface EntryName {
  /** the target's identity hash (`TokenExchanger.identity`) */
  readonly identity: string;
  /** the inbound token itself: the sealing key is derived from it */
  readonly inboundToken: string;
  /** base64url SHA-256 of the inbound token */
  readonly tokenHash: string;
  readonly actorToken: string | undefined;
}

/** An exchanged token as the shared tier holds it. */
export interface SharedEntry {
  readonly value: string;
  /** epoch milliseconds after which it is not served */
  readonly expiresAt: number;
  /** the lifetime it was cached with, milliseconds (for refresh-ahead) */
  readonly lifetimeMs: number;
}

export type OpenResult = { readonly ok: true; readonly entry: SharedEntry } | { readonly ok: false; readonly reason: 'malformed' | 'unknown_kid' | 'unopenable' };

/**
 * The Redis key of an entry under one key of `CACHE_KEYS_FILE` (SPEC §4b):
 * HMAC-SHA-256 over everything the local key covers, so a Redis reader learns
 * nothing from a key and cannot test a leaked token against it.
 */
export function redisKeyOf(key: CacheKey, name: EntryName): string {
  const hmac = createHmac('sha256', key.secret).update(name.identity).update('\n').update(name.tokenHash).update('\n');
  if (name.actorToken !== undefined) hmac.update(name.actorToken);
  return KEY_PREFIX + hmac.digest('base64url');
}

/**
 * Seals an entry (SPEC §4b): AES-256-GCM under a key derived with HKDF (RFC
 * 5869) from the inbound token and `key`, a fresh 12-byte IV, the Redis key as
 * associated data. The value is `kid.base64url(iv ‖ ciphertext ‖ tag)`.
 */
export function seal(key: CacheKey, redisKey: string, name: EntryName, entry: SharedEntry): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(key, name), iv);
  cipher.setAAD(Buffer.from(redisKey));
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeDoubleBE(entry.expiresAt, 0);
  header.writeDoubleBE(entry.lifetimeMs, 8);
  const sealed = Buffer.concat([iv, cipher.update(header), cipher.update(entry.value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${key.kid}.${sealed.toString('base64url')}`;
}

/**
 * Opens a value read from `redisKey`. A kid not in `keys`, a value that does
 * not authenticate (another key's value, another token's, altered, truncated)
 * or a malformed one is a failure with its reason, never an exception.
 */
export function open(keys: readonly CacheKey[], redisKey: string, name: EntryName, value: string): OpenResult {
  const dot = value.indexOf('.');
  if (dot < 1 || value.length > MAX_VALUE_CHARS) return { ok: false, reason: 'malformed' };
  const kid = value.slice(0, dot);
  const key = keys.find((candidate) => candidate.kid === kid);
  if (!key) return { ok: false, reason: 'unknown_kid' };
  const body = value.slice(dot + 1);
  const sealed = Buffer.from(body, 'base64url');
  if (sealed.toString('base64url') !== body || sealed.length < IV_BYTES + HEADER_BYTES + 1 + TAG_BYTES) return { ok: false, reason: 'malformed' };
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(key, name), sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(redisKey));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return { ok: false, reason: 'unopenable' };
  }
  const entry = { expiresAt: plain.readDoubleBE(0), lifetimeMs: plain.readDoubleBE(8), value: plain.subarray(HEADER_BYTES).toString('utf8') };
  return { ok: true, entry };
}

/** HKDF-SHA-256 (RFC 5869): the cache key as input keying material, the inbound token as salt. */
function sealingKey(key: CacheKey, name: EntryName): Buffer {
  return Buffer.from(hkdfSync('sha256', key.secret, name.inboundToken, HKDF_INFO, 32));
}
