/** CACHE_KEYS_FILE parsing (SPEC §4b): one kid:base64(32 bytes) a line; errors name the line, never a key. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { parseCacheKeys } from '../../src/config/cache-keys.js';

const secret = randomBytes(32).toString('base64');

t.test('keys in file order, the first writing; comments and blank lines skipped', async (t) => {
  const keys = parseCacheKeys(`# rotated 2026-12\nnew:${secret}\n\nold-1:${randomBytes(32).toString('base64')}\n`);
  t.same(keys.map((key) => key.kid), ['new', 'old-1']);
  t.same(keys[0]!.secret.export(), Buffer.from(secret, 'base64'));
});

t.test('every bad file is one message naming the line, without the key', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /holds no key/],
    ['# only a comment', /holds no key/],
    [secret, /line 1: expected kid:base64/],
    [`a.b:${secret}`, /line 1: expected kid:base64/],
    [`k1:${secret}\nk1:${secret}`, /line 2: kid "k1" is listed twice/],
    ['k1:not base64!', /line 1: the key of "k1" is not base64/],
    [`k1:${randomBytes(16).toString('base64')}`, /line 1: the key of "k1" is 16 bytes, not 32/],
    [`k1:${randomBytes(33).toString('base64')}`, /is 33 bytes, not 32/],
  ];
  for (const [text, message] of cases) {
    const error = t.throws(() => parseCacheKeys(text), message, JSON.stringify(text.slice(0, 20))) as unknown as Error;
    t.notMatch(String(error?.message), secret.slice(0, 12), 'no key in the message');
  }
});
