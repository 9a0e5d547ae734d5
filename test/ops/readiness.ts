import t from 'tap';
import { Readiness } from '../../src/ops/readiness.js';

/** A core whose warm-up finishes when the test says so. */
function core() {
  const done: Array<() => void> = [];
  return { warmUp: (onWarm: () => void) => void done.push(onWarm), finish: () => done.splice(0).forEach((onWarm) => onWarm()), get started() { return done.length; } };
}

t.test('ready once listening and warm, until closing; healthy until closing (SPEC §5)', async (t) => {
  let warmed = 0;
  const readiness = new Readiness(() => void (warmed += 1));
  const first = core();
  readiness.warm(first);
  t.equal(first.started, 0, 'no warm-up before the listeners are bound');
  t.notOk(readiness.ready());
  t.ok(readiness.healthy());

  readiness.started(first);
  t.equal(first.started, 1);
  t.notOk(readiness.ready(), 'listening but not warm');
  first.finish();
  t.ok(readiness.ready());
  t.equal(warmed, 1);

  const next = core();
  readiness.warm(next);
  t.ok(readiness.ready(), 'a reload warming a new core does not flip readiness');
  next.finish();
  t.equal(warmed, 2, 'onWarm after each warm-up');

  readiness.closing();
  t.notOk(readiness.ready());
  t.notOk(readiness.healthy());
});
