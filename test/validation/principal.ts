import t from 'tap';
import { Principals } from '../../src/validation/principal.js';

t.test('principalOf: the claims as given; what many tokens repeat is held once', async (t) => {
  const principals = new Principals();
  const principalOf = principals.principalOf.bind(principals);
  const alice = principalOf('https://as.example.com', 'alice', 'app', ['read', 'write'], 100);
  const bob = principalOf('https://as.example.com', 'bob', 'app'.slice(0), ['read', 'write'].slice(), 200);
  t.strictSame({ ...alice, scopes: [...alice.scopes] }, { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: alice.subjectFingerprint, clientId: 'app', scopes: ['read', 'write'], expiresAt: 100 });
  t.equal(alice.scopes, bob.scopes, 'one scope list for both');
  t.ok(Object.isFrozen(alice.scopes), 'a shared list cannot be changed through one principal');
  t.not(alice.subjectFingerprint, bob.subjectFingerprint, 'subjects stay distinct');
  t.match(alice.subjectFingerprint, /^[A-Za-z0-9_-]{12}$/);
  const other = principalOf('https://as.example.com', undefined, undefined, [], 1);
  t.equal(other.subject, undefined);
  t.equal(other.subjectFingerprint, undefined);
  t.equal(other.clientId, undefined);
  t.strictSame([...other.scopes], []);
});

t.test('scope lists are shared only when equal element by element', async (t) => {
  const principals = new Principals();
  const principalOf = principals.principalOf.bind(principals);
  const joined = principalOf('https://as.example.com', 'a', undefined, ['read write'], 1);
  const split = principalOf('https://as.example.com', 'b', undefined, ['read', 'write'], 1);
  t.strictSame([...joined.scopes], ['read write']);
  t.strictSame([...split.scopes], ['read', 'write']);
});

t.test('each app holds its own shared claims: nothing is module state', async (t) => {
  const one = new Principals().principalOf('https://as.example.com', 'a', 'app', ['read'], 1);
  const two = new Principals().principalOf('https://as.example.com', 'a', 'app', ['read'], 1);
  t.not(one.scopes, two.scopes, 'two builders, two lists');
});
