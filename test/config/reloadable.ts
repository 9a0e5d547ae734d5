/** ReloadableConfig: every file a load read is watched by content, including one that could not be read. */
import t from 'tap';
import { rmSync } from 'node:fs';
import { ConfigError } from '../../src/errors.js';
import { ReloadableConfig } from '../../src/config/reloadable.js';
import { tempFiles } from '../fixtures/e2e-helpers.js';

t.test('a changed, removed or restored file is noticed; an untouched one is not', async (t) => {
  const files = tempFiles(t, 'authz-reloadable-');
  const secret = files.write('secret', 'one\n');
  const source = new ReloadableConfig({ MCP_RESOURCE_URL: 'https://mcp.example.com/mcp', AUTHORIZATION_SERVER_URL: 'https://as.example.com', CLIENT_ID: 'gateway', CLIENT_SECRET_FILE: secret });
  t.equal(source.load().targets[0]?.client.secret, 'one');
  t.equal(source.changed(), false);
  files.write('secret', 'one\n');
  t.equal(source.changed(), false, 'rewritten with the same content');
  files.write('secret', 'two\n');
  t.equal(source.changed(), true);
  t.equal(source.load().targets[0]?.client.secret, 'two');
  t.equal(source.changed(), false);

  rmSync(secret);
  t.equal(source.changed(), true, 'removed');
  t.throws(() => source.load(), ConfigError);
  t.equal(source.changed(), false, 'a failed load is not retried until the file changes');
  files.write('secret', 'three\n');
  t.equal(source.changed(), true, 'restored');
  t.equal(source.load().targets[0]?.client.secret, 'three');
});
