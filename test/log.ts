import { readFileSync } from 'node:fs';
import t from 'tap';
import { createLogger, loggableUrl } from '../src/log.js';

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

t.test('service and version on every line, the per-check line included', async (t) => {
  const { SERVICE_NAME, VERSION } = await import('../src/build-info.js');
  const lines: string[] = [];
  const log = createLogger('info', (line) => void lines.push(line));
  log.info('plain', { a: 1 });
  log.preformatted('info', 'check', '"outcome":"allowed"');
  log.preformatted('warn', 'empty', '');
  for (const line of lines) t.match(JSON.parse(line), { service: SERVICE_NAME, version: VERSION });
  t.match(JSON.parse(lines[1]!), { msg: 'check', outcome: 'allowed' });
  t.equal(VERSION, JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version, 'the version is package.json\'s');

  const other: string[] = [];
  createLogger('info', (line) => void other.push(line), { service: 'svc "x"', version: '1' }).preformatted('info', 'check', '');
  t.match(JSON.parse(other[0]!), { service: 'svc "x"', version: '1' }, 'the identity is JSON-escaped once');
});

t.test('a URL in a log line keeps scheme, host, port and path only', async (t) => {
  t.equal(loggableUrl('https://user:pa55@as.example.com:8443/realms/x/jwks?sig=s3cret#frag'), 'https://as.example.com:8443/realms/x/jwks');
  t.equal(loggableUrl('http://127.0.0.1:9/'), 'http://127.0.0.1:9/');
  t.equal(loggableUrl('not a url'), '[not a URL]');
});
