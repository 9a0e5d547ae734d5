/** SPEC §2/§4b: a bad REDIS_URL or CACHE_KEYS_FILE stops start-up with one line naming the variable (exit 78), never printing a password or key. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { tempFiles } from '../fixtures/e2e-helpers.js';
import { runService } from '../fixtures/process.js';

const env = { MCP_RESOURCE_URL: 'https://mcp.example.com/mcp', AUTHORIZATION_SERVER_URL: 'http://127.0.0.1:1', CLIENT_ID: 'c', CLIENT_SECRET: 's' };
const key = randomBytes(32).toString('base64');

function problems(settings: Record<string, string>): readonly string[] {
  try {
    loadConfig({ ...env, ...settings });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

t.test('a valid set: URL, password file, timeout and keys in file order', async (t) => {
  const files = tempFiles(t, 'cache-keys-');
  const config = loadConfig({ ...env, REDIS_URL: 'rediss://cache.internal:6380/2', REDIS_PASSWORD_FILE: files.write('pw', 'hunter2\n'), REDIS_TIMEOUT_MS: '20', CACHE_KEYS_FILE: files.write('keys', `new:${key}\nold:${randomBytes(32).toString('base64')}\n`) });
  t.match(config.sharedCache, { url: 'rediss://cache.internal:6380/2', password: 'hunter2', timeoutMs: 20 });
  t.same(config.sharedCache?.keys.map((k) => k.kid), ['new', 'old']);
  t.equal(loadConfig(env).sharedCache, undefined, 'off without REDIS_URL');
});

t.test('each bad setting is one problem naming the variable; no password or key in it', async (t) => {
  const files = tempFiles(t, 'cache-keys-');
  const good = files.write('good', `k1:${key}\n`);
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['not a URL', { REDIS_URL: 'redis//:hunter2@x', CACHE_KEYS_FILE: good }, /^REDIS_URL: is not a URL/],
    ['another scheme', { REDIS_URL: 'http://:hunter2@redis:6379', CACHE_KEYS_FILE: good }, /^REDIS_URL: must use redis:\/\/ or rediss:\/\//],
    ['a path that is not a database', { REDIS_URL: 'redis://:hunter2@redis:6379/cache', CACHE_KEYS_FILE: good }, /^REDIS_URL: the path may only be a database number/],
    ['no key file', { REDIS_URL: 'redis://:hunter2@redis:6379' }, /^CACHE_KEYS_FILE: is required with REDIS_URL/],
    ['a missing key file', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: `${files.dir}/absent` }, /^CACHE_KEYS_FILE: cannot read .*absent \(ENOENT\)/],
    ['bad base64', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: files.write('b64', `k1:${key.slice(0, 20)}!!${key.slice(22)}\n`) }, /^CACHE_KEYS_FILE: .* line 1: the key of "k1" is not base64/],
    ['a wrong length', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: files.write('short', `k1:${randomBytes(24).toString('base64')}\n`) }, /^CACHE_KEYS_FILE: .* line 1: the key of "k1" is 24 bytes, not 32/],
    ['a duplicate kid', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: files.write('dup', `k1:${key}\nk1:${randomBytes(32).toString('base64')}\n`) }, /^CACHE_KEYS_FILE: .* line 2: kid "k1" is listed twice/],
    ['an empty key file', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: files.write('empty', '\n') }, /^CACHE_KEYS_FILE: .* holds no key/],
    ['keys without Redis', { CACHE_KEYS_FILE: good }, /^CACHE_KEYS_FILE: is only used with REDIS_URL/],
    ['a timeout out of range', { REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: good, REDIS_TIMEOUT_MS: '0' }, /^REDIS_TIMEOUT_MS: 0 is outside 1\.\.10000/],
  ];
  for (const [name, settings, message] of cases) {
    const found = problems(settings);
    t.equal(found.length, 1, `${name}: one problem`);
    t.match(found[0], message, name);
    t.notMatch(found.join('\n'), /hunter2/, `${name}: no password`);
    t.notMatch(found.join('\n'), key.slice(0, 16), `${name}: no key`);
  }
});

t.test('the built service stops with that one line and exit 78', async (t) => {
  const files = tempFiles(t, 'cache-keys-');
  for (const [settings, variable] of [
    [{ REDIS_URL: 'http://:hunter2@redis:6379', CACHE_KEYS_FILE: files.write('good', `k1:${key}\n`) }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://redis', CACHE_KEYS_FILE: files.write('dup', `k1:${key}\nk1:${key}\n`) }, 'CACHE_KEYS_FILE'],
  ] as const) {
    const proc = runService({ ...env, ...settings });
    const [code] = await proc.exited;
    t.equal(code, 78);
    t.match(proc.stderr(), new RegExp(`^configuration error: ${variable}: [^\\n]+\\n?$`), `one line naming ${variable}`);
    t.notMatch(proc.stderr(), /hunter2/);
    t.notMatch(proc.stderr(), key.slice(0, 16));
  }
});
