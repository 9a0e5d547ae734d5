import t from 'tap';
import { randomBytes } from 'node:crypto';
import { packedTokenLength, packToken, unpackToken, unpackTokenInto } from '../../src/grpc/packed-token.js';

/** A compact serialisation of random segments of these byte lengths. */
const compact = (...lengths: number[]) => lengths.map((length) => randomBytes(length).toString('base64url')).join('.');

t.test('dot-joined base64url tokens are packed to about three quarters and read back exactly', async (t) => {
  const tokens = [
    compact(36, 300, 256), // a JWS: header, claims, RS256 signature
    compact(40, 256, 12, 900, 16), // a JWE's five parts
    compact(0, 10, 0), // empty segments (a detached or unsecured JWS)
    compact(1),
    compact(2),
    compact(3),
    ...Array.from({ length: 200 }, (_, i) => compact(i % 7, (i * 13) % 97, i)),
    'eyJhbGciOiJSUzI1NiJ9.e30.c2ln',
  ];
  for (const token of tokens) {
    const packed = packToken(token);
    if (!t.ok(packed, `packed: ${token.slice(0, 24)}…`)) continue;
    t.equal(unpackToken(packed!, 0), token, 'reads back as the same string');
    t.equal(packedTokenLength(packed!, 0), token.length, 'its text length is known from the packed form');
    const dots = token.split('.').length - 1;
    t.ok(packed!.length <= Math.ceil((token.length - dots) * 0.75) + 1 + 2 * (dots + 1), `about three quarters: ${packed!.length} for ${token.length}`);
  }
});

t.test('unpacking writes the text in place, at any offset, touching nothing around it', async (t) => {
  const token = compact(36, 300, 256);
  const packed = packToken(token)!;
  const memory = Buffer.concat([Buffer.from('head'), packed, Buffer.from('tail')]);
  const out = Buffer.alloc(token.length + 10, 0x7e);
  t.equal(unpackTokenInto(memory, 4, out, 5), 5 + token.length, 'returns where the text ends');
  t.equal(out.toString('latin1', 5, 5 + token.length), token);
  t.ok(out.subarray(0, 5).every((byte) => byte === 0x7e) && out.subarray(5 + token.length).every((byte) => byte === 0x7e), 'bytes around it unchanged');
});

t.test('anything that would not read back exactly is not packed', async (t) => {
  const cases: Array<[string, string]> = [
    ['AB', 'stray bits in the last character (non-canonical)'],
    ['abc.AB', 'a non-canonical segment among canonical ones'],
    ['abcde', 'a length of 4n+1'],
    ['ab+c', 'standard base64 characters'],
    ['ab/c', 'standard base64 characters'],
    ['YQ==', 'padding'],
    ['a b', 'a space'],
    ['ä', 'a non-ASCII character'],
    ['a~b', 'a b64token character outside base64url'],
    [Array.from({ length: 9 }, () => 'ab').join('.'), 'more segments than a JWE has'],
    [randomBytes(0x10000).toString('base64url'), 'a segment of more than 65,535 bytes'],
  ];
  for (const [token, why] of cases) t.equal(packToken(token), undefined, why);
});
