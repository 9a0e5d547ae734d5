import t from 'tap';
import { AuthzError, GarbageAnswerError, RateLimitedError } from '../../src/errors.js';
import { CircuitBreaker, isServerFault } from '../../src/exchange/breaker.js';
import { ManualClock } from '../fixtures/clock.js';

const fail = (error: unknown) => () => Promise.reject(error);

t.test('only the server\'s own faults count (SPEC §3)', async (t) => {
  t.equal(isServerFault(new AuthzError('unavailable', 'timeout')), true, 'connection failure, timeout, 5xx');
  t.equal(isServerFault(new GarbageAnswerError('not JSON')), true, 'a body that is not an OAuth answer');
  t.equal(isServerFault(new RateLimitedError(7)), false, 'a 429 about one call');
  t.equal(isServerFault(new AuthzError('exchange_refused', 'invalid_grant')), false, 'an OAuth refusal');
  t.equal(isServerFault(new AuthzError('misconfigured', 'invalid_client')), false, 'a rejected client');
  t.equal(isServerFault(new Error('bug')), false, 'not an AuthzError');
});

t.test('429s never open it; five faults do, and it probes after a while', async (t) => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker(clock.now);
  for (let i = 0; i < 20; i++) await t.rejects(breaker.run(fail(new RateLimitedError(1))), { code: 'unavailable', retryAfterSeconds: 1 });
  t.equal(breaker.open, false, 'twenty 429s in a row leave it closed');
  t.equal(await breaker.run(() => Promise.resolve('ok')), 'ok', 'a fresh exchange goes through');

  for (let i = 0; i < 5; i++) await t.rejects(breaker.run(fail(new AuthzError('unavailable', 'HTTP 502'))), { code: 'unavailable' });
  t.equal(breaker.open, true, 'five faults open it');
  let called = false;
  await t.rejects(breaker.run(async () => ((called = true), 'x')), { message: /not calling it/ });
  t.equal(called, false, 'open: no call is made');
  clock.advance(1001);
  t.equal(await breaker.run(() => Promise.resolve('probe')), 'probe', 'after the first second one probe goes through');
  t.equal(breaker.open, false, 'and its success closes it');
});

t.test('a refusal in between resets the count: the server answered', async (t) => {
  const breaker = new CircuitBreaker(new ManualClock().now);
  for (let i = 0; i < 4; i++) await t.rejects(breaker.run(fail(new AuthzError('unavailable', 'x'))));
  await t.rejects(breaker.run(fail(new AuthzError('exchange_refused', 'invalid_grant'))));
  await t.rejects(breaker.run(fail(new AuthzError('unavailable', 'x'))));
  t.equal(breaker.open, false);
});
