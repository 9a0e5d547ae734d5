import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import t, { type Test } from 'tap';
import type { IssuerConfig } from '../../src/config/model.js';
import { inboundToken } from '../../src/validation/inbound-token.js';
import { JwtValidator } from '../../src/validation/jwt.js';
import { Principals } from '../../src/validation/principal.js';
import { ManualClock } from '../fixtures/clock.js';

const ISSUER = 'https://as.example.com';
const issuer: IssuerConfig = { issuer: ISSUER, jwksUri: `${ISSUER}/jwks`, audiences: ['orders-api', 'billing-api'], algorithms: ['ES256'], tokenTypes: undefined, introspection: undefined, client: undefined };

const signing = await generateKeyPair('ES256');
const other = await generateKeyPair('ES256');
const es384 = await generateKeyPair('ES384');
const jwks = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }, { ...(await exportJWK(es384.publicKey)), kid: 'k384', alg: 'ES384', use: 'sig' }] };
/** The issuer's key set as jose holds it; the remote fetch is tested below. */
const localKeys = createLocalJWKSet(jwks);

const clock = new ManualClock(1_800_000_000_000);

/** A signed access token (RFC 9068) from the test issuer: valid for an hour from the clock's now unless `claims` says otherwise. */
function mint(claims: JWTPayload = {}, options: { key?: CryptoKey; kid?: string; alg?: string; typ?: string | undefined; omit?: string[] } = {}) {
  const payload: JWTPayload = { iss: ISSUER, aud: 'orders-api', sub: 'alice', iat: clock.seconds, exp: clock.seconds + 3600, ...claims };
  for (const name of options.omit ?? []) delete payload[name];
  const header = { alg: options.alg ?? 'ES256', kid: options.kid ?? 'k1', ...('typ' in options ? (options.typ === undefined ? {} : { typ: options.typ }) : { typ: 'at+jwt' }) };
  return new SignJWT(payload).setProtectedHeader(header).sign(options.key ?? signing.privateKey).then(inboundToken);
}

const validator = (overrides: Partial<IssuerConfig> = {}, keys: () => Promise<JWTVerifyGetKey> = async () => localKeys, tolerance = 0) => new JwtValidator({ ...issuer, ...overrides }, keys, tolerance, clock.now, new Principals());

t.test('misuse fails at construction: no algorithm allowed', async (t) => {
  t.throws(() => validator({ algorithms: [] }), TypeError);
});

t.test('a valid token: its principal, reusable until exp', async (t) => {
  const token = await mint({ client_id: 'app', scope: 'orders:read orders:write', scp: ['orders:admin'] });
  const { principal, reusableUntil } = await validator().validate(token);
  t.match(principal, { issuer: ISSUER, subject: 'alice', clientId: 'app', expiresAt: clock.seconds + 3600 });
  t.strictSame([...principal.scopes], ['orders:read', 'orders:write', 'orders:admin']);
  t.match(principal.subjectFingerprint, /^[A-Za-z0-9_-]{12}$/);
  t.equal(reusableUntil, (clock.seconds + 3600) * 1000);
});

t.test('the client: client_id, else azp, else none; a subject that is no string is none', async (t) => {
  t.equal((await validator().validate(await mint({ client_id: 'app', azp: 'other' }))).principal.clientId, 'app');
  t.equal((await validator().validate(await mint({ azp: 'spa' }))).principal.clientId, 'spa');
  t.equal((await validator().validate(await mint({ client_id: 7, azp: ['x'] }))).principal.clientId, undefined);
  const anonymous = (await validator().validate(await mint({}, { omit: ['sub'] }))).principal;
  t.equal(anonymous.subject, undefined);
  t.equal(anonymous.subjectFingerprint, undefined);
});

t.test('any one accepted audience is enough', async (t) => {
  t.equal((await validator().validate(await mint({ aud: ['other-api', 'billing-api'] }))).principal.subject, 'alice');
});

t.test('claims that refuse the token (RFC 9068 §4), each with a description that names no value', async (t) => {
  const cases: Array<[string, Promise<ReturnType<typeof inboundToken>>, string]> = [
    ['expired', mint({ exp: clock.seconds - 1 }), 'the access token expired'],
    ['exp now', mint({ exp: clock.seconds }), 'the access token expired'],
    ['no exp (RFC 9068 §2.2)', mint({}, { omit: ['exp'] }), 'the access token\'s "exp" claim is not acceptable'],
    ['another issuer', mint({ iss: 'https://evil.example.com' }), 'the access token\'s "iss" claim is not acceptable'],
    ['another audience', mint({ aud: 'other-api' }), 'the access token\'s "aud" claim is not acceptable'],
    ['not yet valid', mint({ nbf: clock.seconds + 60 }), 'the access token\'s "nbf" claim is not acceptable'],
  ];
  for (const [name, token, description] of cases) {
    await t.rejects(validator().validate(await token), { code: 'invalid_token', description }, name);
  }
});

t.test('the clock tolerance applies to exp and nbf', async (t) => {
  const lenient = validator({}, async () => localKeys, 30);
  t.equal((await lenient.validate(await mint({ exp: clock.seconds - 29 }))).principal.subject, 'alice');
  t.equal((await lenient.validate(await mint({ nbf: clock.seconds + 30 }))).principal.subject, 'alice');
  await t.rejects(lenient.validate(await mint({ exp: clock.seconds - 31 })), { code: 'invalid_token', description: 'the access token expired' });
});

t.test('time is the injected clock\'s', async (t) => {
  const token = await mint({ exp: clock.seconds + 60 });
  const later = new ManualClock(clock.now() + 61_000);
  const validatorLater = new JwtValidator(issuer, async () => localKeys, 0, later.now, new Principals());
  await t.rejects(validatorLater.validate(token), { code: 'invalid_token', description: 'the access token expired' });
  t.equal((await validator().validate(token)).principal.subject, 'alice');
});

t.test('signatures and keys', async (t) => {
  await t.rejects(validator().validate(await mint({}, { key: other.privateKey })), { code: 'invalid_token', description: 'the access token\'s signature is invalid' }, 'a known kid, another key');
  await t.rejects(validator().validate(await mint({}, { key: other.privateKey, kid: 'unknown' })), { code: 'invalid_token', description: 'the access token is signed with an unknown key' });
  await t.rejects(validator().validate(await mint({}, { key: es384.privateKey, kid: 'k384', alg: 'ES384' })), { code: 'invalid_token', description: 'the access token\'s signing algorithm is not allowed' }, 'a key the issuer has, an algorithm not allowed');
  t.equal((await validator({ algorithms: ['ES256', 'ES384'] }).validate(await mint({}, { key: es384.privateKey, kid: 'k384', alg: 'ES384' }))).principal.subject, 'alice', 'allowed when listed');
  const valid = (await mint()).value;
  const [header, payload, signature] = valid.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'mallory' })).toString('base64url');
  await t.rejects(validator().validate(inboundToken(`${header}.${forged}.${signature}`)), { code: 'invalid_token', description: 'the access token\'s signature is invalid' }, 'a changed payload');
  await t.rejects(validator().validate(inboundToken(`${header}.${payload}.`)), { code: 'invalid_token', description: 'the access token\'s signature is invalid' }, 'no signature');
});

t.test('anything malformed is invalid_token, never a crash', async (t) => {
  const signedNotJson = await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(signing.privateKey);
  for (const value of ['not-a-jwt', 'a.b.c', `${Buffer.from('not json').toString('base64url')}.e30.c2ln`, signedNotJson, '..']) {
    await t.rejects(validator().validate(inboundToken(value)), { code: 'invalid_token', description: 'the access token is malformed' }, value);
  }
});

t.test('typ (RFC 9068 §4), when checked: at+jwt with or without application/, any case', async (t) => {
  const checking = validator({ tokenTypes: ['at+jwt'] });
  for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/At+Jwt']) {
    t.equal((await checking.validate(await mint({}, { typ }))).principal.subject, 'alice', typ);
  }
  for (const typ of ['JWT', 'application/jwt', undefined]) {
    await t.rejects(checking.validate(await mint({}, { typ })), { code: 'invalid_token', description: 'the access token\'s "typ" header is not acceptable' }, String(typ));
  }
  t.equal((await validator().validate(await mint({}, { typ: 'JWT' }))).principal.subject, 'alice', 'not checked unless configured');
});

/** A real JWKS endpoint on loopback, answering as told. */
async function jwksEndpoint(t: Test, reply: () => { status: number; body: string }) {
  let calls = 0;
  const server = createServer((_request, response) => {
    calls++;
    const { status, body } = reply();
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`), calls: () => calls };
}

t.test('a key set fetched from the issuer\'s endpoint', async (t) => {
  const { url, calls } = await jwksEndpoint(t, () => ({ status: 200, body: JSON.stringify(jwks) }));
  const remote = createRemoteJWKSet(url);
  t.equal((await validator({}, async () => remote).validate(await mint())).principal.subject, 'alice');
  t.equal(calls(), 1);
});

t.test('a key set that cannot be had is unavailable (503), not the token\'s fault', async (t) => {
  for (const [name, status, body] of [
    ['HTTP 500', 500, '{}'],
    ['not JSON', 200, 'garbage'],
    ['no keys member', 200, '{"keys":"none"}'],
  ] as const) {
    const { url } = await jwksEndpoint(t, () => ({ status, body }));
    const remote = createRemoteJWKSet(url);
    await t.rejects(validator({}, async () => remote).validate(await mint()), { code: 'unavailable', description: 'the issuer\'s key set could not be fetched' }, name);
  }
});

t.test('an unexpected failure is internal, the cause kept', async (t) => {
  const broken = new TypeError('unexpected');
  await t.rejects(validator({}, () => Promise.reject(broken)).validate(await mint()), { code: 'internal', description: 'token validation failed unexpectedly', cause: broken });
});
