/**
 * SPEC §3 "Every other credential the service consumed is removed on the way
 * upstream" and the 400 row for a query token (RFC 6750 §2: one method per
 * request), from outside: the real gRPC listener and the real HTTP
 * authorization listener of one service, in front of a real authorization
 * server (oidc-provider) that does the exchange.
 */
import t from 'tap';
import { envoyCheckRequest, summarize } from '../fixtures/envoy-client.js';
import { responseStrings } from '../fixtures/property-wire.js';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';
import { assertNotEchoed, check, expectedPair, MODES, RESOURCE_METADATA_URL, startBothListeners, statusPair } from '../fixtures/security.js';

const ACTOR_HEADER = 'x-actor-token';
const TOKEN_HEADER = 'x-upstream-token';
const INVALID_REQUEST = `Bearer error="invalid_request", resource_metadata="${RESOURCE_METADATA_URL}"`;

t.test('actor token from a header (EXCHANGE_ACTOR_SOURCE=header)', async (t) => {
  const as = await authorizationServer(t);
  const service = await startBothListeners(t, serviceEnv(as, { EXCHANGE_ACTOR_SOURCE: 'header', EXCHANGE_ACTOR_HEADER: ACTOR_HEADER }));

  for (const mode of MODES) {
    for (const [form, raw] of mode === 'grpc' ? ([['headers map', false], ['header_map (encode_raw_headers)', true]] as const) : ([['HTTP/1.1', false]] as const)) {
      for (const prefixed of [false, true]) {
        t.test(`${mode}, ${form}, actor header ${prefixed ? '"Bearer <token>"' : '<token>'}: the actor header is removed, authorization is overwritten`, async (t) => {
          const subject = await as.mintAccessToken({ sub: 'alice' });
          const actor = await as.mintAccessToken({ sub: 'agent-7' });
          const verdict = await check(service, mode, { headers: { authorization: `Bearer ${subject}`, [ACTOR_HEADER]: prefixed ? `Bearer ${actor}` : actor }, raw });
          t.equal(verdict.allowed, true, 'allowed');
          t.equal(as.exchanges.at(-1)?.params.actor_token, actor, 'the actor token was consumed for the exchange');
          t.ok(verdict.removed.includes(ACTOR_HEADER), `${ACTOR_HEADER} is removed (removed: ${JSON.stringify(verdict.removed)})`);
          t.notOk(verdict.removed.includes('authorization'), 'the header being set is never listed for removal');
          t.match(verdict.headers.authorization, /^Bearer \S+$/, 'authorization: Bearer <exchanged>');
          assertNotEchoed(t, verdict, [subject, actor], 'allowed with an actor');
        });
      }
    }
  }

  t.test('a request without the actor header is not given an actor', async (t) => {
    const subject = await as.mintAccessToken({ sub: 'bob' });
    const verdict = await check(service, 'grpc', { headers: { authorization: `Bearer ${subject}` } });
    t.equal(verdict.allowed, true);
    t.notOk('actor_token' in (as.exchanges.at(-1)?.params ?? {}), 'no actor_token sent');
    t.notOk(verdict.removed.includes('authorization'));
  });
});

t.test('exchanged token to another header (EXCHANGE_TOKEN_HEADER), actor from a header', async (t) => {
  const as = await authorizationServer(t);
  const service = await startBothListeners(t, serviceEnv(as, { EXCHANGE_ACTOR_SOURCE: 'header', EXCHANGE_ACTOR_HEADER: ACTOR_HEADER, EXCHANGE_TOKEN_HEADER: TOKEN_HEADER }));
  for (const mode of MODES) {
    t.test(`${mode}: authorization and the actor header are removed, ${TOKEN_HEADER} is set and not removed`, async (t) => {
      const subject = await as.mintAccessToken({ sub: 'carol' });
      const actor = await as.mintAccessToken({ sub: 'agent-8' });
      const verdict = await check(service, mode, { headers: { authorization: `Bearer ${subject}`, [ACTOR_HEADER]: actor } });
      t.equal(verdict.allowed, true, 'allowed');
      t.match(verdict.headers[TOKEN_HEADER], /^Bearer \S+$/, `${TOKEN_HEADER}: Bearer <exchanged>`);
      t.ok(verdict.removed.includes('authorization'), 'the inbound authorization is removed');
      t.ok(verdict.removed.includes(ACTOR_HEADER), `${ACTOR_HEADER} is removed (removed: ${JSON.stringify(verdict.removed)})`);
      t.notOk(verdict.removed.includes(TOKEN_HEADER), 'the header being set is never listed for removal');
      assertNotEchoed(t, verdict, [subject, actor], 'allowed with an actor');
    });
  }
});

t.test('a bearer header plus an access_token query parameter → 400 invalid_request (RFC 6750 §2)', async (t) => {
  const as = await authorizationServer(t);
  const service = await startBothListeners(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'dave' });
  const other = await as.mintAccessToken({ sub: 'erin' });

  const denied: Array<[string, string]> = [
    ['the only parameter', `/x?access_token=${token}`],
    ['after another parameter', `/x?a=1&access_token=${token}`],
    ['before another parameter', `/mcp?access_token=${token}&a=1`],
    ['another valid token in the query', `/mcp?access_token=${other}`],
    ['name percent-encoded (%61ccess_token)', `/x?%61ccess_token=${token}`],
    ['name percent-encoded (access%5Ftoken)', `/x?access%5Ftoken=${token}`],
    ['name percent-encoded, lower-case hex (access%5ftoken)', `/x?access%5ftoken=${token}`],
    ['repeated', `/x?access_token=${token}&access_token=${token}`],
    ['empty value', '/x?access_token='],
    ['no value', '/x?access_token'],
    ['";" separator', `/x?a=1;access_token=${token}`],
    // Names an upstream framework reads as access_token: Rack/PHP array syntax, and
    // case-insensitive query collections (ASP.NET Core).
    ['array syntax (access_token[])', `/x?access_token[]=${token}`],
    ['another case (Access_Token)', `/x?Access_Token=${token}`],
  ];
  for (const mode of MODES) {
    for (const [name, path] of denied) {
      t.test(`${mode}: ${name}`, async (t) => {
        const verdict = await check(service, mode, { headers: { authorization: `Bearer ${token}` }, path });
        t.same(statusPair(verdict), expectedPair(mode, 400, 3), '400, gRPC 3');
        t.equal(verdict.headers['www-authenticate'], INVALID_REQUEST, 'invalid_request challenge with resource_metadata');
        t.match(JSON.parse(verdict.body || '{}'), { error: 'invalid_request' }, 'JSON body error');
        t.equal(verdict.headers.authorization, undefined, 'no authorization header in the answer');
        assertNotEchoed(t, verdict, [token, other], name);
      });
    }
  }

  for (const [proxy, header] of [
    ['Traefik forwardAuth', 'x-forwarded-uri'],
    ['nginx auth_request', 'x-original-uri'],
  ] as const) {
    t.test(`http: the query token in ${header} (${proxy}) → 400`, async (t) => {
      const verdict = await check(service, 'http', { headers: { authorization: `Bearer ${token}`, [header]: `/mcp?a=1&access_token=${token}` }, path: '/auth' });
      t.same(statusPair(verdict), [400, undefined]);
      t.equal(verdict.headers['www-authenticate'], INVALID_REQUEST);
      assertNotEchoed(t, verdict, [token], header);
    });
  }

  for (const mode of MODES) {
    t.test(`${mode}: a query token without a bearer header is not a credential here → 401, bare challenge`, async (t) => {
      const verdict = await check(service, mode, { headers: {}, path: `/x?access_token=${token}` });
      t.same(statusPair(verdict), expectedPair(mode, 401, 16));
      t.equal(verdict.headers['www-authenticate'], `Bearer resource_metadata="${RESOURCE_METADATA_URL}"`);
      assertNotEchoed(t, verdict, [token], 'query only');
    });
  }

  const allowed = ['/x?a=1', '/x?a=1&b=2', '/x?q=access_token', '/x?token_type=access_token&page=2', '/mcp?'];
  for (const mode of MODES) {
    for (const path of allowed) {
      t.test(`${mode}: ${path} has no access_token parameter → allowed, and the path is not in the answer`, async (t) => {
        const verdict = await check(service, mode, { headers: { authorization: `Bearer ${token}` }, path });
        t.equal(verdict.allowed, true, `allowed (${verdict.status} ${verdict.body})`);
        const query = path.slice(path.indexOf('?'));
        t.equal(verdict.text.includes(path), false, 'the path is not in the answer');
        if (query.length > 1) t.equal(verdict.text.includes(query), false, 'nor its query');
        assertNotEchoed(t, verdict, [token], path);
      });
    }
  }
});

t.test('gRPC with the request body (with_request_body): a bearer header plus a form-encoded access_token → 400 (RFC 6750 §2.2)', async (t) => {
  const as = await authorizationServer(t);
  const service = await startBothListeners(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'frank' });
  const FORM = 'application/x-www-form-urlencoded';

  /** A Check as Envoy sends it with `with_request_body`: the body in `body`, or in `raw_body` with `pack_as_bytes`. */
  async function checkWithBody(contentType: string, body: string, field: 'body' | 'raw_body') {
    const request = envoyCheckRequest({ method: 'POST', path: '/mcp', headers: { authorization: `Bearer ${token}`, 'content-type': contentType } });
    const http = (request.attributes as { request: { http: Record<string, unknown> } }).request.http;
    http[field] = field === 'body' ? body : Buffer.from(body, 'utf8');
    http.size = String(Buffer.byteLength(body));
    return service.client.checkRaw(request);
  }

  for (const field of ['body', 'raw_body'] as const) {
    for (const [contentType, body] of [
      [FORM, `access_token=${token}`],
      [FORM, `a=1&access_token=${token}`],
      [`${FORM}; charset=utf-8`, `access%5Ftoken=${token}`],
    ] as const) {
      t.test(`${field}, ${contentType}: ${body.slice(0, 20)}…`, async (t) => {
        const response = await checkWithBody(contentType, body, field);
        const result = summarize(response);
        t.same([result.httpStatus, result.grpcCode], [400, 3]);
        t.equal(result.headers['www-authenticate'], INVALID_REQUEST);
        t.equal(responseStrings(response).some((text) => text.includes(token)), false, 'the token is not in the answer');
      });
    }
    t.test(`${field}: a form body without access_token is allowed`, async (t) => {
      t.equal(summarize(await checkWithBody(FORM, 'a=1&q=access_token', field)).allowed, true);
    });
  }
});
