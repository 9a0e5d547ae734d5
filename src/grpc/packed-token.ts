/**
 * A token of base64url segments joined by dots (a JWS or JWE compact
 * serialisation, RFC 7515 §7.1 / RFC 7516 §7.1, which is what most
 * authorization servers issue) kept as the bytes its segments encode: three
 * quarters of its length. Read back, it is the same string, character for
 * character; a token that would not read back exactly is not packed.
 *
 * Layout: segment count (1 byte), each segment's byte length (2 bytes, big
 * endian), then the segments' bytes.
 */

/** Most segments a packed token has (a JWE has five). */
const MAX_SEGMENTS = 8;
/** Most bytes one segment encodes (its length is kept in two bytes). */
const MAX_SEGMENT_BYTES = 0xffff;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const DOT = 0x2e;

/** The packed form of `token`, or undefined when it is not dot-joined canonical unpadded base64url (then it is kept as it is). */
export function packToken(token: string): Buffer | undefined {
  const segments = token.split('.');
  if (segments.length > MAX_SEGMENTS) return undefined;
  const decoded: Buffer[] = [];
  for (const segment of segments) {
    if (!BASE64URL.test(segment)) return undefined;
    const bytes = Buffer.from(segment, 'base64url');
    // Non-canonical text (a length of 4n+1, or stray bits in the last character) would not come back the same.
    if (bytes.length > MAX_SEGMENT_BYTES || bytes.toString('base64url') !== segment) return undefined;
    decoded.push(bytes);
  }
  const packed = Buffer.allocUnsafe(1 + 2 * decoded.length + decoded.reduce((sum, bytes) => sum + bytes.length, 0));
  let at = packed.writeUInt8(decoded.length, 0);
  for (const bytes of decoded) at = packed.writeUInt16BE(bytes.length, at);
  for (const bytes of decoded) at += bytes.copy(packed, at);
  return packed;
}

/** Characters of the unpadded base64url text of `bytes` bytes. */
function textLength(bytes: number): number {
  return Math.floor(bytes / 3) * 4 + (bytes % 3 === 0 ? 0 : (bytes % 3) + 1);
}

/** Length in characters of the token packed at `memory[at]`. */
export function packedTokenLength(memory: Buffer, at: number): number {
  const count = memory[at]!;
  let length = count - 1;
  for (let i = 0; i < count; i++) length += textLength(memory.readUInt16BE(at + 1 + 2 * i));
  return length;
}

/** Writes the token packed at `memory[at]` into `out` from `outAt`, as text; returns where it ends in `out`. */
export function unpackTokenInto(memory: Buffer, at: number, out: Buffer, outAt: number): number {
  const count = memory[at]!;
  let from = at + 1 + 2 * count;
  for (let i = 0; i < count; i++) {
    const bytes = memory.readUInt16BE(at + 1 + 2 * i);
    if (i > 0) out[outAt++] = DOT;
    outAt += out.write(memory.toString('base64url', from, from + bytes), outAt, 'latin1');
    from += bytes;
  }
  return outAt;
}

/** The token packed at `memory[at]`, as a string. */
export function unpackToken(memory: Buffer, at: number): string {
  const out = Buffer.allocUnsafe(packedTokenLength(memory, at));
  unpackTokenInto(memory, at, out, 0);
  return out.toString('latin1');
}
