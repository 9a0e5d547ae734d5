import t from 'tap';
import { cacheLifetimeMs } from '../../src/exchange/cache.js';
import type { Principal } from '../../src/validation/principal.js';

const NOW = 1_800_000_000_000;
const principal = (expiresInSeconds: number): Principal => ({ issuer: 'i', subject: 's', subjectFingerprint: undefined, clientId: undefined, scopes: [], expiresAt: NOW / 1000 + expiresInSeconds });

t.test('SPEC §4 lifetime', async (t) => {
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: 300 }, principal(3600), 60, NOW), 270_000, '300 s less 30 s');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: 100 }, principal(3600), 60, NOW), 90_000, '100 s less 10 %');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: undefined }, principal(3600), 60, NOW), 60_000, 'fallback');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: 3600 }, principal(120), 60, NOW), 120_000, 'capped by inbound exp');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: undefined }, principal(-5), 60, NOW), -5_000, 'past exp: do not cache');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: 0 }, principal(3600), 60, NOW), 0, 'expires_in 0: do not cache');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: -5 }, principal(3600), 60, NOW), 0, 'expires_in below zero: do not cache (SPEC §3), never the fallback');
  t.equal(cacheLifetimeMs({ accessToken: 'x', expiresIn: -0.5 }, principal(3600), 60, NOW), 0, 'a fraction below zero too');
});
