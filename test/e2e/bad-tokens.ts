/**
 * Inbound tokens that must be refused with 401 invalid_token before any call to
 * the token endpoint (SPEC §3), against the real authorization server's JWKS.
 */
import t from 'tap';
import { SignJWT, exportSPKI, importJWK, type JWK } from 'jose';
import { summarize } from '../fixtures/envoy-client.js';
import { authorizationServer, bearer, RESOURCE, serviceEnv, startService } from '../fixtures/service.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

t.test('bad tokens → 401 invalid_token, no exchange', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { CLOCK_TOLERANCE: '5' }));
  const now = Math.floor(Date.now() / 1000);
  const good = await as.mintAccessToken({ sub: 'alice' });
  const [header, payload, signature] = good.split('.') as [string, string, string];

  const jwks = (await (await fetch(as.jwksUri)).json()) as { keys: JWK[] };
  const publicJwk = jwks.keys[0]!;
  const publicPem = await exportSPKI((await importJWK(publicJwk, 'RS256')) as CryptoKey);
  const hsWithPublicKey = await new SignJWT({ sub: 'mallory', aud: RESOURCE, client_id: 'x' })
    .setProtectedHeader({ alg: 'HS256', kid: publicJwk.kid })
    .setIssuer(as.issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(publicPem));

  const cases: Record<string, string> = {
    expired: await as.mintAccessToken({ sub: 'alice', iat: now - 3600, exp: now - 60 }),
    'nbf in the future': await as.mintAccessToken({ sub: 'alice', nbf: now + 600 }),
    'wrong aud': await as.mintAccessToken({ sub: 'alice', aud: 'https://other.example.com/' }),
    'wrong iss': await as.mintAccessToken({ sub: 'alice', iss: 'https://evil.example.com' }),
    'no exp': await as.mintAccessToken({ sub: 'alice', exp: undefined }),
    'unknown kid': await as.mintWithForeignKey({ sub: 'alice' }),
    'foreign key with a known kid': await as.mintWithForeignKey({ sub: 'alice' }, { kid: publicJwk.kid }),
    'alg none': `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    'HS256 signed with the public key': hsWithPublicKey,
    'tampered signature': `${header}.${payload}.${signature.slice(0, -4)}${signature.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`,
    'tampered payload': `${header}.${b64url({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'mallory' })}.${signature}`,
    '20 KB token': `${header}.${'A'.repeat(20 * 1024)}.${signature}`,
    garbage: 'not-a-jwt',
    'two segments': `${header}.${payload}`,
    'bad characters': 'abc$def',
  };

  for (const [name, token] of Object.entries(cases)) {
    const before = as.exchanges.length;
    const response = await service.client.check(bearer(token));
    const result = summarize(response);
    t.same([name, result.httpStatus, result.grpcCode], [name, 401, 16], `${name}: 401 / UNAUTHENTICATED`);
    t.match(result.headers['www-authenticate'], /^Bearer error="invalid_token", resource_metadata="/, `${name}: challenge`);
    t.equal(as.exchanges.length, before, `${name}: no exchange was attempted`);
    t.equal(JSON.stringify(response).includes(token), false, `${name}: the token is not echoed`);
  }

  t.test('an algorithm outside ALLOWED_ALGORITHMS is refused', async (t) => {
    const strict = await startService(t, serviceEnv(as, { ALLOWED_ALGORITHMS: 'ES256' }));
    const result = summarize(await strict.client.check(bearer(good)));
    t.same([result.httpStatus, result.grpcCode], [401, 16]);
  });

  t.test('within CLOCK_TOLERANCE an expired token passes validation', async (t) => {
    const before = as.exchanges.length;
    // Read the clock here, not at the file's start: on a busy machine the earlier subtests can take longer than the tolerance.
    const current = Math.floor(Date.now() / 1000);
    const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'erin', iat: current - 600, exp: current - 2 }))));
    // The service accepts it and asks for the exchange; this authorization server allows no leeway and refuses (invalid_grant).
    t.equal(as.exchanges.length, before + 1, 'the exchange was attempted');
    t.same([result.httpStatus, result.grpcCode], [403, 7]);
  });
});
