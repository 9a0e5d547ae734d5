import { createSecretKey, type KeyObject } from 'node:crypto';

/** One key of `CACHE_KEYS_FILE` (SPEC §4b): its id, stored in clear beside each sealed value, and its 32 secret bytes. */
export interface CacheKey {
  readonly kid: string;
  readonly secret: KeyObject;
}

/** Key ids travel in clear inside Redis values: short, and never the value separator ".". */
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_BYTES = 32;

/**
 * Parses `CACHE_KEYS_FILE`: one `kid:base64(32 bytes)` a line, the first writes,
 * all read (SPEC §4b); blank lines and `#` comments are skipped. Throws an
 * Error whose message names the line but never a key.
 */
export function parseCacheKeys(text: string): readonly CacheKey[] {
  const keys: CacheKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${index + 1}`;
    const colon = line.indexOf(':');
    const kid = colon < 0 ? '' : line.slice(0, colon);
    const encoded = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (!KID.test(kid)) throw new Error(`${at}: expected kid:base64 with a kid of 1 to 32 letters, digits, "_" or "-"`);
    if (keys.some((key) => key.kid === kid)) throw new Error(`${at}: kid ${JSON.stringify(kid)} is listed twice`);
    const secret = Buffer.from(encoded, 'base64');
    if (!BASE64.test(encoded) || encoded.length % 4 !== 0) throw new Error(`${at}: the key of ${JSON.stringify(kid)} is not base64`);
    if (secret.length !== KEY_BYTES) throw new Error(`${at}: the key of ${JSON.stringify(kid)} is ${secret.length} bytes, not ${KEY_BYTES}`);
    keys.push({ kid, secret: createSecretKey(secret) });
  });
  if (keys.length === 0) throw new Error('holds no key');
  return keys;
}
