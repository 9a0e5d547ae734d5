/**
 * Every SPEC §3 row through the HTTP authorization endpoint, over real HTTP:
 * client → HttpAuthzServer on 127.0.0.1:0 → the app's own pipeline → a real
 * authorization server (oidc-provider). The token endpoint is the misbehaving fake
 * only where a fault is needed.
 */
import t, { type Test } from 'tap';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { authorizationServer, EXCHANGE_CLIENT, serviceEnv, UPSTREAM } from '../fixtures/service.js';
import { startMisbehavingServer } from '../fixtures/misbehaving-server.js';
import { bearer, send, startHttpAuthz, type Reply } from './fixtures/service.js';

const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

/** Neither the token nor any recognisable part of it comes back. */
function notEchoed(t: Test, reply: Reply, token: string, what: string): void {
  t.equal(reply.text.includes(token), false, `${what}: the inbound token is not in the response`);
  t.equal(reply.text.includes(token.split('.')[2] ?? token), false, `${what}: nor its signature`);
}

t.test('SPEC §3 rows over HTTP', async (t) => {
  const as = await authorizationServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as, { REQUIRED_SCOPES: 'mcp:tools' }));
  const alice = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools mcp:read', client_id: 'claude-desktop' });

  t.test('allowed → 200, empty body, authorization = the exchanged token', async (t) => {
    const reply = await send(service.url, { method: 'POST', path: '/mcp', headers: { ...bearer(alice), host: 'mcp.example.com' } });
    t.equal(reply.status, 200);
    t.equal(reply.body, '');
    t.equal(reply.headers['cache-control'], 'no-store');
    t.equal(reply.headers['x-envoy-auth-headers-to-remove'], undefined, 'nothing to remove: the header is overwritten');
    t.equal(reply.rawHeaders.filter(([name]) => name === 'authorization').length, 1, 'one authorization header');
    const exchanged = reply.headers.authorization!.replace(/^Bearer /, '');
    t.not(exchanged, alice);
    const { payload } = await jwtVerify(exchanged, createRemoteJWKSet(new URL(as.jwksUri)), { issuer: as.issuer, audience: UPSTREAM });
    t.equal(payload.sub, 'alice');
    t.same(payload.act, { sub: EXCHANGE_CLIENT.id }, 'RFC 8693 act names the service');
    notEchoed(t, reply, alice, 'allowed');
    t.equal(as.exchanges.at(-1)?.params.subject_token, alice, 'the inbound token went to the token endpoint');
  });

  t.test('every method and path is an authorization request; HEAD gets no body', async (t) => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const reply = await send(service.url, { method, path: `/any/${method.toLowerCase()}?q=1`, headers: bearer(alice) });
      t.equal(reply.status, 200, method);
    }
    const head = await send(service.url, { method: 'HEAD', path: '/x', headers: {} });
    t.equal(head.status, 401);
    t.equal(head.body, '');
    t.match(head.headers['www-authenticate'], /^Bearer resource_metadata=/);
  });

  t.test('no authorization header → 401, bare challenge', async (t) => {
    const reply = await send(service.url, { path: '/mcp', headers: { 'x-other': 'y' } });
    t.equal(reply.status, 401);
    t.equal(reply.headers['www-authenticate'], `Bearer resource_metadata="${METADATA}"`);
    t.equal(reply.headers['content-type'], 'application/json');
    t.match(JSON.parse(reply.body), { error: 'missing_token', error_description: String });
  });

  t.test('not Bearer → 401, bare challenge', async (t) => {
    const reply = await send(service.url, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    t.equal(reply.status, 401);
    t.equal(reply.headers['www-authenticate'], `Bearer resource_metadata="${METADATA}"`);
  });

  for (const [name, authorization] of [
    ['two authorization header lines', [`Bearer ${alice}`, `Bearer ${alice}`]],
    ['a bearer and a basic line', [`Bearer ${alice}`, 'Basic dXNlcjpwYXNz']],
    ['one comma-joined value', `Bearer ${alice}, Bearer other`],
  ] as const) {
    t.test(`two credentials, ${name} → 400 invalid_request`, async (t) => {
      const reply = await send(service.url, { headers: { authorization: authorization as string | string[] } });
      t.equal(reply.status, 400);
      t.equal(reply.headers['www-authenticate'], `Bearer error="invalid_request", resource_metadata="${METADATA}"`);
      t.match(JSON.parse(reply.body), { error: 'invalid_request' });
      notEchoed(t, reply, alice, name);
    });
  }

  t.test('bad tokens → 401 invalid_token', async (t) => {
    const cases: Array<[string, string]> = [
      ['malformed', 'not a token'.replace(/ /g, '~!')],
      ['not a JWT', 'abc.def'],
      ['unknown key', await as.mintWithForeignKey({ sub: 'mallory' })],
      ['expired', await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 })],
      ['wrong audience', await as.mintAccessToken({ sub: 'alice', aud: 'https://elsewhere.example.com/' })],
      ['longer than MAX_TOKEN_BYTES (20 KiB, below the 32 KiB header limit)', 'a'.repeat(20 * 1024)],
    ];
    for (const [name, token] of cases) {
      const reply = await send(service.url, { headers: bearer(token) });
      t.equal(reply.status, 401, name);
      t.equal(reply.headers['www-authenticate'], `Bearer error="invalid_token", resource_metadata="${METADATA}"`, `${name}: challenge`);
      t.match(JSON.parse(reply.body), { error: 'invalid_token' }, `${name}: body`);
      notEchoed(t, reply, token, name);
    }
  });

  t.test('a request head over 32 KiB → 431 from Node, before the pipeline', async (t) => {
    const reply = await send(service.url, { headers: bearer('a'.repeat(40 * 1024)) });
    t.equal(reply.status, 431);
    t.notMatch(reply.text, /aaaaaaaa/);
  });

  t.test('lacks a required scope → 403 insufficient_scope naming the scopes', async (t) => {
    const token = await as.mintAccessToken({ sub: 'carol', scope: 'mcp:read' });
    const reply = await send(service.url, { headers: bearer(token) });
    t.equal(reply.status, 403);
    t.equal(reply.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="mcp:tools"');
    t.match(JSON.parse(reply.body), { error: 'insufficient_scope' });
    notEchoed(t, reply, token, 'insufficient_scope');
  });

  t.test('the authorization server refuses the subject → 403 access_denied, no challenge', async (t) => {
    const token = await as.mintAccessToken({ sub: 'blocked-user', scope: 'mcp:tools' });
    const reply = await send(service.url, { headers: bearer(token) });
    t.equal(reply.status, 403);
    t.equal(reply.headers['www-authenticate'], undefined);
    t.match(JSON.parse(reply.body), { error: 'access_denied' });
  });

  t.test('an RFC 9728 metadata request is never answered 2xx here (2xx means "allow" to every proxy)', async (t) => {
    for (const headers of [{}, bearer(alice)]) {
      const reply = await send(service.url, { path: '/.well-known/oauth-protected-resource/mcp', headers });
      t.ok(reply.status >= 400, `${reply.status} (token: ${'authorization' in headers})`);
      t.equal(reply.headers.authorization, undefined);
      notEchoed(t, reply, alice, 'metadata path');
    }
  });

  t.test('decisions were reported once per request; the logs never name a token', async (t) => {
    const checkLines = service.logs().filter((line) => line.msg === 'check').length;
    t.ok(checkLines >= 15, `${checkLines} decision lines logged`);
    t.ok((await service.metrics.value('authz_checks_total', { outcome: 'allowed' })) >= 6, 'allowed checks counted in the shared metrics');
    t.equal(service.logText().includes(alice), false);
    t.equal(service.logText().includes('eyJ'), false, 'no JWT in the logs');
  });
});

t.test('the authorization server rejects our client → 500 server_error', async (t) => {
  const as = await authorizationServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as, { CLIENT_SECRET: 'wrong-secret' }));
  const reply = await send(service.url, { headers: bearer(await as.mintAccessToken({ sub: 'alice' })) });
  t.equal(reply.status, 500);
  t.match(JSON.parse(reply.body), { error: 'server_error' });
  t.equal(reply.headers['retry-after'], undefined);
});

t.test('the token endpoint is down → 503 + retry-after, then recovers', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '500' }));
  const token = await as.mintAccessToken({ sub: 'alice' });
  await fake.down();
  const down = await send(service.url, { headers: bearer(token) });
  t.equal(down.status, 503);
  t.equal(down.headers['retry-after'], '1');
  t.match(JSON.parse(down.body), { error: 'temporarily_unavailable' });
  notEchoed(t, down, token, 'down');

  fake.behaviour = 'http-500';
  await fake.up();
  const failing = await send(service.url, { headers: bearer(token) });
  t.equal(failing.status, 503, 'a 5xx from the token endpoint → 503');

  fake.behaviour = 'ok';
  const healed = await send(service.url, { headers: bearer(token) });
  t.equal(healed.status, 200);
  t.match(healed.headers.authorization, /^Bearer exchanged-\d+$/);
});

t.test('the whole authorization server is down → 503 + retry-after', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  // Keys never load (JWKS unreachable): the check cannot validate anything.
  await fake.down();
  const service = await startHttpAuthz(t, serviceEnv(as, { JWKS_URI: fake.url.replace('/token', '/jwks'), TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '500' }), {
    waitReady: false,
  });
  const reply = await send(service.url, { headers: bearer(await as.mintAccessToken({ sub: 'alice' })) });
  t.equal(reply.status, 503);
  t.equal(reply.headers['retry-after'], '1');
});
