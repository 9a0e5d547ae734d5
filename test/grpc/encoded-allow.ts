import t from 'tap';
import { EncodedAllows } from '../../src/grpc/encoded-allow.js';
import type { Principal } from '../../src/validation/principal.js';

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
