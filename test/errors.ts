import t from 'tap';
import { AuthzError, ConfigError, GarbageAnswerError, InsufficientScopeError, RateLimitedError } from '../src/errors.js';

t.test('AuthzError: a stable code, a safe description, the cause kept', async (t) => {
  const cause = new Error('socket hang up');
  const error = new AuthzError('unavailable', 'the authorization server could not be reached', { cause });
  t.ok(error instanceof Error);
  t.equal(error.name, 'AuthzError');
  t.equal(error.code, 'unavailable');
  t.equal(error.description, 'the authorization server could not be reached');
  t.equal(error.message, error.description, 'the message is the description');
  t.equal(error.cause, cause);
  t.equal(new AuthzError('missing_token', 'no token').cause, undefined, 'no cause unless given');
});

t.test('InsufficientScopeError carries the scopes the challenge names (RFC 6750 §3)', async (t) => {
  const error = new InsufficientScopeError(['orders:read', 'orders:write']);
  t.ok(error instanceof AuthzError);
  t.equal(error.code, 'insufficient_scope');
  t.strictSame(error.requiredScopes, ['orders:read', 'orders:write']);
  t.notMatch(error.description, /orders/, 'the description does not list them');
});

t.test('GarbageAnswerError: unavailable, naming the fault', async (t) => {
  const error = new GarbageAnswerError('"access_token" is not a string');
  t.ok(error instanceof AuthzError);
  t.equal(error.code, 'unavailable');
  t.equal(error.fault, '"access_token" is not a string');
  t.equal(error.description, 'the authorization server answered garbage: "access_token" is not a string');
});

t.test('RateLimitedError: unavailable, with the wait (RFC 6585 §4)', async (t) => {
  const error = new RateLimitedError(17);
  t.ok(error instanceof AuthzError);
  t.equal(error.code, 'unavailable');
  t.equal(error.retryAfterSeconds, 17);
  t.match(error.description, /429/);
});

t.test('ConfigError: one line per problem, control characters escaped', async (t) => {
  const error = new ConfigError(['TOKEN_ENDPOINT: not a URL', 'CONFIG_FILE: "a\nb\u0000c\r" not found']);
  t.ok(error instanceof Error);
  t.equal(error.name, 'ConfigError');
  t.strictSame(error.problems, ['TOKEN_ENDPOINT: not a URL', 'CONFIG_FILE: "a\\nb\\u0000c\\r" not found']);
  t.equal(error.message, error.problems.join('\n'));
  t.equal(error.message.split('\n').length, 2, 'a newline inside a problem does not make a line');
  t.strictSame(new ConfigError([]).problems, []);
});
