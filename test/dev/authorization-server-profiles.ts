// Identity-provider profiles of the local authorization server (the wire contract of Keycloak,
// Okta, Auth0 and Entra ID's on-behalf-of flow) and RFC 8693 actor tokens, over real HTTP on 127.0.0.1.
import t, { type Test } from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import {
  ACCESS_TOKEN_TYPE,
  ID_TOKEN_TYPE,
  JWT_BEARER_GRANT,
  JWT_TOKEN_TYPE,
  REFRESH_TOKEN_TYPE,
  startAuthorizationServer,
  TOKEN_EXCHANGE_GRANT,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type ProviderProfile,
} from '../fixtures/authorization-server/index.js';
import { closeAgents, postForm, type CallingClient, type FormResult } from '../fixtures/as-client.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const gateway: CallingClient = { id: 'gateway', authMethod: 'client_secret_basic', secret: 'gateway-secret' };
const gatewayViaPost: CallingClient = { ...gateway, authMethod: 'client_secret_post' };
const other: CallingClient = { id: 'other-client', authMethod: 'client_secret_basic', secret: 'other-secret' };
const publicClient: CallingClient = { id: 'public-client', authMethod: 'none' };

t.teardown(closeAgents);

async function start(options: Partial<AuthorizationServerOptions>): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer({ resource: RESOURCE, exchangeClients: [gateway, other, publicClient], exchangeTargets: [], ...options });
  t.teardown(() => as.close());
  return as;
}

/** POST to the token endpoint: token exchange unless `grant_type` is among `fields`. */
function token(as: AuthorizationServer, fields: Record<string, string | string[] | undefined>, client: CallingClient = gateway): Promise<FormResult> {
  const form: Array<[string, string]> = [];
  if (!('grant_type' in fields)) form.push(['grant_type', TOKEN_EXCHANGE_GRANT]);
  for (const [name, value] of Object.entries(fields)) {
    for (const item of value === undefined ? [] : Array.isArray(value) ? value : [value]) form.push([name, item]);
  }
  return postForm(as.tokenEndpoint, form, client);
}

/** An opaque client_credentials token of `client` (no resource). */
async function ownClientCredentials(as: AuthorizationServer, client: CallingClient): Promise<string> {
  const { body } = await postForm(as.tokenEndpoint, [['grant_type', 'client_credentials']], client);
  return body.access_token as string;
}

function expectError(t: Test, result: FormResult, status: number, error: string, description?: string | RegExp, name?: string): void {
  t.equal(result.status, status, name ?? error);
  t.equal(result.body.error, error, name ?? error);
  if (typeof description === 'string') t.equal(result.body.error_description, description, name ?? error);
  else if (description) t.match(result.body.error_description, description, name ?? error);
}

// ---------------------------------------------------------------------------------------------

t.test('rfc8693: actor tokens (RFC 8693 §2.1, §4.1)', async (t) => {
  const as = await start({ exchangeTargets: ['https://upstream.example.com'] });
  const base = { subject_token_type: ACCESS_TOKEN_TYPE, audience: 'https://upstream.example.com' };
  const subject = await as.mintAccessToken({ sub: 'alice' });

  const withJwtActor = await token(as, { ...base, subject_token: subject, actor_token: await as.mintAccessToken({ sub: 'agent-7' }), actor_token_type: JWT_TOKEN_TYPE });
  t.equal(withJwtActor.status, 200);
  t.same(decodeJwt(withJwtActor.body.access_token as string).act, { sub: 'agent-7' });

  const chained = await as.mintAccessToken({ sub: 'alice', act: { sub: 'first-hop' } });
  const nested = await token(as, { ...base, subject_token: chained, actor_token: await ownClientCredentials(as, gateway), actor_token_type: ACCESS_TOKEN_TYPE });
  t.equal(nested.status, 200);
  t.same(decodeJwt(nested.body.access_token as string).act, { sub: 'gateway', act: { sub: 'first-hop' } }, "the client's own client_credentials token; prior actor nested");

  const noActor = await token(as, { ...base, subject_token: subject });
  t.same(decodeJwt(noActor.body.access_token as string).act, { sub: 'gateway' }, 'without an actor token the client is the actor');

  expectError(t, await token(as, { ...base, subject_token: subject, actor_token: subject }), 400, 'invalid_request', undefined, 'actor_token without actor_token_type');
  expectError(t, await token(as, { ...base, subject_token: subject, actor_token_type: JWT_TOKEN_TYPE }), 400, 'invalid_request', undefined, 'actor_token_type alone');
  expectError(t, await token(as, { ...base, subject_token: subject, actor_token: subject, actor_token_type: ID_TOKEN_TYPE }), 400, 'invalid_request', undefined, 'unsupported actor_token_type');
  expectError(t, await token(as, { ...base, subject_token: subject, actor_token: await as.mintWithForeignKey({ sub: 'x' }), actor_token_type: JWT_TOKEN_TYPE }), 400, 'invalid_grant', undefined, 'unverifiable actor');
  expectError(
    t,
    await token(as, { ...base, subject_token: subject, actor_token: await ownClientCredentials(as, other), actor_token_type: ACCESS_TOKEN_TYPE }),
    400,
    'invalid_grant',
    undefined,
    "another client's client_credentials token",
  );

  // rfc8693 holds a client to its registered secret placement.
  expectError(t, await token(as, { ...base, subject_token: subject }, gatewayViaPost), 401, 'invalid_client', /registered for client_secret_basic/);
});

// ---------------------------------------------------------------------------------------------

t.test('keycloak: standard token exchange V2', async (t) => {
  const as = await start({ profile: 'keycloak', exchangeTargets: ['orders-api', 'billing-api'] });
  const forGateway = await as.mintAccessToken({ sub: 'alice', aud: [RESOURCE, 'gateway'], scope: 'openid profile' });
  const base = { subject_token: forGateway, subject_token_type: ACCESS_TOKEN_TYPE };

  const ok = await token(as, { ...base, audience: 'orders-api' });
  t.equal(ok.status, 200);
  t.match(ok.body, { token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 300, refresh_expires_in: 0, 'not-before-policy': 0, scope: 'openid profile' });
  const claims = decodeJwt(ok.body.access_token as string);
  t.match(claims, { sub: 'alice', aud: 'orders-api', azp: 'gateway', typ: 'Bearer', iss: as.issuer, scope: 'openid profile' });
  t.notOk('act' in claims, 'no delegation in standard token exchange');
  t.equal(decodeProtectedHeader(ok.body.access_token as string).typ, 'JWT');
  t.equal(as.exchanges.at(-1)?.params.grant_type, TOKEN_EXCHANGE_GRANT);

  t.same(decodeJwt((await token(as, { ...base, audience: ['orders-api', 'billing-api'] })).body.access_token as string).aud, ['orders-api', 'billing-api']);
  t.equal(decodeJwt((await token(as, base)).body.access_token as string).aud, 'gateway', 'no audience: the requester itself');
  t.equal((await token(as, { ...base, audience: 'orders-api', requested_token_type: ACCESS_TOKEN_TYPE })).status, 200);
  t.equal((await token(as, { ...base, audience: 'orders-api' }, gatewayViaPost)).status, 200, 'Keycloak takes the secret in the body too');

  const held = await as.mintAccessToken({ sub: 'alice', aud: RESOURCE, azp: 'gateway' });
  t.equal((await token(as, { subject_token: held, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'orders-api' })).status, 200, 'the token holder (azp) need not be in aud');

  const idToken = await token(as, { ...base, requested_token_type: ID_TOKEN_TYPE });
  t.match(idToken.body, { token_type: 'N_A', issued_token_type: ID_TOKEN_TYPE });
  t.match(decodeJwt(idToken.body.access_token as string), { sub: 'alice', aud: 'gateway', typ: 'ID' });

  const notInAudience = await token(as, { subject_token: await as.mintAccessToken({ sub: 'alice' }), subject_token_type: ACCESS_TOKEN_TYPE, audience: 'orders-api' });
  t.equal(notInAudience.status, 403);
  t.same(notInAudience.body, { error: 'access_denied', error_description: 'Client is not within the token audience' });

  expectError(t, await token(as, { ...base, audience: 'nobody' }), 400, 'invalid_client', 'Audience not found');
  expectError(t, await token(as, { subject_token_type: ACCESS_TOKEN_TYPE }), 400, 'invalid_request', "Parameter 'subject_token' required for standard token exchange");
  expectError(t, await token(as, { subject_token: forGateway }), 400, 'invalid_request', "Parameter 'subject_token_type' required for standard token exchange");
  expectError(t, await token(as, { ...base, subject_token_type: ID_TOKEN_TYPE }), 400, 'invalid_request', "Parameter 'subject_token' supports access tokens only");
  expectError(t, await token(as, { ...base, subject_token_type: JWT_TOKEN_TYPE }), 400, 'invalid_request', "Parameter 'subject_token' supports access tokens only");
  for (const type of [REFRESH_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:saml2', 'urn:example:other']) {
    expectError(t, await token(as, { ...base, requested_token_type: type }), 400, 'invalid_request', 'requested_token_type unsupported', type);
  }
  expectError(t, await token(as, { ...base, audience: 'orders-api', resource: 'https://orders.example.com' }), 400, 'invalid_request', "Parameter 'resource' is not supported for standard token exchange");
  expectError(
    t,
    await token(as, { ...base, audience: 'orders-api', actor_token: forGateway, actor_token_type: ACCESS_TOKEN_TYPE }),
    400,
    'invalid_request',
    "Parameter 'actor_token' is not supported for standard token exchange",
  );
  for (const [name, bad] of Object.entries({
    expired: await as.mintAccessToken({ sub: 'alice', aud: 'gateway', exp: Math.floor(Date.now() / 1000) - 5 }),
    foreign: await as.mintWithForeignKey({ sub: 'alice', aud: 'gateway' }),
  })) {
    expectError(t, await token(as, { subject_token: bad, subject_token_type: ACCESS_TOKEN_TYPE }), 400, 'invalid_request', 'Invalid token', name);
  }
  const forPublic = await as.mintAccessToken({ sub: 'alice', aud: 'public-client' });
  expectError(t, await token(as, { subject_token: forPublic, subject_token_type: ACCESS_TOKEN_TYPE }, publicClient), 400, 'invalid_client', 'Public client is not allowed to exchange token');

  // exchangeDelayMs and rotateKey apply in every profile.
  as.exchangeDelayMs = 150;
  const started = performance.now();
  t.equal((await token(as, base)).status, 200);
  t.ok(performance.now() - started >= 145);
  as.exchangeDelayMs = 0;
  await as.rotateKey();
  const rotated = await token(as, base);
  t.equal(rotated.status, 200, 'tokens signed with the old key still verify');
  t.not(decodeProtectedHeader(rotated.body.access_token as string).kid, decodeProtectedHeader(forGateway).kid, 'new key signs');
});

// ---------------------------------------------------------------------------------------------

t.test('okta: actor token and audience required', async (t) => {
  const as = await start({ profile: 'okta', exchangeTargets: ['api://orders'] });
  const subject = await as.mintAccessToken({ sub: 'alice', scope: 'orders:read' });
  const actor = await ownClientCredentials(as, gateway);
  const base = { subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'api://orders' };

  const ok = await token(as, { ...base, actor_token: actor, actor_token_type: ACCESS_TOKEN_TYPE });
  t.equal(ok.status, 200);
  t.match(ok.body, { token_type: 'Bearer', expires_in: 300, scope: 'orders:read', issued_token_type: ACCESS_TOKEN_TYPE });
  const claims = decodeJwt(ok.body.access_token as string);
  t.match(claims, { sub: 'alice', aud: 'api://orders', cid: 'gateway', scp: ['orders:read'], ver: 1, act: { sub: 'gateway' } });
  t.match(claims.jti, /^AT\./);

  const jwtActor = await token(as, { ...base, actor_token: await as.mintAccessToken({ sub: 'agent-1' }), actor_token_type: JWT_TOKEN_TYPE, scope: 'orders:write' });
  t.equal(jwtActor.status, 200);
  t.match(decodeJwt(jwtActor.body.access_token as string), { act: { sub: 'agent-1' }, scp: ['orders:write'] });

  const withActor = { actor_token: actor, actor_token_type: ACCESS_TOKEN_TYPE };
  expectError(t, await token(as, base), 400, 'invalid_request', "The 'actor_token' parameter is required.");
  expectError(t, await token(as, { ...base, actor_token: actor }), 400, 'invalid_request', "The 'actor_token_type' parameter is required.");
  expectError(t, await token(as, { ...base, ...withActor, actor_token_type: ID_TOKEN_TYPE }), 400, 'invalid_request', /actor_token_type/);
  expectError(t, await token(as, { ...base, ...withActor, audience: undefined }), 400, 'invalid_request', "The 'audience' parameter is required.");
  expectError(t, await token(as, { ...base, ...withActor, audience: 'api://billing' }), 400, 'invalid_target');
  expectError(t, await token(as, { ...base, ...withActor, subject_token_type: JWT_TOKEN_TYPE }), 400, 'invalid_request', /subject_token_type/);
  expectError(t, await token(as, { ...base, ...withActor, subject_token: await as.mintWithForeignKey({ sub: 'alice' }) }), 400, 'invalid_grant', "The 'subject_token' is invalid.");
  expectError(t, await token(as, { ...base, actor_token: await ownClientCredentials(as, other), actor_token_type: ACCESS_TOKEN_TYPE }), 400, 'invalid_grant', "The 'actor_token' is invalid.");
  expectError(t, await token(as, { ...base, actor_token: 'garbage', actor_token_type: ACCESS_TOKEN_TYPE }), 400, 'invalid_grant', "The 'actor_token' is invalid.");
  expectError(t, await token(as, { ...base, ...withActor }, gatewayViaPost), 401, 'invalid_client', undefined, 'Okta holds the client to its registered method');
});

// ---------------------------------------------------------------------------------------------

t.test('auth0: Custom Token Exchange', async (t) => {
  const as = await start({ profile: 'auth0', exchangeTargets: ['https://api.orders.example'] });
  const subject = await as.mintAccessToken({ sub: 'auth0|alice', scope: 'read:orders' });
  const base = { subject_token: subject, subject_token_type: 'urn:acme:mcp-access-token', audience: 'https://api.orders.example' };

  const ok = await token(as, base);
  t.equal(ok.status, 200);
  t.match(ok.body, { issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: 300, scope: 'read:orders' });
  t.match(decodeJwt(ok.body.access_token as string), { sub: 'auth0|alice', aud: 'https://api.orders.example', azp: 'gateway' });

  for (const reserved of [ACCESS_TOKEN_TYPE, 'urn:auth0:token', 'https://auth0.com/token', 'urn:okta:token', 'http://okta.com/x']) {
    expectError(t, await token(as, { ...base, subject_token_type: reserved }), 400, 'invalid_request', /reserved namespace/, reserved);
  }
  expectError(t, await token(as, { ...base, subject_token_type: 'urn:acme:other-token' }), 400, 'invalid_request', /no Custom Token Exchange Profile/);
  expectError(t, await token(as, { ...base, subject_token_type: undefined }), 400, 'invalid_request', 'Missing required parameter: subject_token_type');
  expectError(t, await token(as, { ...base, subject_token: undefined }), 400, 'invalid_request', 'Missing required parameter: subject_token');
  expectError(t, await token(as, { ...base, audience: undefined }), 400, 'invalid_request', 'Missing required parameter: audience');
  expectError(t, await token(as, { ...base, audience: 'https://api.unknown.example' }), 403, 'access_denied', 'Service not found: https://api.unknown.example');
  expectError(t, await token(as, { ...base, subject_token: await as.mintWithForeignKey({ sub: 'x' }) }), 400, 'invalid_grant');

  const custom = await start({ profile: 'auth0', auth0SubjectTokenType: 'https://acme.example/token-type/mcp', exchangeTargets: ['https://api.orders.example'] });
  const viaCustom = await token(custom, { ...base, subject_token: await custom.mintAccessToken({ sub: 'bob' }), subject_token_type: 'https://acme.example/token-type/mcp' });
  t.equal(viaCustom.status, 200, 'auth0SubjectTokenType');
});

// ---------------------------------------------------------------------------------------------

t.test('entra_obo: the on-behalf-of flow (jwt-bearer, not RFC 8693)', async (t) => {
  const as = await start({ profile: 'entra_obo', exchangeTargets: ['api://orders', 'api://billing'] });
  const assertion = await as.mintAccessToken({ sub: 'alice-pairwise', oid: '00000000-0000-0000-0000-00000000a11c' });
  const obo = (fields: Record<string, string | undefined>, client: CallingClient = gateway) =>
    token(as, { grant_type: JWT_BEARER_GRANT, assertion, requested_token_use: 'on_behalf_of', scope: 'api://orders/.default', ...fields }, client);

  const before = as.exchanges.length;
  const ok = await obo({});
  t.equal(ok.status, 200);
  t.same(Object.keys(ok.body).sort(), ['access_token', 'expires_in', 'ext_expires_in', 'scope', 'token_type'], 'no issued_token_type');
  t.match(ok.body, { token_type: 'Bearer', scope: 'api://orders/.default', expires_in: 300, ext_expires_in: 300 });
  t.match(decodeJwt(ok.body.access_token as string), {
    aud: 'api://orders',
    sub: 'alice-pairwise',
    oid: '00000000-0000-0000-0000-00000000a11c',
    azp: 'gateway',
    scp: 'user_impersonation',
    ver: '2.0',
    iss: as.issuer,
  });
  t.equal(as.exchanges.length, before + 1);
  t.match(as.exchanges.at(-1), { clientId: 'gateway', params: { grant_type: JWT_BEARER_GRANT, requested_token_use: 'on_behalf_of', assertion } });

  const named = await obo({ scope: 'api://orders/Orders.Read api://orders/Orders.Write openid offline_access' });
  t.equal(decodeJwt(named.body.access_token as string).scp, 'Orders.Read Orders.Write');
  t.equal((await obo({ assertion: await as.mintAccessToken({ sub: 'bob', aud: 'gateway' }) })).status, 200, 'assertion for the client id');
  t.equal((await obo({}, gatewayViaPost)).status, 200, 'Entra takes the secret in the body too');

  const exchangeGrant = await token(as, { subject_token: assertion, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'api://orders' });
  expectError(t, exchangeGrant, 400, 'unsupported_grant_type', undefined, 'RFC 8693 grant');

  const entra = (result: FormResult, status: number, error: string, code: number | undefined, name: string) => {
    expectError(t, result, status, error, code === undefined ? undefined : new RegExp(`^AADSTS${code}: .*Trace ID: .*Correlation ID: .*Timestamp: `), name);
    t.same(result.body.error_codes, code === undefined ? [] : [code], name);
    t.type(result.body.trace_id, 'string', name);
    t.type(result.body.correlation_id, 'string', name);
    t.type(result.body.timestamp, 'string', name);
  };
  entra(await obo({ requested_token_use: undefined }), 400, 'invalid_request', 900144, 'requested_token_use missing');
  entra(await obo({ assertion: undefined }), 400, 'invalid_request', 900144, 'assertion missing');
  entra(await obo({ scope: undefined }), 400, 'invalid_request', 900144, 'scope missing');
  entra(await obo({ requested_token_use: 'something_else' }), 400, 'invalid_request', undefined, 'requested_token_use not on_behalf_of');
  entra(await token(as, { grant_type: JWT_BEARER_GRANT, assertion, requested_token_use: 'on_behalf_of', scope: 'api://orders/.default', subject_token: assertion }), 400, 'invalid_request', undefined, 'RFC 8693 parameter');
  entra(await obo({ scope: 'Orders.Read' }), 400, 'invalid_scope', 70011, 'scope without a resource');
  entra(await obo({ scope: 'openid profile' }), 400, 'invalid_scope', 70011, 'no resource scope at all');
  entra(await obo({ scope: 'api://orders/.default api://billing/.default' }), 400, 'invalid_scope', 28000, 'two resources');
  entra(await obo({ scope: 'api://unknown/.default' }), 400, 'invalid_resource', 500011, 'unknown resource');
  entra(await obo({ assertion: await as.mintWithForeignKey({ sub: 'alice' }) }), 400, 'invalid_grant', 50013, 'bad signature');
  entra(await obo({ assertion: await as.mintAccessToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 5 }) }), 400, 'invalid_grant', 500133, 'expired');
  entra(await obo({ assertion: await as.mintAccessToken({ sub: 'alice', aud: 'https://elsewhere.example.com' }) }), 400, 'invalid_grant', 50013, 'assertion for another audience');

  const consent = await obo({ assertion: await as.mintAccessToken({ sub: 'needs-consent' }) });
  entra(consent, 400, 'invalid_grant', 65001, 'consent required');
  t.match(consent.body.error_description, /not consented to use the application with ID 'gateway'/);
  t.equal(consent.body.suberror, 'consent_required');

  const noTtl = await start({ profile: 'entra_obo', exchangeTargets: ['api://orders'], exchangedTokenTtl: null });
  const untimed = await token(noTtl, { grant_type: JWT_BEARER_GRANT, assertion: await noTtl.mintAccessToken({ sub: 'alice' }), requested_token_use: 'on_behalf_of', scope: 'api://orders/.default' });
  t.equal(untimed.status, 200);
  t.notOk('expires_in' in untimed.body);
  t.notOk('ext_expires_in' in untimed.body);

  noTtl.exchangeDelayMs = 120;
  const started = performance.now();
  await token(noTtl, { grant_type: JWT_BEARER_GRANT, assertion: await noTtl.mintAccessToken({ sub: 'alice' }), requested_token_use: 'on_behalf_of', scope: 'api://orders/.default' });
  t.ok(performance.now() - started >= 115, 'exchangeDelayMs applies to OBO');
});

t.test("every profile: subject 'blocked-user' → access_denied", async (t) => {
  const cases: Array<[ProviderProfile, (as: AuthorizationServer, subject: string) => Promise<FormResult>]> = [
    ['keycloak', (as, subject) => token(as, { subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'target' })],
    [
      'okta',
      async (as, subject) =>
        token(as, { subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'target', actor_token: await ownClientCredentials(as, gateway), actor_token_type: ACCESS_TOKEN_TYPE }),
    ],
    ['auth0', (as, subject) => token(as, { subject_token: subject, subject_token_type: 'urn:acme:mcp-access-token', audience: 'target' })],
    ['entra_obo', (as, subject) => token(as, { grant_type: JWT_BEARER_GRANT, assertion: subject, requested_token_use: 'on_behalf_of', scope: 'target/.default' })],
  ];
  for (const [profile, send] of cases) {
    const as = await start({ profile, exchangeTargets: ['target'] });
    const result = await send(as, await as.mintAccessToken({ sub: 'blocked-user', aud: [RESOURCE, 'gateway'] }));
    t.equal(result.status, 400, profile);
    t.equal(result.body.error, 'access_denied', profile);
  }
});
