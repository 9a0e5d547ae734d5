/** Problems: one line each, and which settings already have a line, kept by entry (never read back from the text). */
import t from 'tap';
import { errorCode, errorMessage, Problems } from '../../src/config/problems.js';

t.test('lines are kept in order; a setting is marked per entry', async (t) => {
  const problems = new Problems();
  problems.push('A: one', 'B: two');
  problems.markFailed('config.yaml:3: targets[0]', 'EXCHANGE_CLIENT_ID');
  t.same(problems.lines, ['A: one', 'B: two']);
  t.equal(problems.length, 2);
  t.equal(problems.failed('config.yaml:3: targets[0]', 'EXCHANGE_CLIENT_ID'), true);
  t.equal(problems.failed('config.yaml:9: targets[1]', 'EXCHANGE_CLIENT_ID'), false, 'another entry');
  t.equal(problems.failed('config.yaml:3: targets[0]', 'EXCHANGE_CLIENT_SECRET'), false, 'another setting');
  t.equal(problems.failed('', 'EXCHANGE_CLIENT_ID'), false, 'the environment is an entry of its own');
});

t.test('an error gives its code or message, never anything else', async (t) => {
  t.equal(errorCode(Object.assign(new Error('ENOENT: open /secret/path'), { code: 'ENOENT' })), 'ENOENT');
  t.equal(errorCode(new Error('no code')), 'error');
  t.equal(errorCode('thrown text'), 'error');
  t.equal(errorMessage(new Error('is outside 0..10')), 'is outside 0..10');
});
