import t from 'tap';
import { retryAfterSeconds } from '../../src/oauth/retry-after.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');

t.test('RFC 9110 §10.2.3 retry-after, capped at 60 s (SPEC §3)', async (t) => {
  t.equal(retryAfterSeconds('7', NOW), 7, 'delay-seconds');
  t.equal(retryAfterSeconds(' 7 ', NOW), 7, 'surrounding whitespace');
  t.equal(retryAfterSeconds('120', NOW), 60, 'capped at 60');
  t.equal(retryAfterSeconds('0', NOW), 1, 'at least one second');
  t.equal(retryAfterSeconds('Sun, 06 Dec 2026 12:00:30 GMT', NOW), 30, 'an HTTP-date');
  t.equal(retryAfterSeconds('Sun, 06 Dec 2026 13:00:00 GMT', NOW), 60, 'a far HTTP-date is capped');
  t.equal(retryAfterSeconds('Sun, 06 Dec 2026 11:00:00 GMT', NOW), 1, 'a past HTTP-date');
  t.equal(retryAfterSeconds(undefined, NOW), 1, 'absent: the fallback');
  for (const hostile of ['-5', '7.5', '1e3', '7\r\nx-injected: 1', 'soon', '99999999999999999999']) {
    t.equal(retryAfterSeconds(hostile, NOW, 2), 2, `${JSON.stringify(hostile)} is not copied: the fallback`);
  }
});
