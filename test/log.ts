import t from 'tap';
import { createLogger } from '../src/log.js';

t.test('JSON lines with level filtering', async (t) => {
  const lines: string[] = [];
  const log = createLogger('info', (line) => void lines.push(line));
  log.debug('hidden');
  log.info('shown', { a: 1 });
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]!), { level: 'info', msg: 'shown', a: 1, time: String });
  t.ok(lines[0]!.endsWith('\n'));
});

t.test('token and secret fields are redacted at any depth', async (t) => {
  const lines: string[] = [];
  const log = createLogger('trace', (line) => void lines.push(line));
  log.info('x', { authorization: 'Bearer v4lue1', nested: { client_secret: 'v4lue2', list: [{ access_token: 'v4lue3' }] }, Subject_Token: 'v4lue4' });
  t.notMatch(lines[0]!, /v4lue/);
  t.match(lines[0]!, /\[redacted\]/);
});
