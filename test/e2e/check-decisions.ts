/**
 * Every SPEC §3 row, end to end: an Envoy-shaped gRPC client (official protos)
 * → the real service on 127.0.0.1:0 → a real authorization server (oidc-provider).
 */
import t from 'tap';
import { decodeJwt, jwtVerify, createRemoteJWKSet } from 'jose';
import { summarize, type EnvoyCheckInput } from '../fixtures/envoy-client.js';
import { authorizationServer, bearer, EXCHANGE_CLIENT, serviceEnv, startService, UPSTREAM } from '../fixtures/service.js';

const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

t.test('SPEC §3 rows', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { REQUIRED_SCOPES: 'mcp:tools' }));
  const alice = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools mcp:read', client_id: 'claude-desktop' });

  t.test('allowed: authorization overwritten with the exchanged token', async (t) => {
    const response = await service.client.check(bearer(alice));
    const result = summarize(response);
    t.equal(result.allowed, true);
    t.equal(result.grpcCode, 0);
    t.equal(result.appendActions.authorization, 'OVERWRITE_IF_EXISTS_OR_ADD');
    t.equal(result.appendSet, false, '`append` stays unset');
    t.notOk(response.ok_response?.headers_to_remove?.length, 'nothing in headers_to_remove');
    const exchanged = result.headers.authorization!.replace(/^Bearer /, '');
    t.not(exchanged, alice, 'the inbound token is not forwarded');
    const { payload } = await jwtVerify(exchanged, createRemoteJWKSet(new URL(as.jwksUri)), { issuer: as.issuer, audience: UPSTREAM });
    t.equal(payload.sub, 'alice');
    t.same(payload.act, { sub: EXCHANGE_CLIENT.id }, 'RFC 8693 act names the service');
    t.equal(JSON.stringify(response).includes(alice), false, 'the inbound token appears nowhere in the response');
    t.same(response.dynamic_metadata?.fields?.sub?.stringValue, 'alice');
    t.same(response.dynamic_metadata?.fields?.client_id?.stringValue, 'claude-desktop');
    t.same(response.dynamic_metadata?.fields?.scope?.stringValue, 'mcp:tools mcp:read');
    const [record] = as.exchanges.slice(-1);
    t.equal(record?.clientId, EXCHANGE_CLIENT.id);
    t.equal(record?.params.subject_token, alice);
    t.equal(record?.params.subject_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    t.equal(record?.params.resource, UPSTREAM);
    t.equal(record?.params.grant_type, 'urn:ietf:params:oauth:grant-type:token-exchange');
  });

  t.test('no authorization header → 401, bare challenge', async (t) => {
    const result = summarize(await service.client.check({ headers: { 'x-other': 'y' } }));
    t.same([result.httpStatus, result.grpcCode], [401, 16]);
    t.equal(result.headers['www-authenticate'], `Bearer resource_metadata="${METADATA}"`);
    t.equal(result.headers['content-type'], 'application/json');
    t.match(JSON.parse(result.body!), { error: 'missing_token', error_description: String });
  });

  t.test('not Bearer → 401, bare challenge', async (t) => {
    const result = summarize(await service.client.check({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    t.same([result.httpStatus, result.grpcCode], [401, 16]);
    t.equal(result.headers['www-authenticate'], `Bearer resource_metadata="${METADATA}"`);
  });

  const twoTokens: Array<[string, EnvoyCheckInput]> = [
    ['repeated header (header_map)', { raw: true, headers: { authorization: [`Bearer ${alice}`, `Bearer ${alice}`] } }],
    ['comma-joined value (headers map)', { headers: { authorization: [`Bearer ${alice}`, 'Bearer other'] } }],
  ];
  for (const [name, input] of twoTokens) {
    t.test(`two bearer tokens, ${name} → 400 invalid_request`, async (t) => {
      const response = await service.client.check(input);
      const result = summarize(response);
      t.same([result.httpStatus, result.grpcCode], [400, 3]);
      t.equal(result.headers['www-authenticate'], `Bearer error="invalid_request", resource_metadata="${METADATA}"`);
      t.equal(JSON.stringify(response).includes(alice), false);
    });
  }

  t.test('token longer than MAX_TOKEN_BYTES → 401 invalid_token', async (t) => {
    const result = summarize(await service.client.check(bearer('a'.repeat(20 * 1024))));
    t.same([result.httpStatus, result.grpcCode], [401, 16]);
    t.equal(result.headers['www-authenticate'], `Bearer error="invalid_token", resource_metadata="${METADATA}"`);
    t.notMatch(result.body!, /aaaa/);
  });

  t.test('lacks a required scope → 403 insufficient_scope naming the scopes', async (t) => {
    const token = await as.mintAccessToken({ sub: 'carol', scope: 'mcp:read' });
    const result = summarize(await service.client.check(bearer(token)));
    t.same([result.httpStatus, result.grpcCode], [403, 7]);
    t.equal(result.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="mcp:tools"');
  });

  t.test('scp array form satisfies the scope check', async (t) => {
    const token = await as.mintAccessToken({ sub: 'dave', scope: undefined, scp: ['mcp:tools'] });
    t.equal(summarize(await service.client.check(bearer(token))).allowed, true);
  });

  t.test('authorization server refuses the subject (access_denied) → 403, no challenge', async (t) => {
    const token = await as.mintAccessToken({ sub: 'blocked-user', scope: 'mcp:tools' });
    const result = summarize(await service.client.check(bearer(token)));
    t.same([result.httpStatus, result.grpcCode], [403, 7]);
    t.equal(result.headers['www-authenticate'], undefined);
    t.match(JSON.parse(result.body!), { error: 'access_denied' });
  });

  t.test('request without HTTP attributes → 403', async (t) => {
    const result = summarize(await service.client.check({ noHttp: true }));
    t.same([result.httpStatus, result.grpcCode], [403, 7]);
    t.equal(result.headers['www-authenticate'], undefined);
  });

  t.test('an empty CheckRequest still gets a CheckResponse', async (t) => {
    const result = summarize(await service.client.checkRaw({}));
    t.same([result.httpStatus, result.grpcCode], [403, 7]);
  });
});

t.test('the AS rejects our target (invalid_target) → 403', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { EXCHANGE_RESOURCE: 'https://not-allowed.example.com/' }));
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice' }))));
  t.same([result.httpStatus, result.grpcCode], [403, 7]);
});

t.test('the AS rejects our client (invalid_client) → 500, logged as an error', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { CLIENT_SECRET: 'wrong-secret' }));
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice' }))));
  t.same([result.httpStatus, result.grpcCode], [500, 13]);
  t.ok(service.logs.some((line) => line.level === 'error' && line.outcome === 'misconfigured'), 'an error line names the misconfiguration');
  t.equal(service.logText().includes('wrong-secret'), false, 'the secret is not logged');
});

t.test('client_secret_post authenticates in the body', async (t) => {
  const as = await authorizationServer(t, { exchangeClients: [{ ...EXCHANGE_CLIENT, authMethod: 'client_secret_post' }] });
  const service = await startService(t, serviceEnv(as, { EXCHANGE_CLIENT_AUTH_METHOD: 'client_secret_post' }));
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice' }))));
  t.equal(result.allowed, true);
  t.equal(as.exchanges.at(-1)?.params.client_id, EXCHANGE_CLIENT.id);
});

t.test('audience, scope and requested_token_type are sent from the settings', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(
    t,
    serviceEnv(as, {
      EXCHANGE_RESOURCE: undefined,
      EXCHANGE_AUDIENCE: UPSTREAM,
      EXCHANGE_SCOPE: 'orders:read',
      EXCHANGE_REQUESTED_TOKEN_TYPE: 'urn:ietf:params:oauth:token-type:access_token',
    }),
  );
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice' }))));
  t.equal(result.allowed, true);
  const params = as.exchanges.at(-1)?.params;
  t.equal(params?.audience, UPSTREAM);
  t.equal(params?.scope, 'orders:read');
  t.equal(params?.requested_token_type, 'urn:ietf:params:oauth:token-type:access_token');
  t.equal(params?.resource, undefined);
  t.equal(decodeJwt(result.headers.authorization!.slice(7)).scope, 'orders:read');
});

t.test('a real client_credentials token from the AS is accepted', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  const result = summarize(await service.client.check(bearer(await as.clientCredentialsToken('mcp:tools'))));
  t.equal(result.allowed, true);
  t.equal(decodeJwt(result.headers.authorization!.slice(7)).aud, UPSTREAM);
});
