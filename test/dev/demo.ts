/** `npm run demo` works on a fresh machine: it runs the built demo (dist-dev/, `npm run build:dev`) once through (DEMO_EXIT=1). */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

t.test('the demo shows allowed and denied checks', async (t) => {
  const demo = fileURLToPath(new URL('../../dist-dev/test/fixtures/dev-tools/demo.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [demo], {
    env: { ...process.env, DEMO_EXIT: '1', GRPC_PORT: '0', HTTP_PORT: '0' },
    timeout: 60_000,
  });
  t.match(stdout, /valid token \(alice\)[^\n]*\n  ALLOWED  http 200  grpc 0/);
  t.match(stdout, /exchanged token claims: \{"sub":"alice","aud":"https:\/\/upstream\.example\.com\/api","act":\{"sub":"mcp-gateway"\}/);
  t.match(stdout, /no token\n  DENIED   http 401  grpc 16\n  www-authenticate: Bearer resource_metadata=/);
  t.match(stdout, /expired token \(bob\)\n  DENIED   http 401  grpc 16\n  www-authenticate: Bearer error="invalid_token"/);
  t.match(stdout, /required scope \(carol\)\n  DENIED   http 403  grpc 7/);
  t.match(stdout, /token endpoint calls: 1   cache hits: 1/);
  t.notMatch(stdout, /eyJ[\w-]+\.eyJ/, 'no token is printed');
});
