import { mock } from 'node:test';
import t from 'tap';
import { answerBefore, DEADLINE_PASSED } from '../../src/check/deadline.js';
import type { Decision } from '../../src/check/pipeline.js';
import { AuthzError } from '../../src/errors.js';

// The deadline timer is Node's setTimeout: each test moves Node's mock timers instead of waiting.
t.beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
t.afterEach(() => mock.timers.reset());

const refused: Decision = { allowed: false, error: new AuthzError('invalid_token', 'expired') };
const never = new Promise<Decision>(() => {});
/** Lets settled promises run their reactions. */
const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Starts `answerBefore` and records every call of `settle`. */
function watch(pending: Promise<Decision>, budgetMs: number, failed?: (error: unknown) => Decision) {
  const settled: Decision[] = [];
  answerBefore(pending, budgetMs, (decision) => settled.push(decision), failed);
  return settled;
}

t.test('a decision in time is answered once, as it is', async (t) => {
  const settled = watch(Promise.resolve(refused), 1000);
  await drain();
  t.strictSame(settled, [refused]);
  mock.timers.tick(1000);
  t.equal(settled.length, 1, 'the deadline timer was cleared');
});

t.test('still waiting just before the deadline: a 503 deadline denial, and nothing after it (SPEC §3)', async (t) => {
  let resolve!: (decision: Decision) => void;
  const settled = watch(new Promise<Decision>((r) => (resolve = r)), 1000);
  mock.timers.tick(899);
  t.equal(settled.length, 0, 'a budget of 1 s keeps a margin of 100 ms (the largest)');
  mock.timers.tick(1);
  t.equal(settled.length, 1);
  t.equal(settled[0]!.allowed, false);
  t.equal(settled[0]!.allowed === false && settled[0]!.error, DEADLINE_PASSED);
  t.equal(DEADLINE_PASSED.code, 'deadline');
  resolve(refused);
  await drain();
  t.equal(settled.length, 1, 'the late decision is not answered');
});

t.test('the margin is a fifth of the budget, at least 5 ms', async (t) => {
  for (const [budget, firesAt] of [
    [250, 200],
    [100, 80],
    [20, 15],
    [3, 0],
    [0, 0],
  ] as const) {
    const settled = watch(never, budget);
    if (firesAt > 0) {
      mock.timers.tick(firesAt - 1);
      t.equal(settled.length, 0, `budget ${budget} ms: not before ${firesAt} ms`);
    }
    mock.timers.tick(firesAt === 0 ? 0 : 1);
    t.equal(settled.length, 1, `budget ${budget} ms: at ${firesAt} ms`);
  }
});

t.test('without a finite budget it waits for the decision', async (t) => {
  let resolve!: (decision: Decision) => void;
  const settled = watch(new Promise<Decision>((r) => (resolve = r)), Infinity);
  mock.timers.tick(3_600_000);
  t.equal(settled.length, 0);
  resolve(refused);
  await drain();
  t.strictSame(settled, [refused]);
});

t.test('a rejected pipeline becomes an internal denial, by default', async (t) => {
  const thrown = new Error('boom');
  const settled = watch(Promise.reject(thrown), 1000);
  await drain();
  t.equal(settled.length, 1);
  const [decision] = settled;
  t.equal(decision!.allowed, false);
  if (decision!.allowed) return;
  t.equal(decision!.error.code, 'internal');
  t.equal(decision!.error.cause, thrown);
});

t.test('or what the transport makes of it', async (t) => {
  const thrown = new Error('boom');
  const seen: unknown[] = [];
  const settled = watch(Promise.reject(thrown), 1000, (error) => {
    seen.push(error);
    return refused;
  });
  await drain();
  t.strictSame(seen, [thrown]);
  t.strictSame(settled, [refused]);
});
