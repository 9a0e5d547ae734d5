import t from 'tap';
import type protobuf from 'protobufjs';
import { AnswerSlabs, type SlabOwner } from '../../src/grpc/answer-slabs.js';
import type { ExchangedToken } from '../../src/exchange/cache.js';
import { EncodedAllows } from '../../src/grpc/encoded-allow.js';
import type { Principal } from '../../src/validation/principal.js';
import { officialTypes } from '../fixtures/envoy-client.js';

/** Two views of the same bytes in memory (the kept answer is read as a fresh view each time). */
const samePlace = (a: Buffer, b: Buffer) => a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;

const alice: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: ['read'], expiresAt: 2e9 };

t.test('the cache never keeps a token that is not a b64token', async (t) => {
  const builder = new EncodedAllows();
  const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };
  for (const hostile of ['a\r\nx-injected: 1', 'a b', 'a,b', '', 'ä', 'a\u2028b', '\u0000']) {
    t.throws(() => builder.keepEncoded(hostile, alice, { target: { header } }), { code: 'unavailable' }, 'the cache never keeps it');
  }
});

t.test('kept bytes survive a reload that rebuilds an equal target header', async (t) => {
  const builder = new EncodedAllows();
  const header = { name: 'authorization', prefix: 'Bearer ', remove: ['x-actor-token'] };
  const kept = builder.keepEncoded('exchanged', alice, { target: { header } });
  const before = builder.allowEncoded(kept, alice, header);
  t.ok(samePlace(builder.allowEncoded(kept, alice, { ...header, remove: [...header.remove] }), before), 'an equal header: the same kept bytes, not a fresh encoding');
  const changed = builder.allowEncoded(kept, alice, { ...header, remove: [] });
  t.notOk(samePlace(changed, before), 'a header that says something else is encoded anew');
  t.notOk(changed.equals(before), 'and says so in its bytes');
});

const { CheckResponse } = officialTypes();
const decode = (bytes: Buffer) => CheckResponse.toObject(CheckResponse.decode(bytes) as protobuf.Message, { enums: String, longs: String, defaults: false, oneofs: true });
const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };

/** Where a kept answer's bytes are in the slabs (the kept answers are the slabs' owners). */
const placeOf = (answer: ExchangedToken) => {
  const owner = answer as unknown as SlabOwner;
  return `${owner.start}@${owner.memory.byteOffset}:${owner.memory.length}`;
};

/** A JWT-shaped token (kept packed) for even `i`, an opaque one (kept as text: `~` is not base64url) for odd. */
const tokenFor = (i: number) => (i % 2 === 0 ? `eyJhbGciOiJub25lIn0.eyJpIjo${i}fQ.c2lnLTEyMzQ` : `opaque~${i}`);

t.test('kept answers moved by a compaction send the same bytes, which the official schema still reads', async (t) => {
  const slabs = new AnswerSlabs(4096);
  const builder = new EncodedAllows(slabs);
  const kept = Array.from({ length: 200 }, (_, i) => builder.keepEncoded(tokenFor(i), alice, { target: { header } }));
  const before = kept.map((answer) => {
    const bytes = builder.allowEncoded(answer, alice, header);
    return { view: bytes, copy: Buffer.from(bytes), decoded: decode(bytes), place: placeOf(answer), memory: (answer as unknown as SlabOwner).memory };
  });
  for (const i of [6, 7]) t.strictSame(before[i]!.decoded, decode(builder.allowEncoded({ value: tokenFor(i) }, alice, header)), `a kept answer is the answer for its token (${i % 2 === 0 ? 'packed' : 'as text'})`);
  // The cache lets three answers in four go: half-empty slabs are compacted.
  for (const answer of kept.filter((_, i) => i % 4 >= 1)) answer.release!();
  let moved = 0;
  for (const [i, answer] of kept.entries()) {
    if (i % 4 >= 1) continue;
    const bytes = builder.allowEncoded(answer, alice, header);
    if (placeOf(answer) !== before[i]!.place || (answer as unknown as SlabOwner).memory !== before[i]!.memory) moved++;
    t.ok(bytes.equals(before[i]!.copy), `answer ${i}: the same bytes`);
    t.strictSame(decode(bytes), before[i]!.decoded, `answer ${i}: decodes as before`);
    t.equal(answer.value, tokenFor(i), `answer ${i}: the token reads back`);
  }
  t.ok(moved > 0, `${moved} kept answers were moved`);
  t.ok(before.every(({ view, copy }) => view.equals(copy)), 'no view handed out changed, moved away from or released');
});

t.test('a JWT is kept packed: fewer slab bytes, the same answer; an opaque token is kept as text and sent as kept', async (t) => {
  const slabs = new AnswerSlabs(4096);
  const builder = new EncodedAllows(slabs);
  const jwt = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'alice', aud: 'upstream' })).toString('base64url')}.${Buffer.alloc(256, 7).toString('base64url')}`;
  const packed = builder.keepEncoded(jwt, alice, { target: { header } });
  const fresh = builder.allowEncoded({ value: jwt }, alice, header);
  const sent = builder.allowEncoded(packed, alice, header);
  t.ok(sent.equals(fresh), 'byte for byte the answer encoded from the token');
  t.ok(slabs.liveBytes <= fresh.length - Math.floor(jwt.length / 4) + 10, `kept in ${slabs.liveBytes} slab bytes for a ${fresh.length}-byte answer`);
  t.equal(packed.value, jwt, 'the token reads back');
  t.notOk(samePlace(builder.allowEncoded(packed, alice, header), sent), 'each hit gets its own copy (the kept bytes are packed)');

  const live = slabs.liveBytes;
  const opaque = builder.keepEncoded('opaque~token', alice, { target: { header } });
  const first = builder.allowEncoded(opaque, alice, header);
  t.equal(slabs.liveBytes - live, first.length, 'an opaque token: the answer itself is kept');
  t.ok(samePlace(builder.allowEncoded(opaque, alice, header), first), 'and sent as kept');
});

t.test('a new principal re-encodes a held answer in the slabs, and a released one only for that call', async (t) => {
  const slabs = new AnswerSlabs(4096);
  const builder = new EncodedAllows(slabs);
  const bob: Principal = { ...alice, subject: 'bob', scopes: ['read', 'write'] };
  const kept = builder.keepEncoded('exchanged', alice, { target: { header } });
  const aliceBytes = Buffer.from(builder.allowEncoded(kept, alice, header));
  t.equal(slabs.liveBytes, aliceBytes.length, 'the kept answer is in the slabs');

  const bobBytes = builder.allowEncoded(kept, bob, header);
  t.strictSame(decode(bobBytes), decode(builder.allowEncoded({ value: 'exchanged' }, bob, header)), 'bob’s metadata');
  t.ok(samePlace(builder.allowEncoded(kept, bob, header), bobBytes), 'kept: the next call for bob sends the same bytes');
  t.equal(slabs.liveBytes, bobBytes.length, 'the bytes it replaced went back to the slabs');

  kept.release!();
  t.equal(slabs.liveBytes, 0, 'released');
  const again = builder.allowEncoded(kept, alice, header);
  t.ok(again.equals(aliceBytes), 'a released answer still answers, for whichever principal');
  t.equal(slabs.liveBytes, 0, 'without taking slab bytes again');
  t.ok(samePlace(builder.allowEncoded(kept, bob, header), bobBytes), 'and its last bytes are still sent as they are');
  kept.release!();
  t.equal(slabs.liveBytes, 0, 'a second release changes nothing');
});
