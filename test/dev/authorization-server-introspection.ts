// RFC 7662 introspection at the local authorization server (oidc-provider's own endpoint), over
// real HTTP on 127.0.0.1: opaque tokens, active / expired / revoked, aud and iss, who may ask.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAuthorizationServer, type AuthorizationServer } from '../fixtures/authorization-server/index.js';
import { closeAgents, postForm, privateKeyJwtClient, type CallingClient } from '../fixtures/as-client.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const UPSTREAM = 'https://upstream.example.com';

t.teardown(closeAgents);

const gateway: CallingClient = { id: 'gateway', authMethod: 'client_secret_basic', secret: 'gateway-secret' };
const introspector: CallingClient = { id: 'introspector', authMethod: 'client_secret_post', secret: 'introspector-secret' };
const publicIntrospector: CallingClient = { id: 'public-introspector', authMethod: 'none' };
const jwtIntrospector = await privateKeyJwtClient('jwt-introspector', 'ES256');

async function start(overrides: Partial<Parameters<typeof startAuthorizationServer>[0]> = {}): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer({
    resource: RESOURCE,
    exchangeClients: [gateway],
    exchangeTargets: [UPSTREAM],
    ...overrides,
  });
  t.teardown(() => as.close());
  return as;
}

const introspect = (as: AuthorizationServer, token: string, client: CallingClient = gateway) =>
  postForm(as.introspectionEndpoint, [['token', token]], client);

t.test('an opaque token introspects active with sub, client_id, scope, exp, iat, iss and aud', async (t) => {
  const as = await start();
  const token = await as.mintOpaqueToken({ sub: 'alice', scope: 'mcp:tools mcp:read' });
  t.notMatch(token, /^ey/, 'opaque, not a JWT');
  const before = as.introspections;
  const { status, headers, body } = await introspect(as, token);
  t.equal(status, 200);
  t.equal(headers.get('cache-control'), 'no-store');
  t.match(body, { active: true, sub: 'alice', client_id: 'demo-app', scope: 'mcp:tools mcp:read', iss: as.issuer, aud: RESOURCE, token_type: 'Bearer' });
  t.type(body.exp, 'number');
  t.type(body.iat, 'number');
  t.equal((body.exp as number) - (body.iat as number), 600, 'accessTokenTtl by default');
  t.equal(as.introspections, before + 1);

  const custom = await as.mintOpaqueToken({ sub: 'bob', aud: UPSTREAM, ttl: 30, clientId: 'gateway' });
  const { body: customBody } = await introspect(as, custom);
  t.match(customBody, { active: true, sub: 'bob', aud: UPSTREAM, client_id: 'gateway', scope: 'mcp:tools' });
  t.equal((customBody.exp as number) - (customBody.iat as number), 30);

  await t.rejects(as.mintOpaqueToken({ sub: 'x', clientId: 'nobody' }), /not a registered client/);
});

t.test('inactive: unknown, revoked, expired; JWTs are refused by oidc-provider', async (t) => {
  const as = await start();
  t.same((await introspect(as, 'no-such-token')).body, { active: false });

  const revoked = await as.mintOpaqueToken({ sub: 'alice' });
  t.equal((await introspect(as, revoked)).body.active, true);
  await as.revoke(revoked);
  t.same((await introspect(as, revoked)).body, { active: false }, 'revoked');
  await as.revoke(revoked); // revoking again (or an unknown token) is a no-op
  await as.revoke('no-such-token');

  const shortLived = await as.mintOpaqueToken({ sub: 'alice', ttl: 1 });
  t.equal((await introspect(as, shortLived)).body.active, true);
  await sleep(1100);
  t.same((await introspect(as, shortLived)).body, { active: false }, 'expired');

  const jwt = await introspect(as, await as.mintAccessToken({ sub: 'alice' }));
  t.equal(jwt.status, 400);
  t.equal(jwt.body.error, 'unsupported_token_type');
});

t.test('a client_credentials token without resource is opaque and introspectable (no sub); revoke works on it', async (t) => {
  const as = await start();
  const issued = await postForm(as.tokenEndpoint, [['grant_type', 'client_credentials']], gateway);
  const token = issued.body.access_token as string;
  const { body } = await introspect(as, token);
  t.match(body, { active: true, client_id: 'gateway', iss: as.issuer });
  t.notOk('sub' in body);
  await as.revoke(token);
  t.same((await introspect(as, token)).body, { active: false });
});

t.test('introspection clients: every exchange client by default; introspectionClients replaces that list', async (t) => {
  const byDefault = await start();
  const token = await byDefault.mintOpaqueToken({ sub: 'alice' });
  t.equal((await introspect(byDefault, token, gateway)).body.active, true, 'exchange client');

  const as = await start({ introspectionClients: [introspector, publicIntrospector, jwtIntrospector.registration] });
  const opaque = await as.mintOpaqueToken({ sub: 'alice' });
  for (const client of [introspector, publicIntrospector, jwtIntrospector.client]) {
    const { status, body } = await introspect(as, opaque, client);
    t.equal(status, 200, client.authMethod);
    t.match(body, { active: true, sub: 'alice', aud: RESOURCE }, client.authMethod);
  }
  // The exchange client is no longer an introspection client: it learns nothing about others' tokens...
  t.same((await introspect(as, opaque, gateway)).body, { active: false });
  // ...but may still introspect a token issued to itself.
  const own = await as.mintOpaqueToken({ sub: 'alice', clientId: 'gateway' });
  t.equal((await introspect(as, own, gateway)).body.active, true);

  for (const client of [{ ...introspector, secret: 'wrong' }, { ...introspector, authMethod: 'client_secret_basic' as const }, { id: 'nobody', authMethod: 'none' as const }]) {
    const { status, body } = await introspect(as, opaque, client);
    t.equal(status, 401);
    t.equal(body.error, 'invalid_client');
  }
  const anonymous = await postForm(as.introspectionEndpoint, [['token', opaque]], undefined);
  t.equal(anonymous.status, 400, 'no client authentication');
});

t.test('introspections counts every call; tokens survive key rotation; servers do not share tokens', async (t) => {
  const as = await start();
  const other = await start();
  const token = await as.mintOpaqueToken({ sub: 'alice' });
  const before = as.introspections;
  await introspect(as, token);
  await introspect(as, token, { ...gateway, secret: 'wrong' });
  t.equal(as.introspections, before + 2, 'failed calls count too');
  t.equal(other.introspections, 0);

  await as.rotateKey(true);
  t.equal((await introspect(as, token)).body.active, true, 'still active after rotateKey');
  t.same((await introspect(other, token)).body, { active: false }, 'another server (issuer) does not know it');
});
