import t from 'tap';
import type protobuf from 'protobufjs';
import { AnswerSlabs } from '../../src/grpc/answer-slabs.js';
import { EncodedAllows } from '../../src/grpc/encoded-allow.js';
import type { Principal } from '../../src/validation/principal.js';
import { officialTypes } from '../fixtures/envoy-client.js';

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
  t.equal(builder.allowEncoded(kept, alice, { ...header, remove: [...header.remove] }), before, 'an equal header: the same kept bytes, not a fresh encoding');
  const changed = builder.allowEncoded(kept, alice, { ...header, remove: [] });
  t.not(changed, before, 'a header that says something else is encoded anew');
});

const { CheckResponse } = officialTypes();
const decode = (bytes: Buffer) => CheckResponse.toObject(CheckResponse.decode(bytes) as protobuf.Message, { enums: String, longs: String, defaults: false, oneofs: true });
const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };

t.test('kept answers moved by a compaction send the same bytes, which the official schema still reads', async (t) => {
  const slabs = new AnswerSlabs(4096);
  const builder = new EncodedAllows(slabs);
  const kept = Array.from({ length: 200 }, (_, i) => builder.keepEncoded(`exchanged-${i}`, alice, { target: { header } }));
  const before = kept.map((answer) => {
    const bytes = builder.allowEncoded(answer, alice, header);
    return { view: bytes, copy: Buffer.from(bytes), decoded: decode(bytes) };
  });
  t.strictSame(before[7]!.decoded, decode(builder.allowEncoded({ value: 'exchanged-7' }, alice, header)), 'a kept answer is the answer for its token');
  // The cache lets every other answer go: half-empty slabs are compacted.
  for (const answer of kept.filter((_, i) => i % 2 === 1)) answer.release!();
  let moved = 0;
  for (const [i, answer] of kept.entries()) {
    if (i % 2 === 1) continue;
    const bytes = builder.allowEncoded(answer, alice, header);
    if (bytes !== before[i]!.view) moved++;
    t.ok(bytes.equals(before[i]!.copy), `answer ${i}: the same bytes`);
    t.strictSame(decode(bytes), before[i]!.decoded, `answer ${i}: decodes as before`);
    t.equal(answer.value, `exchanged-${i}`, `answer ${i}: the token reads back`);
  }
  t.ok(moved > 0, `${moved} kept answers were moved`);
  t.ok(before.every(({ view, copy }) => view.equals(copy)), 'no view handed out changed, moved away from or released');
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
  t.equal(builder.allowEncoded(kept, bob, header), bobBytes, 'kept: the next call for bob sends the same bytes');
  t.equal(slabs.liveBytes, bobBytes.length, 'the bytes it replaced went back to the slabs');

  kept.release!();
  t.equal(slabs.liveBytes, 0, 'released');
  const again = builder.allowEncoded(kept, alice, header);
  t.ok(again.equals(aliceBytes), 'a released answer still answers, for whichever principal');
  t.equal(slabs.liveBytes, 0, 'without taking slab bytes again');
  t.equal(builder.allowEncoded(kept, bob, header), bobBytes, 'and its last bytes are still sent as they are');
  kept.release!();
  t.equal(slabs.liveBytes, 0, 'a second release changes nothing');
});
