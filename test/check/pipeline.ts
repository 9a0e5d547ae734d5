import t from 'tap';
import { CheckPipeline, type Decision, type TokenValidator } from '../../src/check/pipeline.js';
import type { ClientConfig, TargetConfig } from '../../src/config/model.js';
import { AuthzError } from '../../src/errors.js';
import { ExchangeCache } from '../../src/exchange/cache.js';
import { TargetSelector } from '../../src/exchange/targets.js';
import type { ExchangeResult, TokenExchanger } from '../../src/exchange/token-exchange.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { CheckRequest, HttpRequestAttributes } from '../../src/request/check-request.js';
import type { InboundToken } from '../../src/validation/inbound-token.js';
import type { Principal } from '../../src/validation/principal.js';
import { ManualClock } from '../fixtures/clock.js';
import { targetConfig } from '../fixtures/target.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
const client: ClientConfig = { id: 'authz', authMethod: 'client_secret_basic', secret: 's', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };

/** A validator that answers with `principal`, synchronously (a cache hit) or not, or fails as told; it records what it saw. */
class FakeValidator implements TokenValidator {
  readonly seen: Array<{ token: InboundToken; parent: unknown }> = [];
  constructor(private readonly answer: () => Principal | Promise<Principal>) {}
  validate(token: InboundToken, parent?: unknown): Principal | Promise<Principal> {
    this.seen.push({ token, parent });
    return this.answer();
  }
}

/** An exchanger that answers from memory (the cache and the target selection under test are the real ones). */
function fakeExchanger(target: TargetConfig, answer: (subject: string, actor: string | undefined) => Promise<ExchangeResult>) {
  const calls: Array<{ subject: string; actor: string | undefined; parent: unknown }> = [];
  const fake = {
    target,
    identity: target.name,
    calls,
    exchange: (subject: string, actor: string | undefined, parent?: unknown) => {
      calls.push({ subject, actor, parent });
      return answer(subject, actor);
    },
  };
  return fake as typeof fake & TokenExchanger;
}

const clock = new ManualClock(1_800_000_000_000);
const alice: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: ['orders:read'], expiresAt: clock.seconds + 3600 };

function setup(options: { validator?: FakeValidator; answer?: (subject: string, actor: string | undefined) => Promise<ExchangeResult>; targets?: Array<Partial<TargetConfig>>; defaultTarget?: string | undefined; metadataPaths?: string[] } = {}) {
  const answer = options.answer ?? (async (subject: string) => ({ accessToken: `exchanged-for-${subject.length}`, expiresIn: 600 }));
  const exchangers = (options.targets ?? [{}]).map((overrides) => fakeExchanger(targetConfig({ client, ...overrides }), answer));
  const validator = options.validator ?? new FakeValidator(() => alice);
  const cache = new ExchangeCache(100, 300, clock.now, new Metrics({ version: 't', nodeVersion: 'v' }), (value) => ({ value }));
  const pipeline = new CheckPipeline({
    maxTokenBytes: 4096,
    validator,
    targets: new TargetSelector(exchangers, { targetContextKey: 'target', defaultTarget: 'defaultTarget' in options ? options.defaultTarget : 'default' }),
    cache,
    metadataPaths: new Set(options.metadataPaths ?? []),
  });
  return { pipeline, validator, exchangers, exchanger: exchangers[0]! };
}

const check = (http: HttpRequestAttributes): CheckRequest => ({ attributes: { request: { http: { method: 'GET', path: '/orders', host: 'api.example.com', ...http } } } });
const bearer = (headers: Record<string, string> = {}, http: Partial<HttpRequestAttributes> = {}) => check({ headers: { authorization: `Bearer ${TOKEN}`, ...headers }, ...http });

/** The denial's code, or 'allowed'. */
const outcome = (decision: Decision) => (decision.allowed ? 'allowed' : decision.error.code);

t.test('a first check: validated, exchanged, allowed with everything the transports report', async (t) => {
  const { pipeline, validator, exchanger } = setup();
  const parent = { span: 'check' } as never;
  const pending = pipeline.decide(bearer(), parent);
  t.ok(pending instanceof Promise, 'the exchange is a call: a promise');
  const decision = await pending;
  t.equal(decision.allowed, true);
  if (!decision.allowed) return;
  t.equal(decision.exchanged.value, `exchanged-for-${TOKEN.length}`);
  t.equal(decision.cached, false);
  t.equal(decision.principal, alice);
  t.equal(decision.token.value, TOKEN);
  t.equal(decision.exchanger, exchanger);
  t.equal(validator.seen[0]!.parent, parent, 'the validator gets the trace parent');
  t.strictSame(exchanger.calls, [{ subject: TOKEN, actor: undefined, parent }], 'the exchange gets the inbound token and the trace parent');
});

t.test('every phase answered from a cache: the decision is synchronous', async (t) => {
  const { pipeline, exchanger } = setup();
  await pipeline.decide(bearer());
  const again = pipeline.decide(bearer());
  t.notOk(again instanceof Promise, 'no promise on the hot path');
  t.match(again, { allowed: true, cached: true, exchanged: { value: `exchanged-for-${TOKEN.length}` } });
  t.equal(exchanger.calls.length, 1);
});

t.test('a validator that answers later: the exchange follows', async (t) => {
  const { pipeline } = setup({ validator: new FakeValidator(async () => alice) });
  t.match(await pipeline.decide(bearer()), { allowed: true, cached: false, principal: alice });
});

t.test('no HTTP attributes: not_http, before anything else', async (t) => {
  const { pipeline, validator } = setup();
  for (const request of [{}, { attributes: { request: {} } }] as CheckRequest[]) {
    const decision = pipeline.decide(request) as Decision;
    t.equal(outcome(decision), 'not_http');
    t.equal(decision.allowed === false && decision.token, undefined);
  }
  t.equal(validator.seen.length, 0);
});

t.test('the token phase: its denials carry no token when there is none', async (t) => {
  const { pipeline, validator } = setup();
  const missing = pipeline.decide(check({ headers: {} })) as Decision;
  t.equal(outcome(missing), 'missing_token');
  t.equal(missing.allowed === false && missing.token, undefined);
  t.equal(outcome(pipeline.decide(check({ headers: { authorization: 'Bearer a, Bearer b' } })) as Decision), 'invalid_request');
  t.equal(outcome(pipeline.decide(check({ headers: { authorization: `Bearer ${'a'.repeat(4097)}` } })) as Decision), 'invalid_token', 'longer than maxTokenBytes');
  t.equal(validator.seen.length, 0, 'nothing reached the validator');
});

t.test('a second token in the query or a form body: invalid_request, with the token known (RFC 6750 §2)', async (t) => {
  const { pipeline, validator } = setup();
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: Array<[string, CheckRequest]> = [
    ['query', bearer({}, { path: '/orders?access_token=x' })],
    ['body', bearer(form, { method: 'POST', body: 'a=1&access_token=x' })],
    ['raw body', bearer(form, { method: 'POST', raw_body: Buffer.from('access_token=x') })],
  ];
  for (const [name, request] of cases) {
    const decision = pipeline.decide(request) as Decision;
    t.equal(outcome(decision), 'invalid_request', name);
    t.equal(decision.allowed === false && decision.token?.value, TOKEN, `${name}: the denial names the token (for its fingerprint)`);
  }
  t.equal(validator.seen.length, 0);
  t.equal(outcome(await pipeline.decide(bearer(form, { method: 'POST', body: 'a=1' }))), 'allowed', 'a body without one is fine');
  t.equal(outcome(await pipeline.decide(bearer({ 'content-type': 'application/json' }, { method: 'POST', raw_body: Buffer.from('{"access_token":"x"}') }))), 'allowed', 'raw bytes that are no form');
});

t.test('validation failures become denials, an unexpected one internal', async (t) => {
  const cases: Array<[string, FakeValidator, string]> = [
    ['thrown', new FakeValidator(() => { throw new AuthzError('invalid_token', 'expired'); }), 'invalid_token'],
    ['rejected', new FakeValidator(() => Promise.reject(new AuthzError('unavailable', 'down'))), 'unavailable'],
    ['unexpected, thrown', new FakeValidator(() => { throw new TypeError('bug'); }), 'internal'],
    ['unexpected, rejected', new FakeValidator(() => Promise.reject(new TypeError('bug'))), 'internal'],
  ];
  for (const [name, validator, code] of cases) {
    const { pipeline, exchanger } = setup({ validator });
    const decision = await pipeline.decide(bearer());
    t.equal(outcome(decision), code, name);
    t.equal(decision.allowed === false && decision.token?.value, TOKEN, `${name}: with the token`);
    t.equal(decision.principal, undefined, `${name}: no principal`);
    t.equal(exchanger.calls.length, 0);
  }
});

t.test('the target phase: no target is a denial that knows the principal', async (t) => {
  const { pipeline } = setup({ defaultTarget: undefined });
  const decision = pipeline.decide(bearer()) as Decision;
  t.equal(outcome(decision), 'no_target');
  t.equal(decision.principal, alice);
  t.equal(decision.exchanger, undefined);
});

t.test('the target chosen by the route, with its own required scopes', async (t) => {
  const { pipeline, exchangers } = setup({ targets: [{}, { name: 'admin', requiredScopes: ['orders:admin'], match: { context: ['admin'], hosts: [], pathPrefixes: [], destinationPrincipals: [] } }] });
  const request = { attributes: { context_extensions: { target: 'admin' }, request: { http: { path: '/', headers: { authorization: `Bearer ${TOKEN}` } } } } };
  const decision = pipeline.decide(request) as Decision;
  t.equal(outcome(decision), 'insufficient_scope');
  t.equal(decision.exchanger, exchangers[1], 'the denial names the target');
  t.equal(decision.principal, alice);
  t.strictSame(decision.allowed === false && (decision.error as { requiredScopes?: string[] }).requiredScopes, ['orders:admin']);
  t.equal(outcome(await pipeline.decide(bearer())), 'allowed', 'the default target needs no scope');
});

t.test('the actor phase (RFC 8693 §2.1): from a header, or a denial', async (t) => {
  const actor = { source: 'header', header: 'x-actor-token', token: undefined, tokenType: 'urn:ietf:params:oauth:token-type:access_token' } as const;
  const { pipeline, exchanger } = setup({ targets: [{ actor }] });
  t.equal(outcome(await pipeline.decide(bearer({ 'x-actor-token': 'actor-1' }))), 'allowed');
  t.equal(exchanger.calls[0]!.actor, 'actor-1');
  const refused = pipeline.decide(bearer({ 'x-actor-token': 'a, b' })) as Decision;
  t.equal(outcome(refused), 'invalid_request');
  t.equal(refused.exchanger, exchanger);
  t.equal(exchanger.calls.length, 1);
});

t.test('a failed exchange is a denial that names the target; an unexpected one internal', async (t) => {
  for (const [thrown, code] of [
    [new AuthzError('exchange_refused', 'refused'), 'exchange_refused'],
    [new RangeError('bug'), 'internal'],
  ] as const) {
    const { pipeline, exchanger } = setup({ answer: () => Promise.reject(thrown) });
    const decision = await pipeline.decide(bearer());
    t.equal(outcome(decision), code);
    t.equal(decision.exchanger, exchanger);
    t.equal(decision.principal, alice);
    t.equal(decision.allowed === false && decision.error.cause, code === 'internal' ? thrown : undefined);
  }
});

t.test('RFC 9728 metadata: a GET or HEAD of exactly a metadata path is answered, token or not (SPEC §4a)', async (t) => {
  const { pipeline, validator } = setup({ metadataPaths: [METADATA_PATH] });
  for (const request of [check({ method: 'GET', path: METADATA_PATH }), check({ method: 'HEAD', path: METADATA_PATH }), check({ path: `${METADATA_PATH}?x=1` }), bearer({}, { path: METADATA_PATH })]) {
    t.equal(outcome(pipeline.decide(request) as Decision), 'resource_metadata', `${request.attributes!.request!.http!.method} ${request.attributes!.request!.http!.path}`);
  }
  for (const request of [check({ method: 'POST', path: METADATA_PATH }), check({ path: `${METADATA_PATH}/more` }), check({ path: undefined }), check({ method: undefined, path: METADATA_PATH })]) {
    t.equal(outcome(pipeline.decide(request) as Decision), 'missing_token', `${request.attributes!.request!.http!.method} ${request.attributes!.request!.http!.path}: an ordinary check`);
  }
  t.equal(validator.seen.length, 0);
  const none = setup();
  t.equal(outcome(none.pipeline.decide(check({ path: METADATA_PATH })) as Decision), 'missing_token', 'no metadata paths: nothing is answered directly');
});
