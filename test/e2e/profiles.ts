/**
 * Identity-provider profiles (EXCHANGE_PROFILE) end to end: an Envoy-shaped gRPC client → the
 * real service on 127.0.0.1:0 → the real authorization server over real HTTP, started with the
 * SAME `profile`. Keycloak, Okta, Auth0 and Entra ID cannot run here, so with `profile` the local
 * server's token endpoint enforces that provider's documented wire contract (see
 * test/fixtures/authorization-server/) instead of plain RFC 8693: each test shows the service's
 * request passing those rules, what the server recorded (`as.exchanges`) and the claims of the
 * token it issued. Start-up refusals of illegal profile settings are in test/config/file.ts.
 */
import t from 'tap';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { AuthorizationServer } from '../fixtures/authorization-server/index.js';
import { postForm } from '../fixtures/as-client.js';
import { checkToken, errorOf, exchangedToken, statusOf, tempFiles } from '../fixtures/e2e-helpers.js';
import { authorizationServer, EXCHANGE_CLIENT, RESOURCE, serviceEnv, startService } from '../fixtures/service.js';

const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** The exchanged token's claims, its signature verified against the server's JWKS. */
async function verifiedClaims(as: AuthorizationServer, token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(as.jwksUri)), { issuer: as.issuer });
  return payload;
}

/** The form parameters of the last exchange the server's grant handler saw. */
const lastParams = (as: AuthorizationServer) => as.exchanges.at(-1)?.params ?? {};

t.test('keycloak: standard token exchange v2', async (t) => {
  // The server enforces Keycloak ≥ 26.2 standard token exchange: subject_token_type access_token,
  // audience = client ids of the realm, no resource / actor, and the requester must be in the
  // subject token's aud (else 403 "Client is not within the token audience").
  const as = await authorizationServer(t, { profile: 'keycloak', exchangeTargets: ['upstream-api'] });
  const env = serviceEnv(as, { EXCHANGE_PROFILE: 'keycloak', EXCHANGE_RESOURCE: undefined, EXCHANGE_AUDIENCE: 'upstream-api' });

  t.test('allowed: the audience is the target client id', async (t) => {
    const service = await startService(t, env);
    // An audience mapper put the requester (mcp-gateway) into the user's token.
    const subject = await as.mintAccessToken({ sub: 'alice', aud: [RESOURCE, EXCHANGE_CLIENT.id], scope: 'mcp:tools' });
    const exchanged = exchangedToken(t, await checkToken(service, subject));
    t.same(lastParams(as), {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: 'upstream-api',
    }, 'exactly these parameters (client_secret_basic: credentials in the header)');
    t.equal(as.exchanges.at(-1)?.clientId, EXCHANGE_CLIENT.id);
    const claims = await verifiedClaims(as, exchanged);
    t.hasStrict(claims, { sub: 'alice', aud: 'upstream-api', azp: EXCHANGE_CLIENT.id, typ: 'Bearer', scope: 'mcp:tools' });
    t.notOk('act' in claims, 'no delegation in standard token exchange');
    t.equal(decodeProtectedHeader(exchanged).typ, 'JWT', 'a Keycloak-shaped access token');
  });

  t.test('the requester is not in the subject token audience → Keycloak 403 → our 500 misconfigured', async (t) => {
    const service = await startService(t, env);
    const before = as.exchanges.length;
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'bob' })); // aud: the MCP resource only
    t.equal(as.exchanges.length, before + 1, 'the server received the request');
    t.same(statusOf(result), [500, 13], 'a realm setup problem, not a refusal of this user');
    t.equal(errorOf(result), 'server_error');
    const line = service.logs.find((entry) => entry.outcome === 'misconfigured');
    t.equal(line?.level, 'error');
    t.match(String(line?.reason), /audience/);
  });

  t.test('control: the same answer under the rfc8693 profile is a refusal (403)', async (t) => {
    const service = await startService(t, { ...env, EXCHANGE_PROFILE: 'rfc8693' });
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'carol' }));
    t.same(statusOf(result), [403, 7]);
  });
});

t.test('okta: token exchange with an actor token (delegation)', async (t) => {
  // The server enforces the okta profile: subject_token_type access_token, actor_token and
  // actor_token_type REQUIRED, audience REQUIRED and known; issued tokens carry cid, scp and act.
  const as = await authorizationServer(t, { profile: 'okta', exchangeTargets: ['api://orders'] });
  const base = { EXCHANGE_PROFILE: 'okta', EXCHANGE_RESOURCE: undefined, EXCHANGE_AUDIENCE: 'api://orders', EXCHANGE_SCOPE: 'orders:read' };

  t.test('actor from a request header (EXCHANGE_ACTOR_SOURCE=header)', async (t) => {
    const service = await startService(t, serviceEnv(as, { ...base, EXCHANGE_ACTOR_SOURCE: 'header', EXCHANGE_ACTOR_HEADER: 'x-agent-token' }));
    const subject = await as.mintAccessToken({ sub: 'alice' });
    const agent = await as.mintAccessToken({ sub: 'agent-7' });
    const exchanged = exchangedToken(t, await checkToken(service, subject, { headers: { 'x-agent-token': agent } }));
    t.same(lastParams(as), {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: 'api://orders',
      scope: 'orders:read',
      actor_token: agent,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    const claims = await verifiedClaims(as, exchanged);
    t.hasStrict(claims, { sub: 'alice', aud: 'api://orders', cid: EXCHANGE_CLIENT.id, scp: ['orders:read'], ver: 1, act: { sub: 'agent-7' } });
    t.same(claims.act, { sub: 'agent-7' }, 'the actor is the agent');

    t.test('"Bearer <token>" in the actor header is accepted too', async (t) => {
      const other = await as.mintAccessToken({ sub: 'agent-8' });
      const second = exchangedToken(t, await checkToken(service, subject, { headers: { 'x-agent-token': `Bearer ${other}` } }));
      t.equal(lastParams(as).actor_token, other);
      t.same((await verifiedClaims(as, second)).act, { sub: 'agent-8' });
    });

    t.test('without the header no actor token is sent, and Okta refuses (invalid_request → 403)', async (t) => {
      const before = as.exchanges.length;
      const result = await checkToken(service, await as.mintAccessToken({ sub: 'dave' }));
      t.equal(as.exchanges.length, before + 1);
      t.notOk('actor_token' in lastParams(as));
      t.notOk('actor_token_type' in lastParams(as), 'actor_token_type only with actor_token');
      t.same(statusOf(result), [403, 7]);
    });
  });

  t.test('static actor token from a file (EXCHANGE_ACTOR_SOURCE=static): the gateway\'s own client_credentials token', async (t) => {
    const issued = await postForm(as.tokenEndpoint, [['grant_type', 'client_credentials']], { id: EXCHANGE_CLIENT.id, authMethod: 'client_secret_basic', secret: EXCHANGE_CLIENT.secret });
    const actor = String(issued.body.access_token);
    t.equal(issued.status, 200);
    const files = tempFiles(t, 'authz-actor-');
    const service = await startService(t, serviceEnv(as, { ...base, EXCHANGE_ACTOR_SOURCE: 'static', EXCHANGE_ACTOR_TOKEN_FILE: files.write('actor', `${actor}\n`) }));
    const subject = await as.mintAccessToken({ sub: 'alice' });
    const exchanged = exchangedToken(t, await checkToken(service, subject));
    t.hasStrict(lastParams(as), { subject_token: subject, actor_token: actor, actor_token_type: ACCESS_TOKEN_TYPE }, 'the file\'s trailing newline is stripped');
    t.hasStrict(await verifiedClaims(as, exchanged), { sub: 'alice', act: { sub: EXCHANGE_CLIENT.id } });
  });

  t.test('the inbound token as the actor (EXCHANGE_ACTOR_SOURCE=subject)', async (t) => {
    const service = await startService(t, serviceEnv(as, { ...base, EXCHANGE_ACTOR_SOURCE: 'subject' }));
    const subject = await as.mintAccessToken({ sub: 'erin' });
    const exchanged = exchangedToken(t, await checkToken(service, subject));
    t.hasStrict(lastParams(as), { subject_token: subject, actor_token: subject, actor_token_type: ACCESS_TOKEN_TYPE });
    t.hasStrict(await verifiedClaims(as, exchanged), { sub: 'erin', act: { sub: 'erin' } });
  });
});

t.test('auth0: Custom Token Exchange with your own subject_token_type', async (t) => {
  // The server enforces Auth0 Custom Token Exchange: subject_token_type must be the custom type
  // its profile maps (reserved namespaces refused), audience = one known API identifier.
  const TYPE = 'https://acme.example/token-type/mcp';
  const API = 'https://api.orders.example';
  const as = await authorizationServer(t, { profile: 'auth0', auth0SubjectTokenType: TYPE, exchangeTargets: [API] });
  const env = serviceEnv(as, { EXCHANGE_PROFILE: 'auth0', EXCHANGE_SUBJECT_TOKEN_TYPE: TYPE, EXCHANGE_RESOURCE: undefined, EXCHANGE_AUDIENCE: API });

  t.test('allowed with the matching custom type', async (t) => {
    const service = await startService(t, env);
    const subject = await as.mintAccessToken({ sub: 'auth0|alice', scope: 'read:orders' });
    const exchanged = exchangedToken(t, await checkToken(service, subject));
    t.same(lastParams(as), { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subject, subject_token_type: TYPE, audience: API });
    t.hasStrict(await verifiedClaims(as, exchanged), { sub: 'auth0|alice', aud: API, azp: EXCHANGE_CLIENT.id, scope: 'read:orders' });
  });

  t.test('a custom type the tenant has no profile for → invalid_request → 403', async (t) => {
    const service = await startService(t, { ...env, EXCHANGE_SUBJECT_TOKEN_TYPE: 'urn:acme:other-token' });
    const before = as.exchanges.length;
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'auth0|bob' }));
    t.equal(as.exchanges.length, before + 1);
    t.equal(lastParams(as).subject_token_type, 'urn:acme:other-token');
    t.same(statusOf(result), [403, 7]);
  });
});

t.test('entra_obo: On-Behalf-Of (jwt-bearer grant, not RFC 8693)', async (t) => {
  // The server enforces Entra ID's OBO contract: grant_type jwt-bearer, requested_token_use
  // on_behalf_of, assertion = the inbound token, one resource in scope; no RFC 8693 parameter;
  // the RFC 8693 grant itself is not registered. 'needs-consent' is refused with AADSTS65001.
  const as = await authorizationServer(t, { profile: 'entra_obo', exchangeTargets: ['api://orders'] });
  const env = serviceEnv(as, { EXCHANGE_PROFILE: 'entra_obo', EXCHANGE_RESOURCE: undefined, EXCHANGE_SCOPE: 'api://orders/.default' });
  const oid = '00000000-0000-0000-0000-00000000a11c';

  for (const method of ['client_secret_post', 'client_secret_basic']) {
    t.test(`allowed (${method})`, async (t) => {
      const service = await startService(t, { ...env, EXCHANGE_CLIENT_AUTH_METHOD: method });
      const assertion = await as.mintAccessToken({ sub: `alice-${method}`, oid });
      const exchanged = exchangedToken(t, await checkToken(service, assertion));
      const credentials = method === 'client_secret_post' ? { client_id: EXCHANGE_CLIENT.id, client_secret: EXCHANGE_CLIENT.secret } : {};
      t.same(lastParams(as), {
        grant_type: JWT_BEARER_GRANT,
        requested_token_use: 'on_behalf_of',
        scope: 'api://orders/.default',
        assertion,
        ...credentials,
      }, 'exactly the OBO parameters: no subject_token, audience or resource');
      t.equal(as.exchanges.at(-1)?.clientId, EXCHANGE_CLIENT.id);
      t.hasStrict(await verifiedClaims(as, exchanged), { aud: 'api://orders', sub: `alice-${method}`, oid, azp: EXCHANGE_CLIENT.id, scp: 'user_impersonation', ver: '2.0' });
    });
  }

  t.test('a user who has not consented → AADSTS65001 invalid_grant → 403', async (t) => {
    const service = await startService(t, env);
    const before = as.exchanges.length;
    const result = await checkToken(service, await as.mintAccessToken({ sub: 'needs-consent' }));
    t.equal(as.exchanges.length, before + 1);
    t.equal(lastParams(as).grant_type, JWT_BEARER_GRANT);
    t.same(statusOf(result), [403, 7]);
    t.equal(errorOf(result), 'access_denied');
  });
});
