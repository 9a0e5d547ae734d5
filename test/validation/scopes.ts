import t from 'tap';
import { InsufficientScopeError } from '../../src/errors.js';
import type { Principal } from '../../src/validation/principal.js';
import { requireScopes, scopesOf } from '../../src/validation/scopes.js';

t.test('scopesOf: `scope` as a space-separated string (RFC 8693 §4.2, RFC 9068 §2.2.3)', async (t) => {
  t.strictSame(scopesOf({ scope: 'read write' }), ['read', 'write']);
  t.strictSame(scopesOf({ scope: ' read  write ' }), ['read', 'write'], 'empty parts are dropped');
  t.strictSame(scopesOf({ scope: '' }), []);
});

t.test('scopesOf: `scp` as an array or a string (Entra ID, Okta)', async (t) => {
  t.strictSame(scopesOf({ scp: ['read', 'write'] }), ['read', 'write']);
  t.strictSame(scopesOf({ scp: 'read write' }), ['read', 'write']);
  t.strictSame(scopesOf({ scp: ['read', 7, null, '', 'write'] }), ['read', 'write'], 'non-strings and empty strings are dropped');
});

t.test('scopesOf: both claims together, each scope once, in order of appearance', async (t) => {
  t.strictSame(scopesOf({ scope: 'read write', scp: ['write', 'admin'] }), ['read', 'write', 'admin']);
  t.strictSame(scopesOf({ scope: 'a a' }), ['a']);
});

t.test('scopesOf: anything else gives no scope', async (t) => {
  t.strictSame(scopesOf({}), []);
  t.strictSame(scopesOf({ scope: 42, scp: { read: true } }), []);
  t.strictSame(scopesOf({ scope: null, scp: undefined }), []);
});

const principal = (scopes: string[]): Principal => ({ issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes, expiresAt: 2e9 });

t.test('requireScopes: every required scope present passes', async (t) => {
  t.doesNotThrow(() => requireScopes(principal(['read', 'write']), ['write', 'read']));
  t.doesNotThrow(() => requireScopes(principal([]), []), 'nothing required');
});

t.test('requireScopes: one missing scope refuses, naming every required one (RFC 6750 §3)', async (t) => {
  try {
    requireScopes(principal(['read']), ['read', 'write']);
    t.fail('should have thrown');
  } catch (error) {
    t.ok(error instanceof InsufficientScopeError);
    t.equal((error as InsufficientScopeError).code, 'insufficient_scope');
    t.strictSame((error as InsufficientScopeError).requiredScopes, ['read', 'write']);
  }
  t.throws(() => requireScopes(principal(['read write']), ['read']), { code: 'insufficient_scope', requiredScopes: ['read'] }, 'a scope is matched whole');
});
