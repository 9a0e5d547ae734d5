import { readFileSync } from 'node:fs';
import t from 'tap';
import { batchedWriter, createLogger, loggableUrl, type LineSink } from '../src/log.js';

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

/** A sink that holds each write until the test completes it, as a slow log reader would. */
function heldSink() {
  const writes: { bytes: Buffer; done: (error: NodeJS.ErrnoException | null, written: number) => void }[] = [];
  const sink: LineSink = { write: (bytes, done) => void writes.push({ bytes, done }), writeSync: () => {} };
  return { sink, writes };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 40));

t.test('batched lines: one write at a time, off the event loop; a slow reader delays lines, never the caller', async (t) => {
  const { sink, writes } = heldSink();
  const write = batchedWriter(sink, 1024 * 1024);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) write(line); // 64 KiB: written at once
  t.equal(writes.length, 1, 'a full batch is handed to the sink');
  t.equal(writes[0]!.bytes.length, 64 * 1024);
  for (let i = 0; i < 100; i++) write(line);
  t.equal(writes.length, 1, 'nothing more is written while that write is in flight');
  writes[0]!.done(null, 64 * 1024);
  t.equal(writes.length, 2, 'the next batch follows the finished one');
  t.equal(writes[1]!.bytes.length, 100 * 1024, 'with every line that waited, in order');
});

t.test('what waits is bounded: lines past the bound are dropped, then counted in a warning line', async (t) => {
  const { sink, writes } = heldSink();
  const write = batchedWriter(sink, 10 * 1024);
  const line = `${'y'.repeat(1023)}\n`;
  write('first\n');
  await settle(); // its batch is written, and held in flight
  t.equal(writes.length, 1);
  for (let i = 0; i < 25; i++) write(line); // 10 fit, 15 are dropped
  writes[0]!.done(null, writes[0]!.bytes.length);
  await settle();
  t.equal(writes.length, 2);
  const text = writes[1]!.bytes.toString();
  t.equal(text.split('\n').filter((l) => l.startsWith('yyy')).length, 10, 'the lines within the bound');
  const warning = JSON.parse(text.split('\n').find((l) => l.startsWith('{'))!);
  t.match(warning, { level: 'warn', dropped: 15 }, 'and how many were dropped');
});

t.test('a short or refused write sends the rest first', async (t) => {
  const { sink, writes } = heldSink();
  const write = batchedWriter(sink, 1024 * 1024);
  for (let i = 0; i < 64; i++) write(`${String(i).padStart(1023, '0')}\n`);
  const whole = writes[0]!.bytes.toString();
  writes[0]!.done(null, 1000);
  await settle();
  t.equal(writes[1]!.bytes.toString(), whole.slice(1000), 'the rest of a short write');
  writes[1]!.done(Object.assign(new Error('full'), { code: 'EAGAIN' }), 0);
  await settle();
  t.equal(writes[2]!.bytes.toString(), whole.slice(1000), 'a refused write (EAGAIN) is tried again');
  writes[2]!.done(null, writes[2]!.bytes.length);
  write('after\n');
  await settle();
  t.equal(writes[3]!.bytes.toString(), 'after\n', 'then the lines that came later');
});
