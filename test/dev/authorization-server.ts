// Exercises the local authorization server over real HTTP on 127.0.0.1.
import t from 'tap';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import {
  ACCESS_TOKEN_TYPE,
  startAuthorizationServer,
  TOKEN_EXCHANGE_GRANT,
  type AuthorizationServer,
  type AuthorizationServerOptions,
} from '../fixtures/authorization-server/index.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const UPSTREAM = 'https://upstream.example.com';
const OTHER_UPSTREAM = 'https://other.example.com';
const BASIC_CLIENT = { id: 'gateway', secret: 'gateway-secret' };
const POST_CLIENT = { id: 'gateway-post', secret: 'gateway-post-secret', authMethod: 'client_secret_post' as const };

// The server must not print anything: record console output for the whole file (checked last).
const printed: unknown[][] = [];
const originalConsole = { ...console };
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  console[method] = (...args: unknown[]) => void printed.push(args);
}
t.teardown(() => void Object.assign(console, originalConsole));

async function start(overrides: Partial<AuthorizationServerOptions> = {}): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer({
    port: 0,
    resource: RESOURCE,
    exchangeClients: [BASIC_CLIENT, POST_CLIENT],
    exchangeTargets: [UPSTREAM, OTHER_UPSTREAM],
    ...overrides,
  });
  t.teardown(() => as.close());
  return as;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

interface ExchangeResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POST a token-exchange request; `params` are extra form fields (repeatable as [name, value] pairs). */
async function exchange(
  as: AuthorizationServer,
  subjectToken: string | undefined,
  params: [string, string][] = [['audience', UPSTREAM]],
  client: { id: string; secret: string; authMethod?: string } = BASIC_CLIENT,
): Promise<ExchangeResult> {
  const form = new URLSearchParams([['grant_type', TOKEN_EXCHANGE_GRANT], ...params]);
  if (subjectToken !== undefined) {
    form.set('subject_token', subjectToken);
    if (!form.has('subject_token_type')) form.set('subject_token_type', ACCESS_TOKEN_TYPE);
  }
  const headers: Record<string, string> = {};
  if (client.authMethod === 'client_secret_post') {
    form.set('client_id', client.id);
    form.set('client_secret', client.secret);
  } else {
    headers.authorization = basic(client.id, client.secret);
  }
  const response = await fetch(as.tokenEndpoint, { method: 'POST', headers, body: form });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

async function publishedKids(as: AuthorizationServer): Promise<string[]> {
  const jwks = (await (await fetch(as.jwksUri)).json()) as { keys: JWK[] };
  return jwks.keys.map((key) => key.kid!);
}

const starting = start();
// Emitted while oidc-provider loads (its own notices are muted then): must still come through.
console.warn('not from oidc-provider');
const as = await starting;
const jwks = createRemoteJWKSet(new URL(as.jwksUri));

t.test('discovery lists the endpoints and the token-exchange grant', async (t) => {
  t.match(as.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  const response = await fetch(`${as.issuer}/.well-known/openid-configuration`);
  t.equal(response.status, 200);
  const metadata = (await response.json()) as Record<string, unknown>;
  t.equal(metadata.issuer, as.issuer);
  t.equal(metadata.token_endpoint, as.tokenEndpoint);
  t.equal(metadata.jwks_uri, as.jwksUri);
  t.equal(metadata.introspection_endpoint, as.introspectionEndpoint);
  t.ok((metadata.grant_types_supported as string[]).includes(TOKEN_EXCHANGE_GRANT));
  t.ok((metadata.grant_types_supported as string[]).includes('client_credentials'));
});

t.test('client_credentials with resource yields an RFC 9068 JWT for the resource', async (t) => {
  const token = await as.clientCredentialsToken();
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: as.issuer, audience: RESOURCE });
  t.equal(protectedHeader.typ, 'at+jwt');
  t.equal(protectedHeader.alg, 'RS256');
  const claims = decodeJwt(token);
  t.same(claims, payload);
  t.equal(claims.aud, RESOURCE);
  t.equal(claims.client_id, 'demo-app');
  t.equal(claims.scope, 'mcp:tools');
  t.equal(claims.exp! - claims.iat!, 600);

  const both = decodeJwt(await as.clientCredentialsToken('mcp:tools mcp:read'));
  t.equal(both.scope, 'mcp:tools mcp:read');
});

t.test('client_credentials errors', async (t) => {
  // 'offline_access' is a known scope that the demo-app client is not allowed.
  await t.rejects(as.clientCredentialsToken('offline_access'), /client_credentials grant failed: 400 .*invalid_scope/);

  // RFC 8707 §2: a resource the server does not know → invalid_target.
  const response = await fetch(as.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basic('demo-app', 'demo-app-secret') },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://evil.example.com' }),
  });
  t.equal(response.status, 400);
  t.match(await response.json(), { error: 'invalid_target' });
});

t.test('cross-origin (browser) token requests are refused', async (t) => {
  const response = await fetch(as.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basic('demo-app', 'demo-app-secret'), origin: 'https://app.example.com' },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  t.equal(response.status, 400);
  t.equal(response.headers.get('access-control-allow-origin'), null);
  t.match(await response.json(), { error: 'invalid_request' });
});

t.test('errors are JSON even when the client asks for HTML', async (t) => {
  const response = await fetch(as.tokenEndpoint, { method: 'POST', headers: { accept: 'text/html' } });
  t.equal(response.status, 400);
  t.match(await response.json(), { error: 'invalid_request' });
});

t.test('introspection works for opaque tokens (oidc-provider refuses to introspect JWTs)', async (t) => {
  const authorization = basic('demo-app', 'demo-app-secret');
  // Without a resource indicator the client_credentials token is opaque.
  const issued = (await (
    await fetch(as.tokenEndpoint, { method: 'POST', headers: { authorization }, body: new URLSearchParams({ grant_type: 'client_credentials' }) })
  ).json()) as { access_token: string };
  const response = await fetch(as.introspectionEndpoint, {
    method: 'POST',
    headers: { authorization },
    body: new URLSearchParams({ token: issued.access_token }),
  });
  t.equal(response.status, 200);
  t.match(await response.json(), { active: true, client_id: 'demo-app' });
});

t.test('mintAccessToken signs with the published key; claims can be overridden or removed', async (t) => {
  const token = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:read', client_id: undefined }, { cty: 'x' });
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: as.issuer, audience: RESOURCE });
  t.match(protectedHeader, { alg: 'RS256', typ: 'at+jwt', cty: 'x' });
  t.ok((await publishedKids(as)).includes(protectedHeader.kid!));
  t.equal(payload.sub, 'alice');
  t.equal(payload.scope, 'mcp:read');
  t.notOk('client_id' in payload);
  t.equal(payload.exp! - payload.iat!, 600);
  t.type(payload.jti, 'string');

  const defaults = decodeJwt(await as.mintAccessToken({}));
  t.equal(defaults.client_id, 'demo-app');
  t.equal(defaults.scope, 'mcp:tools');
});

t.test('mintWithForeignKey signs with an unpublished key', async (t) => {
  const token = await as.mintWithForeignKey({ sub: 'alice' });
  t.equal(decodeProtectedHeader(token).kid, 'unknown-key');
  t.notOk((await publishedKids(as)).includes('unknown-key'));
  await t.rejects(jwtVerify(token, jwks));
});

t.test('token exchange with client_secret_basic (RFC 8693 §2.2.1)', async (t) => {
  const before = as.exchanges.length;
  const subjectToken = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools mcp:read' });
  const { status, headers, body } = await exchange(as, subjectToken);
  t.equal(status, 200);
  t.equal(headers.get('cache-control'), 'no-store');
  t.match(body, { issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: 300, scope: 'mcp:tools mcp:read' });

  const { payload, protectedHeader } = await jwtVerify(body.access_token as string, jwks, { issuer: as.issuer, audience: UPSTREAM });
  t.equal(protectedHeader.typ, 'at+jwt');
  t.equal(payload.sub, 'alice');
  t.equal(payload.aud, UPSTREAM);
  t.equal(payload.client_id, BASIC_CLIENT.id);
  t.same(payload.act, { sub: BASIC_CLIENT.id });
  t.equal(payload.scope, 'mcp:tools mcp:read');
  t.equal(payload.exp! - payload.iat!, 300);

  t.equal(as.exchanges.length, before + 1);
  t.same(as.exchanges.at(-1), {
    clientId: BASIC_CLIENT.id,
    params: {
      grant_type: TOKEN_EXCHANGE_GRANT,
      audience: UPSTREAM,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
    },
  });
});

t.test('token exchange with client_secret_post, several targets and a scope', async (t) => {
  const subjectToken = await as.mintAccessToken({ sub: 'bob' });
  const { status, body } = await exchange(
    as,
    subjectToken,
    [
      ['audience', UPSTREAM],
      ['audience', OTHER_UPSTREAM],
      ['resource', UPSTREAM],
      ['scope', 'mcp:read'],
    ],
    POST_CLIENT,
  );
  t.equal(status, 200);
  t.equal(body.scope, 'mcp:read');
  const payload = decodeJwt(body.access_token as string);
  t.equal(payload.sub, 'bob');
  t.same(payload.aud, [UPSTREAM, OTHER_UPSTREAM]);
  t.equal(payload.client_id, POST_CLIENT.id);
  t.same(payload.act, { sub: POST_CLIENT.id });
  t.equal(payload.scope, 'mcp:read');

  const record = as.exchanges.at(-1)!;
  t.equal(record.clientId, POST_CLIENT.id);
  t.same(record.params.audience, [UPSTREAM, OTHER_UPSTREAM]);
  t.equal(record.params.resource, UPSTREAM);
  t.equal(record.params.subject_token, subjectToken);
});

t.test('wrong client secret → 401 invalid_client, never reaching the grant handler', async (t) => {
  const before = as.exchanges.length;
  const subjectToken = await as.mintAccessToken({ sub: 'alice' });
  for (const client of [{ ...BASIC_CLIENT, secret: 'wrong' }, { ...POST_CLIENT, secret: 'wrong' }]) {
    const { status, body } = await exchange(as, subjectToken, undefined, client);
    t.equal(status, 401);
    t.equal(body.error, 'invalid_client');
  }
  t.equal(as.exchanges.length, before);
});

t.test('missing or unsupported subject token → 400 invalid_request', async (t) => {
  const missing = await exchange(as, undefined);
  t.equal(missing.status, 400);
  t.equal(missing.body.error, 'invalid_request');

  const subjectToken = await as.mintAccessToken({ sub: 'alice' });
  const idToken = await exchange(as, subjectToken, [
    ['audience', UPSTREAM],
    ['subject_token_type', 'urn:ietf:params:oauth:token-type:id_token'],
  ]);
  t.equal(idToken.status, 400);
  t.equal(idToken.body.error, 'invalid_request');
});

t.test('invalid subject token → 400 invalid_grant', async (t) => {
  const serverKid = decodeProtectedHeader(await as.mintAccessToken({})).kid!;
  const badTokens = {
    'not a JWT': 'garbage',
    'unknown kid': await as.mintWithForeignKey({ sub: 'alice' }),
    'bad signature': await as.mintWithForeignKey({ sub: 'alice' }, { kid: serverKid }),
    expired: await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 1 }),
    'other issuer': await as.mintAccessToken({ sub: 'alice', iss: 'https://evil.example.com' }),
  };
  for (const [name, token] of Object.entries(badTokens)) {
    const { status, body } = await exchange(as, token);
    t.equal(status, 400, name);
    t.equal(body.error, 'invalid_grant', name);
  }
});

t.test('target not allowed or missing → 400 invalid_target', async (t) => {
  const subjectToken = await as.mintAccessToken({ sub: 'alice' });
  const cases: Record<string, [string, string][]> = {
    'unknown audience': [['audience', 'https://evil.example.com']],
    'unknown resource among allowed audiences': [
      ['audience', UPSTREAM],
      ['resource', 'https://evil.example.com'],
    ],
    'no target': [],
  };
  for (const [name, params] of Object.entries(cases)) {
    const { status, body } = await exchange(as, subjectToken, params);
    t.equal(status, 400, name);
    t.equal(body.error, 'invalid_target', name);
  }
});

t.test('without scope in the request or the subject token, the issued token has none', async (t) => {
  const { status, body } = await exchange(as, await as.mintAccessToken({ sub: 'alice', scope: undefined }));
  t.equal(status, 200);
  t.notOk('scope' in body);
  t.notOk('scope' in decodeJwt(body.access_token as string));
});

t.test("subject 'blocked-user' → access_denied", async (t) => {
  const { status, body } = await exchange(as, await as.mintAccessToken({ sub: 'blocked-user' }));
  t.equal(status, 400);
  t.equal(body.error, 'access_denied');
});

t.test('exchangeDelayMs delays the answer', async (t) => {
  const subjectToken = await as.mintAccessToken({ sub: 'alice' });
  as.exchangeDelayMs = 300;
  t.teardown(() => void (as.exchangeDelayMs = 0));
  const started = performance.now();
  const { status } = await exchange(as, subjectToken);
  t.equal(status, 200);
  t.ok(performance.now() - started >= 295, 'took at least the configured delay');
});

t.test('exchangedTokenTtl: null omits expires_in; accessTokenTtl sets minted lifetimes', async (t) => {
  const noTtl = await start({ host: '127.0.0.1', exchangedTokenTtl: null, accessTokenTtl: 60 });
  const subjectToken = await noTtl.mintAccessToken({ sub: 'alice' });
  const { status, body } = await exchange(noTtl, subjectToken);
  t.equal(status, 200);
  t.notOk('expires_in' in body);
  const payload = decodeJwt(body.access_token as string);
  t.equal(payload.exp! - payload.iat!, 300);

  for (const token of [subjectToken, await noTtl.clientCredentialsToken()]) {
    const { exp, iat } = decodeJwt(token);
    t.equal(exp! - iat!, 60);
  }
});

t.test('rotateKey publishes a new kid, keeping the old one unless dropOld', async (t) => {
  const rotating = await start();
  const [firstKid] = await publishedKids(rotating);
  const oldToken = await rotating.mintAccessToken({ sub: 'alice' });
  t.equal(decodeProtectedHeader(oldToken).kid, firstKid);

  await rotating.rotateKey();
  const kids = await publishedKids(rotating);
  t.equal(kids.length, 2);
  t.ok(kids.includes(firstKid!));
  const secondKid = kids.find((kid) => kid !== firstKid)!;
  const newToken = await rotating.mintAccessToken({ sub: 'alice' });
  t.equal(decodeProtectedHeader(newToken).kid, secondKid, 'minted tokens use the new key');
  t.equal(decodeProtectedHeader(await rotating.clientCredentialsToken()).kid, secondKid, 'so do oidc-provider tokens');
  const exchanged = await exchange(rotating, oldToken);
  t.equal(exchanged.status, 200, 'tokens signed with the old key still verify');
  t.equal(decodeProtectedHeader(exchanged.body.access_token as string).kid, secondKid);

  await rotating.rotateKey(true);
  const [thirdKid, ...rest] = await publishedKids(rotating);
  t.same(rest, [], 'dropOld leaves only the new key');
  t.notOk([firstKid, secondKid].includes(thirdKid));
  for (const token of [oldToken, newToken]) {
    const { body } = await exchange(rotating, token);
    t.equal(body.error, 'invalid_grant', 'tokens signed with dropped keys no longer verify');
  }
  const cc = await rotating.clientCredentialsToken();
  await jwtVerify(cc, createRemoteJWKSet(new URL(rotating.jwksUri)), { issuer: rotating.issuer });
  t.equal(decodeProtectedHeader(cc).kid, thirdKid);
});

t.test('close() stops the server, even with an exchange in flight', async (t) => {
  const closing = await startAuthorizationServer({ resource: RESOURCE, exchangeClients: [BASIC_CLIENT], exchangeTargets: [UPSTREAM] });
  closing.exchangeDelayMs = 60_000;
  const inFlight = exchange(closing, await closing.mintAccessToken({ sub: 'alice' }));
  while (closing.exchanges.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));

  const started = performance.now();
  await closing.close();
  t.ok(performance.now() - started < 1000, 'close does not wait for the delayed exchange');
  await t.rejects(inFlight);
  await t.rejects(fetch(`${closing.issuer}/jwks`));
  await closing.close(); // idempotent
});

t.test('start fails when the port is taken', async (t) => {
  const port = Number(new URL(as.issuer).port);
  await t.rejects(startAuthorizationServer({ port, resource: RESOURCE, exchangeClients: [], exchangeTargets: [] }), { code: 'EADDRINUSE' });
});

t.test('oidc-provider printed nothing; other output passed through', async (t) => {
  t.same(printed, [['not from oidc-provider']]);
});
