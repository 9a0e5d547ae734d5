import { createHash } from 'node:crypto';
import t from 'tap';
import { fingerprintOf, inboundToken } from '../../src/validation/inbound-token.js';

t.test('the value, and its base64url SHA-256 computed once', async (t) => {
  const token = inboundToken('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln');
  t.equal(token.value, 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln');
  t.equal(token.hash, createHash('sha256').update(token.value).digest('base64url'));
  t.match(token.hash, /^[A-Za-z0-9_-]{43}$/);
  t.not(inboundToken('other').hash, token.hash);
  t.equal(inboundToken(token.value).hash, token.hash, 'the same value, the same hash');
});

t.test('the fingerprint: the first 12 characters of the hash, never the token (SPEC §5)', async (t) => {
  const value = 'a-token-whose-prefix-must-not-leak';
  const token = inboundToken(value);
  const fingerprint = fingerprintOf(token);
  t.equal(fingerprint, token.hash.slice(0, 12));
  t.equal(fingerprint.length, 12);
  t.notOk(value.includes(fingerprint));
});
