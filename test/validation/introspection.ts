import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { ClientConfig, IssuerConfig } from '../../src/config/model.js';
import { RateLimitedError } from '../../src/errors.js';
import { clientAuthentication, type ClientAuthentication } from '../../src/oauth/client-auth.js';
import { HttpClient, type HttpResponse } from '../../src/oauth/http.js';
import { Metrics } from '../../src/ops/metrics.js';
import { inboundToken } from '../../src/validation/inbound-token.js';
import { IntrospectionValidator, processIntrospectionResponse, type IntrospectionOptions } from '../../src/validation/introspection.js';
import { Principals } from '../../src/validation/principal.js';
import { ManualClock } from '../fixtures/clock.js';

const ISSUER = 'https://as.example.com';
const NOW = 1_800_000_000_000;
const client: ClientConfig = { id: 'authz-gateway', authMethod: 'client_secret_basic', secret: 's3cret', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const issuerAt = (endpoint: string): IssuerConfig => ({ issuer: ISSUER, jwksUri: undefined, audiences: ['orders-api', 'billing-api'], algorithms: ['ES256'], tokenTypes: undefined, introspection: { endpoint, client }, client: undefined });
const issuer = issuerAt('https://as.example.com/introspect');

const answer = (status: number, body: unknown, extra: Partial<HttpResponse> = {}): HttpResponse => ({ status, contentType: 'application/json', body: typeof body === 'string' ? body : JSON.stringify(body), retryAfter: undefined, ...extra });
const processed = (response: HttpResponse, tolerance = 0) => processIntrospectionResponse(response, issuer, NOW, tolerance);
const seconds = NOW / 1000;

t.test('processor: statuses (SPEC §3)', async (t) => {
  t.throws(() => processed(answer(401, {})), { code: 'misconfigured', description: "the introspection endpoint rejected this service's client (HTTP 401)" });
  t.throws(() => processed(answer(403, {})), { code: 'misconfigured' });
  t.throws(() => processed(answer(500, {})), { code: 'unavailable', description: 'the introspection endpoint answered HTTP 500' });
  t.throws(() => processed(answer(503, {})), { code: 'unavailable' });
  t.throws(() => processed(answer(400, { error: 'unsupported_token_type' })), { code: 'invalid_token', description: 'the introspection endpoint refused the token (HTTP 400)' });
  t.throws(() => processed(answer(404, '')), { code: 'invalid_token' });
  t.throws(() => processed(answer(204, '')), { code: 'invalid_token' }, 'a 2xx other than 200 too');
});

t.test('processor: 429 carries the server\'s wait, capped (RFC 6585 §4)', async (t) => {
  for (const [retryAfter, expected] of [['17', 17], [undefined, 1], ['3600', 60]] as const) {
    try {
      processed(answer(429, {}, { retryAfter }));
      t.fail('should have thrown');
    } catch (error) {
      t.ok(error instanceof RateLimitedError, `retry-after ${retryAfter}`);
      t.equal((error as RateLimitedError).retryAfterSeconds, expected);
    }
  }
});

t.test('processor: a body that is no introspection answer is garbage (503)', async (t) => {
  t.throws(() => processed(answer(200, 'not json')), { code: 'unavailable' });
  t.throws(() => processed(answer(200, [{ active: true }])), { code: 'unavailable' });
  t.throws(() => processed(answer(200, {})), { code: 'unavailable', description: 'the introspection response has no "active" member' });
  t.throws(() => processed(answer(200, { active: 'true' })), { code: 'unavailable' }, '"active" must be a boolean');
});

t.test('processor: inactive, expired, not yet valid (RFC 7662 §2.2)', async (t) => {
  t.throws(() => processed(answer(200, { active: false })), { code: 'invalid_token', description: 'the access token is not active' });
  t.throws(() => processed(answer(200, { active: true, exp: seconds })), { code: 'invalid_token', description: 'the access token expired' }, 'exp now: expired');
  t.throws(() => processed(answer(200, { active: true, exp: seconds - 5 }), 5), { code: 'invalid_token' }, 'at the edge of the tolerance');
  t.match(processed(answer(200, { active: true, exp: seconds - 4 }), 5), { active: true }, 'inside the tolerance');
  t.match(processed(answer(200, { active: true, exp: seconds + 1 })), { active: true });
  t.throws(() => processed(answer(200, { active: true, nbf: seconds + 1 })), { code: 'invalid_token', description: 'the access token is not yet valid' });
  t.match(processed(answer(200, { active: true, nbf: seconds + 5 }), 5), { active: true }, 'nbf inside the tolerance');
  t.match(processed(answer(200, { active: true, nbf: seconds })), { active: true });
  t.match(processed(answer(200, { active: true, exp: String(seconds - 100), nbf: 'later' })), { active: true }, 'exp and nbf are checked only as numbers');
});

t.test('processor: iss and aud, when present', async (t) => {
  t.throws(() => processed(answer(200, { active: true, iss: 'https://evil.example.com' })), { code: 'invalid_token', description: 'the access token\'s "iss" is not acceptable' });
  t.throws(() => processed(answer(200, { active: true, iss: null })), { code: 'invalid_token' }, 'present but not the issuer');
  t.match(processed(answer(200, { active: true, iss: ISSUER })), { iss: ISSUER });
  t.throws(() => processed(answer(200, { active: true, aud: 'other-api' })), { code: 'invalid_token', description: 'the access token\'s "aud" is not acceptable' });
  t.throws(() => processed(answer(200, { active: true, aud: ['other-api', 'more'] })), { code: 'invalid_token' });
  t.throws(() => processed(answer(200, { active: true, aud: [] })), { code: 'invalid_token' }, 'an empty audience list');
  t.match(processed(answer(200, { active: true, aud: 'billing-api' })), { aud: 'billing-api' });
  t.match(processed(answer(200, { active: true, aud: ['other-api', 'orders-api'] })), { active: true }, 'one accepted audience is enough');
  t.strictSame(processed(answer(200, { active: true, sub: 'alice', scope: 'read' })), { active: true, sub: 'alice', scope: 'read' }, 'the claims, as answered');
});

interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly form: Record<string, string>;
}

/** A real introspection endpoint on loopback: answers each request with `reply()`, and keeps what it was sent. */
async function endpoint(t: Test, reply: () => { status: number; body: unknown; headers?: Record<string, string> }) {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, form: Object.fromEntries(new URLSearchParams(body)) });
      const { status, body: answerBody, headers } = reply();
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(typeof answerBody === 'string' ? answerBody : JSON.stringify(answerBody));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`, seen };
}

const OPTIONS: IntrospectionOptions = { clockToleranceSeconds: 0, maxCacheSeconds: 300, inactiveCacheSeconds: 10, cacheMax: 100 };

/** A validator against `url`, on a manual clock, with the real HTTP client, client authentication, metrics and principals. */
function validatorFor(t: Test, url: string, options: Partial<IntrospectionOptions> = {}, authenticate?: ClientAuthentication) {
  const clock = new ManualClock(NOW);
  const http = new HttpClient({ timeoutMs: 5000, maxResponseBytes: 64 * 1024 });
  t.teardown(() => http.close());
  const metrics = new Metrics({ version: 't', nodeVersion: 'v' });
  const validator = new IntrospectionValidator(issuerAt(url), http, authenticate ?? clientAuthentication(client, ISSUER, clock.now), { ...OPTIONS, ...options }, clock.now, metrics, new Principals());
  const calls = async () => {
    const counter = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === 'authz_introspection_calls_total')!;
    return Object.fromEntries(counter.values.map(({ labels, value }) => [labels.outcome, value]));
  };
  return { validator, clock, calls };
}

t.test('the request (RFC 7662 §2.1): a POST of the token with its hint, the client authenticated', async (t) => {
  const { url, seen } = await endpoint(t, () => ({ status: 200, body: { active: true, sub: 'alice', exp: seconds + 60 } }));
  const { validator } = validatorFor(t, url);
  await validator.validate(inboundToken('opaque-token-value'));
  t.equal(seen.length, 1);
  t.equal(seen[0]!.method, 'POST');
  t.equal(seen[0]!.url, '/introspect');
  t.match(seen[0]!.headers['content-type'], /^application\/x-www-form-urlencoded/);
  t.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from('authz-gateway:s3cret').toString('base64')}`);
  t.strictSame(seen[0]!.form, { token: 'opaque-token-value', token_type_hint: 'access_token' });
});

t.test('an active token: the principal from its claims, reused until exp but never past the cap', async (t) => {
  const { url } = await endpoint(t, () => ({ status: 200, body: { active: true, sub: 'alice', client_id: 'app', scope: 'orders:read orders:write', exp: seconds + 60, iss: ISSUER, aud: 'orders-api' } }));
  const { validator, calls } = validatorFor(t, url);
  const { principal, reusableUntil } = await validator.validate(inboundToken('t1'));
  t.match(principal, { issuer: ISSUER, subject: 'alice', clientId: 'app', scopes: ['orders:read', 'orders:write'], expiresAt: seconds + 60 });
  t.match(principal.subjectFingerprint, /^[A-Za-z0-9_-]{12}$/);
  t.equal(reusableUntil, NOW + 60_000, 'until exp');
  const capped = validatorFor(t, url, { maxCacheSeconds: 30 });
  t.equal((await capped.validator.validate(inboundToken('t1'))).reusableUntil, NOW + 30_000, 'the cap comes first');
  t.strictSame(await calls(), { active: 1 });
});

t.test('an active token without exp, sub or client_id', async (t) => {
  const { url } = await endpoint(t, () => ({ status: 200, body: { active: true, sub: 42, client_id: ['app'] } }));
  const { validator } = validatorFor(t, url);
  const { principal, reusableUntil } = await validator.validate(inboundToken('t1'));
  t.equal(reusableUntil, NOW + 300_000, 'reused for the cap');
  t.equal(principal.expiresAt, seconds + 300, 'and expires with it');
  t.equal(principal.subject, undefined, 'a subject that is not a string is none');
  t.equal(principal.clientId, undefined);
  t.strictSame([...principal.scopes], []);
});

t.test('an inactive token is remembered for inactiveCacheSeconds, on the clock', async (t) => {
  const { url, seen } = await endpoint(t, () => ({ status: 200, body: { active: false } }));
  const { validator, clock, calls } = validatorFor(t, url, { inactiveCacheSeconds: 10 });
  const token = inboundToken('revoked');
  await t.rejects(validator.validate(token), { code: 'invalid_token', description: 'the access token is not active' });
  clock.advance(10_000);
  await t.rejects(validator.validate(token), { code: 'invalid_token', description: 'the access token is not active' });
  t.equal(seen.length, 1, 'answered from memory, no call');
  await t.rejects(validator.validate(inboundToken('another')), { code: 'invalid_token' });
  t.equal(seen.length, 2, 'by token');
  clock.advance(1);
  await t.rejects(validator.validate(token), { code: 'invalid_token' });
  t.equal(seen.length, 3, 'asked again once the memory expired');
  t.strictSame(await calls(), { inactive: 3 }, 'a remembered answer is no call');
});

t.test('every invalid_token is remembered; with inactiveCacheSeconds 0, none is', async (t) => {
  const { url, seen } = await endpoint(t, () => ({ status: 200, body: { active: true, exp: seconds - 10 } }));
  const remembering = validatorFor(t, url);
  await t.rejects(remembering.validator.validate(inboundToken('expired')), { code: 'invalid_token', description: 'the access token expired' });
  await t.rejects(remembering.validator.validate(inboundToken('expired')), { code: 'invalid_token', description: 'the access token is not active' });
  t.equal(seen.length, 1);
  const forgetting = validatorFor(t, url, { inactiveCacheSeconds: 0 });
  await t.rejects(forgetting.validator.validate(inboundToken('expired')), { code: 'invalid_token' });
  await t.rejects(forgetting.validator.validate(inboundToken('expired')), { code: 'invalid_token' });
  t.equal(seen.length, 3);
});

t.test('server faults are passed on, counted by code and never remembered', async (t) => {
  let status = 503;
  const { url, seen } = await endpoint(t, () => ({ status, body: { error: 'x' }, headers: status === 429 ? { 'retry-after': '9' } : undefined }));
  const { validator, calls } = validatorFor(t, url);
  const token = inboundToken('t1');
  await t.rejects(validator.validate(token), { code: 'unavailable' });
  status = 401;
  await t.rejects(validator.validate(token), { code: 'misconfigured' });
  status = 429;
  await t.rejects(validator.validate(token), { code: 'unavailable', retryAfterSeconds: 9 });
  t.equal(seen.length, 3, 'each one asked again');
  t.strictSame(await calls(), { unavailable: 2, misconfigured: 1 });
});

t.test('an unreachable endpoint is unavailable', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/introspect`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const { validator, calls } = validatorFor(t, url);
  await t.rejects(validator.validate(inboundToken('t1')), { code: 'unavailable' });
  t.strictSame(await calls(), { unavailable: 1 });
});

t.test('an unexpected failure is passed on and counted as internal', async (t) => {
  const { url, seen } = await endpoint(t, () => ({ status: 200, body: { active: true } }));
  const broken = new TypeError('the client authentication failed unexpectedly');
  /** A client authentication that throws what nothing anticipated. */
  const failingAuthentication: ClientAuthentication = () => {
    throw broken;
  };
  const { validator, calls } = validatorFor(t, url, {}, failingAuthentication);
  await t.rejects(validator.validate(inboundToken('t1')), broken);
  t.equal(seen.length, 0);
  t.strictSame(await calls(), { internal: 1 });
});
