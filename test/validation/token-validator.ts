import t from 'tap';
import { AuthzError } from '../../src/errors.js';
import { inboundToken, type InboundToken } from '../../src/validation/inbound-token.js';
import type { Principal, Validation } from '../../src/validation/principal.js';
import { TokenValidator, type IssuerValidator } from '../../src/validation/token-validator.js';
import { ManualClock } from '../fixtures/clock.js';

const ISSUER = 'https://as.example.com';
const OTHER = 'https://other.example.com';
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A JWS compact serialisation with these claims; the signature is never checked here, only by the issuer's validator. */
const jws = (claims: unknown) => inboundToken(`${b64({ alg: 'ES256' })}.${b64(claims)}.c2ln`);

/** An issuer validator that answers from memory, counts its calls and says how long each answer may be reused. */
class FakeIssuerValidator implements IssuerValidator {
  readonly calls: Array<{ token: InboundToken; parent: unknown }> = [];
  constructor(
    readonly name: string,
    private readonly reusableFor: (now: number) => number,
    private readonly clock: ManualClock,
    private readonly failure?: AuthzError,
  ) {}

  async validate(token: InboundToken, parent?: unknown): Promise<Validation> {
    this.calls.push({ token, parent });
    if (this.failure) throw this.failure;
    const principal: Principal = { issuer: this.name, subject: `call-${this.calls.length}`, subjectFingerprint: undefined, clientId: undefined, scopes: [], expiresAt: 2e9 };
    return { principal, reusableUntil: this.reusableFor(this.clock.now()) };
  }
}

function setup(options: { opaque?: boolean; reusableMs?: number } = {}) {
  const clock = new ManualClock(1_800_000_000_000);
  const reusable = (now: number) => now + (options.reusableMs ?? 60_000);
  const issuer = new FakeIssuerValidator(ISSUER, reusable, clock);
  const other = new FakeIssuerValidator(OTHER, reusable, clock);
  const opaque = options.opaque ? new FakeIssuerValidator('introspection', reusable, clock) : undefined;
  const validator = new TokenValidator(new Map([[ISSUER, issuer], [OTHER, other]]), opaque, 100, clock.now);
  return { clock, issuer, other, opaque, validator };
}

t.test('a JWT goes to the validator of its `iss`, with the trace parent', async (t) => {
  const { validator, issuer, other } = setup();
  const parent = { span: 'parent' } as never;
  const principal = await validator.validate(jws({ iss: OTHER, sub: 'alice' }), parent);
  t.equal(principal.issuer, OTHER);
  t.equal(other.calls.length, 1);
  t.equal(other.calls[0]!.parent, parent);
  t.equal(issuer.calls.length, 0);
});

t.test('an untrusted or missing issuer is refused before any validator is called', async (t) => {
  const { validator, issuer, other } = setup({ opaque: true });
  for (const claims of [{ iss: 'https://evil.example.com' }, {}, { iss: 42 }]) {
    await t.rejects(async () => validator.validate(jws(claims)), { code: 'invalid_token', description: "the access token's issuer is not trusted" }, JSON.stringify(claims));
  }
  t.equal(issuer.calls.length + other.calls.length, 0);
});

t.test('anything that is not a JWS with a JSON object payload is opaque', async (t) => {
  const opaqueTokens = [
    'opaque-token',
    'a.b', // two parts
    `${b64({})}.${b64({ iss: ISSUER })}.sig.extra`, // four parts (a JWE has five)
    `${b64({})}.${b64('not json')}.sig`,
    `${b64({})}.${b64([{ iss: ISSUER }])}.sig`, // an array
    `${b64({})}.${b64('null')}.sig`,
    `${b64({})}.${b64('"a string"')}.sig`,
  ];
  const { validator, opaque, issuer } = setup({ opaque: true });
  for (const value of opaqueTokens) t.equal((await validator.validate(inboundToken(value))).issuer, 'introspection', value);
  t.equal(opaque!.calls.length, opaqueTokens.length);
  t.equal(issuer.calls.length, 0);
  const withoutIntrospection = setup().validator;
  for (const value of opaqueTokens) {
    await t.rejects(async () => withoutIntrospection.validate(inboundToken(value)), { code: 'invalid_token', description: 'the access token is malformed' }, `${value}, nobody introspects`);
  }
});

t.test('a validated principal is reused, synchronously, until the validator says', async (t) => {
  const { validator, issuer, clock } = setup({ reusableMs: 60_000 });
  const token = jws({ iss: ISSUER });
  const first = await validator.validate(token);
  clock.advance(60_000);
  const again = validator.validate(token);
  t.notOk(again instanceof Promise, 'a hit is answered without a promise');
  t.equal(again, first);
  t.equal(issuer.calls.length, 1);
  clock.advance(1);
  const fresh = await validator.validate(token);
  t.not(fresh, first, 'past its reuse, validated again');
  t.equal(issuer.calls.length, 2);
  await validator.validate(jws({ iss: ISSUER, sub: 'another token' }));
  t.equal(issuer.calls.length, 3, 'by token: another token is validated on its own');
});

t.test('an answer with no reuse left is not kept', async (t) => {
  for (const reusableMs of [0, -1000]) {
    const { validator, issuer } = setup({ reusableMs });
    const token = jws({ iss: ISSUER });
    await validator.validate(token);
    t.ok(validator.validate(token) instanceof Promise, `reusable for ${reusableMs} ms: validated again`);
    t.equal(issuer.calls.length, 2);
  }
});

t.test('a failure is passed on and not kept', async (t) => {
  const clock = new ManualClock(1_800_000_000_000);
  const failing = new FakeIssuerValidator(ISSUER, (now) => now + 60_000, clock, new AuthzError('unavailable', 'the issuer\'s key set could not be fetched'));
  const validator = new TokenValidator(new Map([[ISSUER, failing]]), undefined, 100, clock.now);
  const token = jws({ iss: ISSUER });
  await t.rejects(async () => validator.validate(token), { code: 'unavailable' });
  await t.rejects(async () => validator.validate(token), { code: 'unavailable' });
  t.equal(failing.calls.length, 2);
});
