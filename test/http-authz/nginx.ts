/**
 * envoy/nginx/nginx.conf run by a REAL nginx (auth_request) in front of the HTTP
 * authorization endpoint, a real authorization server and an echo upstream, all on
 * 127.0.0.1. Only the addresses (and worker count) of the shipped file are
 * rewritten; every rewrite must apply, so the test notices when the file changes
 * shape. Skips when no nginx with ngx_http_auth_request_module is installed
 * (Debian: `apt-get install nginx`).
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { authorizationServer, EXCHANGE_CLIENT, RESOURCE, UPSTREAM } from '../fixtures/service.js';
import { startMisbehavingServer } from '../fixtures/misbehaving-server.js';
import { readRepoFile } from '../deploy/fixtures/repo.js';
import { bearer, send, startHttpAuthz, type Reply } from './fixtures/service.js';

const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const BILLING = 'https://billing.example.com/';

function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    const version = spawnSync(candidate, ['-V'], { encoding: 'utf8' });
    if (version.status === 0 && /--with-http_auth_request_module/.test(version.stderr + version.stdout)) return candidate;
  }
  return undefined;
}

const nginx = findNginx();
if (!nginx) {
  t.plan(0, 'nginx with ngx_http_auth_request_module is not installed (Debian: apt-get install nginx)');
  process.exit(0);
}

/** A port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The protected upstream: records what reached it. */
async function echoUpstream(t: Test): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ upstream: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, seen };
}

/** The shipped nginx.conf with this test's addresses; throws if a rewrite no longer applies. */
function rewrittenConfig(ports: { nginx: number; authz: number; ops: number; upstream: number }, scratch: string): string {
  let text = readRepoFile('envoy', 'nginx', 'nginx.conf');
  const rewrites: Array<[RegExp, string]> = [
    [/^(\s*)server token-exchange-authz:9003;/m, `$1server 127.0.0.1:${ports.authz};`],
    [/^(\s*)server token-exchange-authz:9002;/m, `$1server 127.0.0.1:${ports.ops};`],
    [/^(\s*)server echo:8080;/m, `$1server 127.0.0.1:${ports.upstream};`],
    [/^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${ports.nginx};`],
    [/^worker_processes auto;/m, 'worker_processes 1;'],
    // Scratch space for the test (the packaged defaults live under /var).
    [
      /^http \{$/m,
      ['http {', ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(scratch, kind)};`), `    access_log ${join(scratch, 'access.log')};`].join('\n'),
    ],
  ];
  for (const [pattern, replacement] of rewrites) {
    if (!pattern.test(text)) throw new Error(`test setup: envoy/nginx/nginx.conf no longer matches ${pattern}`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

async function startNginx(t: Test, ports: { authz: number; ops: number; upstream: number }): Promise<{ url: string; errorLog: () => string }> {
  const scratch = mkdtempSync(join(tmpdir(), 'nginx-authz-'));
  // Workers drop root privileges; they write temp files here.
  chmodSync(scratch, 0o777);
  for (const kind of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(scratch, kind), { mode: 0o777 });
  const port = await freePort();
  const config = join(scratch, 'nginx.conf');
  writeFileSync(config, rewrittenConfig({ ...ports, nginx: port }, scratch));
  const args = ['-p', scratch, '-c', config, '-e', join(scratch, 'error.log'), '-g', `daemon off; pid ${join(scratch, 'nginx.pid')}; error_log ${join(scratch, 'error.log')} info;`];

  const check = spawnSync(nginx!, ['-t', ...args], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`);

  const child: ChildProcess = spawn(nginx!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${existsSync(join(scratch, 'error.log')) ? readFileSync(join(scratch, 'error.log'), 'utf8') : ''}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 200) throw new Error('nginx did not start listening');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const errorLog = join(scratch, 'error.log');
  return { url: `http://127.0.0.1:${port}`, errorLog: () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '') };
}

async function setUp(t: Test, overrides: Record<string, unknown> = {}) {
  const as = await authorizationServer(t, { exchangeTargets: [UPSTREAM, BILLING] });
  const dir = mkdtempSync(join(tmpdir(), 'nginx-authz-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    stringify({
      mcp_resource_url: RESOURCE,
      authorization_server_url: as.issuer,
      client_id: EXCHANGE_CLIENT.id,
      client_secret: EXCHANGE_CLIENT.secret,
      listen_address: '127.0.0.1',
      grpc_port: 0,
      http_port: 0,
      authorization_server_timeout_ms: 1000,
      targets: [
        { name: 'mcp', exchange_resource: UPSTREAM, required_scopes: 'mcp:tools', match: { path_prefixes: ['/mcp'] } },
        { name: 'billing', exchange_resource: BILLING, match: { path_prefixes: ['/billing'] } },
      ],
      ...overrides,
    }),
  );
  const service = await startHttpAuthz(t, { CONFIG_FILE: path });
  const upstream = await echoUpstream(t);
  const { url, errorLog } = await startNginx(t, { authz: service.port, ops: service.httpPort, upstream: upstream.port });
  return { as, service, upstream, url, errorLog };
}

const audienceOf = (authorization: string | string[] | undefined) => decodeJwt(String(authorization).replace(/^Bearer /, '')).aud;
const headerLines = (reply: Reply, name: string) => reply.rawHeaders.filter(([key]) => key === name).map(([, value]) => value);

t.test('through nginx auth_request', async (t) => {
  const { as, service, upstream, url, errorLog } = await setUp(t);
  const alice = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' });
  const replies: Reply[] = [];
  const go = async (options: Parameters<typeof send>[1]) => {
    const reply = await send(url, options);
    replies.push(reply);
    return reply;
  };

  t.test('allowed: the upstream gets the exchanged token, never the inbound one; the body passes', async (t) => {
    const before = upstream.seen.length;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const reply = await go({ method: 'POST', path: '/mcp?session=1', headers: { ...bearer(alice), 'content-type': 'application/json' }, body });
    t.equal(reply.status, 200);
    t.same(JSON.parse(reply.body), { upstream: true });
    const seen = upstream.seen.slice(before);
    t.equal(seen.length, 1, 'one request reached the upstream');
    t.equal(seen[0]!.method, 'POST');
    t.equal(seen[0]!.url, '/mcp?session=1');
    t.equal(seen[0]!.body, body, 'the body went upstream (only the subrequest drops it)');
    t.equal(audienceOf(seen[0]!.headers.authorization), UPSTREAM, 'authorization = the exchanged token');
    t.not(seen[0]!.headers.authorization, `Bearer ${alice}`);
    t.equal(reply.headers.authorization, undefined, 'the exchanged token does not reach the client');
  });

  t.test('the target follows the original URI; a client cannot steer it with forwarded headers', async (t) => {
    const before = upstream.seen.length;
    await go({ path: '/billing/invoices', headers: bearer(alice) });
    await go({ path: '/mcp', headers: { ...bearer(alice), 'x-forwarded-uri': '/billing', 'x-original-uri': '/billing', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'billing.internal' } });
    const seen = upstream.seen.slice(before);
    t.equal(audienceOf(seen[0]?.headers.authorization), BILLING, '/billing → the billing target');
    t.equal(audienceOf(seen[1]?.headers.authorization), UPSTREAM, '/mcp stays /mcp whatever the client sends');
    const none = await go({ path: '/other', headers: bearer(alice) });
    t.equal(none.status, 403, 'no target for /other → 403');
  });

  t.test('no token → 401 with one resource_metadata challenge', async (t) => {
    const reply = await go({ path: '/mcp' });
    t.equal(reply.status, 401);
    t.same(headerLines(reply, 'www-authenticate'), [`Bearer resource_metadata="${METADATA}"`]);
  });

  t.test('bad token → 401 invalid_token', async (t) => {
    const reply = await go({ path: '/mcp', headers: bearer(await as.mintWithForeignKey({ sub: 'mallory' })) });
    t.equal(reply.status, 401);
    t.same(headerLines(reply, 'www-authenticate'), [`Bearer error="invalid_token", resource_metadata="${METADATA}"`]);
  });

  t.test('insufficient scope → 403 with the insufficient_scope challenge', async (t) => {
    const reply = await go({ path: '/mcp', headers: bearer(await as.mintAccessToken({ sub: 'carol', scope: 'mcp:read' })) });
    t.equal(reply.status, 403);
    t.same(headerLines(reply, 'www-authenticate'), ['Bearer error="insufficient_scope", scope="mcp:tools"']);
  });

  t.test('two credentials in one Authorization line → 400 invalid_request (nginx 500 mapped back)', async (t) => {
    const before = upstream.seen.length;
    const reply = await go({ path: '/mcp', headers: { authorization: `Bearer ${alice}, Bearer other` } });
    t.equal(reply.status, 400);
    t.same(headerLines(reply, 'www-authenticate'), [`Bearer error="invalid_request", resource_metadata="${METADATA}"`]);
    t.match(JSON.parse(reply.body), { error: 'invalid_request' });
    t.equal(upstream.seen.length, before);
  });

  t.test('two Authorization lines → 400 from nginx itself, before auth_request', async (t) => {
    const before = upstream.seen.length;
    const reply = await go({ path: '/mcp', headers: { authorization: [`Bearer ${alice}`, `Bearer ${alice}`] } });
    t.equal(reply.status, 400);
    t.match(errorLog(), /client sent duplicate header line: "authorization/i, 'nginx refuses a repeated Authorization header (and, at info level, logs it whole)');
    t.equal(upstream.seen.length, before);
  });

  t.test('RFC 9728 metadata: served by the ops port without a check', async (t) => {
    const before = upstream.seen.length;
    const reply = await go({ path: '/.well-known/oauth-protected-resource/mcp' });
    t.equal(reply.status, 200);
    t.match(JSON.parse(reply.body), { resource: RESOURCE, authorization_servers: [as.issuer] });
    t.equal(upstream.seen.length, before, 'not sent upstream');
  });

  t.test('nothing of the inbound token reached the upstream or came back to the client', async (t) => {
    const all = [alice];
    for (const seen of upstream.seen) for (const token of all) t.equal(JSON.stringify(seen).includes(token), false, `${seen.method} ${seen.url}`);
    for (const reply of replies) t.equal(reply.text.includes(alice), false);
    t.equal(service.logText().includes(alice), false);
  });
});

t.test('through nginx: the authorization server failing → 503 + Retry-After; our client rejected → 500', async (t) => {
  const fake = await startMisbehavingServer(t);
  const { as, url, upstream } = await setUp(t, { token_exchange_endpoint_url: fake.url });
  const token = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' });
  await fake.down();
  const down = await send(url, { path: '/mcp', headers: bearer(token) });
  t.equal(down.status, 503);
  t.same(headerLines(down, 'retry-after'), ['1']);
  t.match(JSON.parse(down.body), { error: 'temporarily_unavailable' });

  fake.behaviour = 'invalid_client';
  await fake.up();
  const misconfigured = await send(url, { path: '/mcp', headers: bearer(await as.mintAccessToken({ sub: 'bob', scope: 'mcp:tools' })) });
  t.equal(misconfigured.status, 500);
  t.match(JSON.parse(misconfigured.body), { error: 'server_error' });
  t.equal(upstream.seen.length, 0, 'nothing went upstream');
});

t.test('through nginx: the HTTP authorization service unreachable → 503, nothing upstream', async (t) => {
  const upstream = await echoUpstream(t);
  const as = await authorizationServer(t);
  const ops = await freePort();
  const { url } = await startNginx(t, { authz: await freePort(), ops, upstream: upstream.port });
  const reply = await send(url, { path: '/mcp', headers: bearer(await as.mintAccessToken({ sub: 'alice' })) });
  t.equal(reply.status, 503);
  t.same(headerLines(reply, 'retry-after'), ['1']);
  t.equal(upstream.seen.length, 0);
});
