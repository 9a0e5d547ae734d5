/**
 * Secretless client authentication (client_assertion_file, RFC 7523 §2.2): the service sends an
 * assertion a platform minted into a file, as a Kubernetes projected service-account token. A test
 * "cluster" issuer publishes its JWKS on 127.0.0.1:0; the real authorization server (oidc-provider)
 * trusts it through the client's jwks_uri. The file is rotated mid-test, and then holds an expired one.
 *
 * oidc-provider's private_key_jwt wants `iss` = `sub` = client_id, so the test cluster mints its
 * tokens with both set to the service account's name (a real projected token has the cluster's
 * issuer URL as `iss`; Entra ID and Keycloak match `iss` and `sub` against a federated credential).
 * The service itself reads nothing from the assertion but `exp`.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { checkToken, tempFiles } from '../fixtures/e2e-helpers.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SERVICE_ACCOUNT = 'system:serviceaccount:authz:token-exchange-authz';

/** A Kubernetes-like service-account issuer: two signing keys (the current one and the next), both published. */
async function clusterIssuer(t: Test) {
  const keys = await Promise.all(['cluster-key-1', 'cluster-key-2'].map(async (kid) => ({ kid, ...(await generateKeyPair('RS256', { extractable: true })) })));
  const jwks = { keys: await Promise.all(keys.map(async ({ kid, publicKey }) => ({ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }))) };
  const server = createServer((req, res) => {
    if (req.url === '/openid/v1/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  /** A projected token for `audience`, signed with key `index`, valid from now for `seconds` (negative: already expired). */
  const mint = (audience: string, index: number, seconds = 600) => {
    const now = Math.floor(Date.now() / 1000);
    const { kid, privateKey } = keys[index]!;
    return new SignJWT({ kubernetes: { namespace: 'authz', serviceaccount: { name: 'token-exchange-authz' } } })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(SERVICE_ACCOUNT)
      .setSubject(SERVICE_ACCOUNT)
      .setAudience(audience)
      .setJti(randomUUID())
      .setIssuedAt(now - 60 + Math.min(seconds, 0))
      .setExpirationTime(now + seconds)
      .sign(privateKey as CryptoKey);
  };
  return { issuer, jwksUri: `${issuer}/openid/v1/jwks`, mint };
}

/** The kubelet's atomic writer: the file is a link through `..data`, swapped to a new directory on rotation. */
function projectedVolume(dir: string, name: string, content: string) {
  let generation = 0;
  const publish = (text: string) => {
    const version = `..v${++generation}`;
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, name), text);
    symlinkSync(version, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  publish(content);
  symlinkSync(join('..data', name), join(dir, name));
  return { path: join(dir, name), publish };
}

t.test('the platform assertion authenticates the exchange; a rotated one is used at once; an expired one is a 500 and no call', async (t) => {
  const cluster = await clusterIssuer(t);
  // The authorization server registers the workload's client and trusts the cluster's keys for it.
  const as = await authorizationServer(t, { exchangeClients: [{ id: SERVICE_ACCOUNT, authMethod: 'private_key_jwt', jwksUri: cluster.jwksUri }] });
  const files = tempFiles(t, 'authz-token-');
  const first = await cluster.mint(as.issuer, 0);
  const volume = projectedVolume(files.dir, 'token', first);
  const service = await startService(
    t,
    serviceEnv(as, { CLIENT_ID: SERVICE_ACCOUNT, CLIENT_SECRET: undefined, CLIENT_AUTH_METHOD: 'client_assertion_file', CLIENT_ASSERTION_FILE: volume.path }),
  );

  t.ok((await checkToken(service, await as.mintAccessToken({ sub: 'alice' }))).allowed, 'allowed');
  t.same(
    { client_id: as.exchanges.at(-1)?.params.client_id, type: as.exchanges.at(-1)?.params.client_assertion_type, assertion: as.exchanges.at(-1)?.params.client_assertion },
    { client_id: SERVICE_ACCOUNT, type: JWT_BEARER, assertion: first },
    'RFC 7523 §2.2 parameters with the file\'s assertion',
  );
  t.ok((await checkToken(service, await as.mintAccessToken({ sub: 'bob' }))).allowed, 'the same assertion again, until it expires');

  const rotated = await cluster.mint(as.issuer, 1);
  volume.publish(rotated);
  t.ok((await checkToken(service, await as.mintAccessToken({ sub: 'carol' }))).allowed, 'allowed after the rotation (new token, new key)');
  t.equal(as.exchanges.at(-1)?.params.client_assertion, rotated, 'the rotated assertion was sent, without a signal');

  volume.publish(await cluster.mint(as.issuer, 1, -30));
  const calls = as.exchanges.length;
  const expired = await checkToken(service, await as.mintAccessToken({ sub: 'dave' }));
  t.equal(expired.httpStatus, 500, 'a clear 500');
  t.equal((await checkToken(service, await as.mintAccessToken({ sub: 'erin' }))).httpStatus, 500);
  t.equal(as.exchanges.length, calls, 'nothing sent to the authorization server, no retry');
  const lines = service.logs.filter((line) => line.msg === 'check' && line.outcome === 'misconfigured');
  t.equal(lines.length, 2, 'one log line per check');
  t.equal(lines[0]?.level, 'error');
  t.match(String(lines[0]?.reason), /client assertion file holds an assertion that expired at/);
  t.notMatch(expired.body, files.dir, 'the caller is not told where the file is');
  t.notMatch(service.logText(), first.split('.')[2]!, 'no assertion in the logs');
});

t.test('client_assertion_file needs a readable file holding a JWT', async (t) => {
  const files = tempFiles(t, 'authz-token-');
  const env = (file: string | undefined) => serviceEnv({ issuer: 'http://127.0.0.1:9' }, { CLIENT_SECRET: undefined, EXCHANGE_CLIENT_AUTH_METHOD: 'client_assertion_file', EXCHANGE_CLIENT_ASSERTION_FILE: file });
  const problems = (file: string | undefined) => {
    try {
      loadConfig(env(file));
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };
  t.same(problems(undefined), ['EXCHANGE_CLIENT_ASSERTION_FILE (or CLIENT_ASSERTION_FILE): is required for client_assertion_file'], 'names the inherited alternative too');
  t.same(problems(join(files.dir, 'missing')), [`EXCHANGE_CLIENT_ASSERTION_FILE: cannot read ${join(files.dir, 'missing')} (ENOENT)`]);
  t.same(problems(files.write('not-a-jwt', 'hunter2\n')), [`EXCHANGE_CLIENT_ASSERTION_FILE: ${join(files.dir, 'not-a-jwt')} does not hold a JWT`]);
  t.equal(loadConfig(env(files.write('token', 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln\n'))).targets[0]?.client.authMethod, 'client_assertion_file');
});
