/** SPEC §4b keys and sealing, with node:crypto's real primitives. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { parseCacheKeys, type CacheKey } from '../../src/config/cache-keys.js';
import { KEY_PREFIX, open, redisKeyOf, seal, type EntryName } from '../../src/exchange/sealing.js';
import { inboundToken } from '../../src/validation/inbound-token.js';

const keyLine = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;
const [current, old] = parseCacheKeys([keyLine('k2'), keyLine('k1')].join('\n')) as [CacheKey, CacheKey];
const nameOf = (token: string, identity = 'target-a', actorToken?: string): EntryName => ({ identity, inboundToken: token, tokenHash: inboundToken(token).hash, actorToken });
const alice = nameOf('eyJ.alice-inbound.sig');
const entry = { value: 'exchanged.alice.token', expiresAt: 1_900_000_000_000, lifetimeMs: 270_000 };

t.test('a sealed entry opens with the same key, Redis key and inbound token', async (t) => {
  const redisKey = redisKeyOf(current, alice);
  const value = seal(current, redisKey, alice, entry);
  t.same(open([current, old], redisKey, alice, value), { ok: true, entry });
  t.ok(value.startsWith('k2.'), 'the kid is in clear');
  t.not(seal(current, redisKey, alice, entry), value, 'a fresh IV each time');
});

t.test('Redis keys: prefixed, one per (cache key, target, token, actor), and never the token', async (t) => {
  const redisKey = redisKeyOf(current, alice);
  t.ok(redisKey.startsWith(KEY_PREFIX));
  t.equal(redisKeyOf(current, alice), redisKey, 'deterministic, so every replica finds it');
  const others = [redisKeyOf(old, alice), redisKeyOf(current, nameOf(alice.inboundToken, 'target-b')), redisKeyOf(current, nameOf('eyJ.bob.sig')), redisKeyOf(current, nameOf(alice.inboundToken, 'target-a', 'actor'))];
  t.equal(new Set([redisKey, ...others]).size, 5, 'each of key, target, token and actor changes it');
  t.notMatch(redisKey, alice.inboundToken);
  t.notMatch(redisKey, alice.tokenHash, 'not even the token hash, which a leaked token would give away');
});

t.test('an entry read from another Redis key, or opened for another token, fails to open', async (t) => {
  const redisKey = redisKeyOf(current, alice);
  const value = seal(current, redisKey, alice, entry);
  const bob = nameOf('eyJ.bob.sig');
  t.same(open([current], redisKeyOf(current, bob), bob, value), { ok: false, reason: 'unopenable' }, 'moved under bob\'s key');
  t.same(open([current], redisKey, bob, value), { ok: false, reason: 'unopenable' }, 'bob\'s token does not derive alice\'s sealing key');
  t.same(open([current, old], redisKey, alice, `k1${value.slice(2)}`), { ok: false, reason: 'unopenable' }, 'relabelled with another listed kid');
});

t.test('rotation: an older listed kid still opens; an unlisted one is unknown', async (t) => {
  const redisKey = redisKeyOf(old, alice);
  const value = seal(old, redisKey, alice, entry);
  t.same(open([current, old], redisKey, alice, value), { ok: true, entry });
  t.same(open([current], redisKey, alice, value), { ok: false, reason: 'unknown_kid' });
});

t.test('corrupted, truncated and malformed values are failures, never exceptions', async (t) => {
  const redisKey = redisKeyOf(current, alice);
  const value = seal(current, redisKey, alice, entry);
  const body = Buffer.from(value.slice(3), 'base64url');
  const flipped = Buffer.from(body);
  flipped[20]! ^= 1;
  t.same(open([current], redisKey, alice, `k2.${flipped.toString('base64url')}`), { ok: false, reason: 'unopenable' }, 'one bit flipped');
  t.same(open([current], redisKey, alice, `k2.${body.subarray(0, body.length - 1).toString('base64url')}`), { ok: false, reason: 'unopenable' }, 'last byte cut');
  t.same(open([current], redisKey, alice, value.slice(0, 20)), { ok: false, reason: 'malformed' }, 'cut short');
  for (const bad of ['', 'k2', '.abc', 'k2.***', `k2.${'A'.repeat(30_000)}`, 'k2.AAAA']) {
    t.same(open([current], redisKey, alice, bad), { ok: false, reason: 'malformed' }, JSON.stringify(bad.slice(0, 12)));
  }
});

t.test('the value holds neither token in any common encoding', async (t) => {
  const redisKey = redisKeyOf(current, alice);
  const value = seal(current, redisKey, alice, entry);
  for (const secret of [alice.inboundToken, entry.value]) {
    for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url'), Buffer.from(secret).toString('hex')]) t.notOk(value.includes(form), form);
  }
});
