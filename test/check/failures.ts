import t from 'tap';
import { causeName, UNEXPECTED, unexpected } from '../../src/check/failures.js';
import { AuthzError } from '../../src/errors.js';

t.test('unexpected: an internal denial that keeps the exception as its cause (SPEC §3)', async (t) => {
  const cause = new TypeError('cannot read properties of undefined');
  const denial = unexpected(cause);
  t.ok(denial instanceof AuthzError);
  t.equal(denial.code, 'internal');
  t.equal(denial.description, UNEXPECTED);
  t.equal(denial.cause, cause);
  t.equal(unexpected('a thrown string').cause, 'a thrown string', 'whatever was thrown');
});

t.test('causeName: the code or the class, never the message', async (t) => {
  const withCode = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1 Bearer secret'), { code: 'ECONNREFUSED' });
  t.equal(causeName(withCode), 'ECONNREFUSED');
  t.equal(causeName(new SyntaxError('Unexpected token s in JSON at position 0: secret')), 'SyntaxError');
  t.equal(causeName(new AuthzError('unavailable', 'down: secret')), 'unavailable', "an AuthzError's code");
  t.equal(causeName(Object.assign(new Error('x'), { code: 42 })), '42', 'a non-string code as text');
  t.equal(causeName('a string'), undefined);
  t.equal(causeName(undefined), undefined);
  t.equal(causeName({ code: 'EFAKE', name: 'NotAnError' }), undefined, 'only an Error names its cause');
});
