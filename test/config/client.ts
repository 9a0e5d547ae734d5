/**
 * One client's credentials, completed and loaded at start-up: the signing key
 * of private_key_jwt (PEM or JWK, its algorithm from the key type, RFC 7518
 * §3.1), the certificate and key of tls_client_auth (RFC 8705 §2), the
 * platform's assertion file (RFC 7523 §2.2), and the EXCHANGE_CLIENT_* → CLIENT_*
 * defaults (SPEC §2). Files come from a small map standing in for the disk.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import { buildClient, withDefaults, type ClientSuffix, type ClientValues } from '../../src/config/client.js';
import { Problems } from '../../src/config/problems.js';
import type { ReadFile } from '../../src/config/sources.js';
import { createPki } from '../fixtures/pki.js';

const NO_CLIENT: ClientValues = {
  id: undefined, secret: undefined, authMethod: undefined, privateKeyFile: undefined, keyId: undefined,
  assertionAlg: undefined, assertionAudience: undefined, assertionFile: undefined, certFile: undefined, keyFile: undefined,
};
const label = (suffix: ClientSuffix) => `EXCHANGE_CLIENT_${suffix}`;
const never = () => false;

/** A disk of a few named files; any other path fails as a missing file does. */
function filesOf(files: Record<string, string>): ReadFile {
  return (path) => {
    const content = files[path];
    if (content !== undefined) return content;
    throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
  };
}

function build(values: Partial<ClientValues>, files: Record<string, string> = {}, failed: (suffix: ClientSuffix) => boolean = never) {
  const problems = new Problems();
  const client = buildClient({ ...NO_CLIENT, ...values }, label, failed, filesOf(files), problems);
  return { client, lines: problems.lines };
}

const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }) as string;
const jwk = (key: KeyObject, extra: Record<string, unknown> = {}) => JSON.stringify({ ...key.export({ format: 'jwk' }), ...extra });
const KEYS = {
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  rsaPss: generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey,
  p256: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
  p384: generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey,
  p521: generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey,
  secp256k1: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey,
  ed25519: generateKeyPairSync('ed25519').privateKey,
  x25519: generateKeyPairSync('x25519').privateKey,
};

t.test('a secret client: the defaults filled in, nothing loaded', async (t) => {
  t.same(build({ id: 'gw', secret: 's' }), {
    client: { id: 'gw', authMethod: 'client_secret_basic', secret: 's', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined },
    lines: [],
  });
  t.same(build({ id: 'gw', secret: 's', authMethod: 'client_secret_post', assertionAudience: 'issuer' }).client?.authMethod, 'client_secret_post');
  t.same(build({ id: 'gw', authMethod: 'none', assertionFile: '/unused' }).client?.assertionFile, undefined, 'an assertion file only with client_assertion_file');
});

t.test('a missing value is a problem and no client; a value with its own line is not "required" again', async (t) => {
  t.same(build({}), { client: undefined, lines: ['EXCHANGE_CLIENT_ID: is required', 'EXCHANGE_CLIENT_SECRET: is required for client_secret_basic'] });
  const failedId = (suffix: ClientSuffix) => suffix === 'ID';
  t.same(build({ secret: 's' }, {}, failedId), {
    client: { id: '', authMethod: 'client_secret_basic', secret: 's', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined },
    lines: [],
  }, 'built with an empty id, so that the rules after it still run; the id\'s own line stops the load');
});

t.test('private_key_jwt: the algorithm follows the key type (RFC 7518 §3.1)', async (t) => {
  const cases: Array<[keyof typeof KEYS, string]> = [['rsa', 'RS256'], ['rsaPss', 'PS256'], ['p256', 'ES256'], ['p384', 'ES384'], ['p521', 'ES512'], ['ed25519', 'EdDSA']];
  for (const [name, alg] of cases) {
    const { client, lines } = build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: '/k.pem' }, { '/k.pem': pem(KEYS[name]) });
    t.same(lines, [], name);
    t.equal(client?.signingKey?.alg, alg, `${name} → ${alg}`);
    t.equal(client?.signingKey?.kid, undefined, 'a PEM has no kid');
    t.equal(client?.signingKey?.key.asymmetricKeyType, KEYS[name].asymmetricKeyType);
    t.equal(client?.secret, undefined);
  }
});

t.test('private_key_jwt: an explicit algorithm must suit the key', async (t) => {
  const withAlg = (name: keyof typeof KEYS, assertionAlg: string) => build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: '/k.pem', assertionAlg }, { '/k.pem': pem(KEYS[name]) });
  t.equal(withAlg('rsa', 'PS384').client?.signingKey?.alg, 'PS384', 'an RSA key also signs PS*');
  t.same(withAlg('rsaPss', 'RS256'), { client: undefined, lines: ['EXCHANGE_CLIENT_ASSERTION_ALG: RS256 cannot be used with a rsa-pss key'] }, 'an RSA-PSS key signs PS* only');
  t.same(withAlg('p256', 'ES384').lines, ['EXCHANGE_CLIENT_ASSERTION_ALG: ES384 cannot be used with a ec key'], 'the curve decides');
  t.same(withAlg('secp256k1', 'ES256').lines, ['EXCHANGE_CLIENT_ASSERTION_ALG: ES256 cannot be used with a ec key']);
});

t.test('private_key_jwt: a key no supported algorithm signs with stops the load', async (t) => {
  t.same(build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: '/k.pem' }, { '/k.pem': pem(KEYS.x25519) }), {
    client: undefined,
    lines: ['EXCHANGE_CLIENT_ASSERTION_ALG: no algorithm cannot be used with a x25519 key'],
  });
  t.same(build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: '/k.pem' }, { '/k.pem': pem(KEYS.secp256k1) }), {
    client: undefined,
    lines: ['EXCHANGE_CLIENT_ASSERTION_ALG: no algorithm cannot be used with a ec key'],
  }, 'an EC curve without a JWS algorithm (secp256k1) is refused now, not at the first exchange');
});

t.test('private_key_jwt: a JWK file, its kid unless EXCHANGE_CLIENT_KEY_ID is set', async (t) => {
  const files = { '/k.json': `\n  ${jwk(KEYS.p256, { kid: 'jwk-kid' })}`, '/nokid.json': jwk(KEYS.ed25519), '/numkid.json': jwk(KEYS.p256, { kid: 7 }) };
  const jwkClient = (path: string, keyId?: string) => build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: path, keyId }, files).client?.signingKey;
  t.match(jwkClient('/k.json'), { alg: 'ES256', kid: 'jwk-kid' }, 'leading whitespace before the "{" is fine');
  t.match(jwkClient('/k.json', 'configured'), { alg: 'ES256', kid: 'configured' });
  t.match(jwkClient('/nokid.json'), { alg: 'EdDSA', kid: undefined });
  t.match(jwkClient('/numkid.json'), { alg: 'ES256', kid: undefined }, 'a kid that is not a string is not used');
  t.match(jwkClient('/k.pem', 'configured'), undefined, 'a missing file: no key');
});

t.test('private_key_jwt: a file that cannot be read, or is no private key, is one line without its content', async (t) => {
  const secretText = 'not-a-key-s3cret';
  const keyAt = (files: Record<string, string>) => build({ id: 'gw', authMethod: 'private_key_jwt', privateKeyFile: '/k' }, files);
  t.same(keyAt({}), { client: undefined, lines: ['EXCHANGE_CLIENT_PRIVATE_KEY_FILE: cannot read /k (ENOENT)'] });
  t.same(keyAt({ '/k': secretText }), { client: undefined, lines: ['EXCHANGE_CLIENT_PRIVATE_KEY_FILE: /k is not a PEM or JWK private key'] });
  t.same(keyAt({ '/k': `{ "kty": "${secretText}"` }).lines, ['EXCHANGE_CLIENT_PRIVATE_KEY_FILE: /k is not a PEM or JWK private key'], 'JSON that does not parse');
  t.same(keyAt({ '/k': JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }) }).lines, ['EXCHANGE_CLIENT_PRIVATE_KEY_FILE: /k is not a PEM or JWK private key'], 'a public JWK');
  t.same(build({ id: 'gw', authMethod: 'private_key_jwt' }).lines, ['EXCHANGE_CLIENT_PRIVATE_KEY_FILE: is required for private_key_jwt']);
});

t.test('client_assertion_file: the file must hold a compact JWT now', async (t) => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJndyJ9.c2ln';
  const assertionAt = (files: Record<string, string>) => build({ id: 'gw', authMethod: 'client_assertion_file', assertionFile: '/var/run/token' }, files);
  t.same(assertionAt({ '/var/run/token': `${jwt}\n` }), {
    client: { id: 'gw', authMethod: 'client_assertion_file', secret: undefined, signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: '/var/run/token', tls: undefined },
    lines: [],
  }, 'the path is kept; the file is read again at each use');
  t.same(assertionAt({}), { client: undefined, lines: ['EXCHANGE_CLIENT_ASSERTION_FILE: cannot read /var/run/token (ENOENT)'] });
  t.same(assertionAt({ '/var/run/token': 'opaque-s3cret' }), { client: undefined, lines: ['EXCHANGE_CLIENT_ASSERTION_FILE: /var/run/token does not hold a JWT'] });
  t.same(assertionAt({ '/var/run/token': `${jwt}.extra` }).lines, ['EXCHANGE_CLIENT_ASSERTION_FILE: /var/run/token does not hold a JWT'], 'a JWE (five parts) is not a JWT assertion');
  t.same(build({ id: 'gw', authMethod: 'client_assertion_file' }).lines, ['EXCHANGE_CLIENT_ASSERTION_FILE: is required for client_assertion_file']);
});

t.test('tls_client_auth: a PEM certificate and the key that belongs to it (RFC 8705 §2)', async (t) => {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const files = { '/c.pem': pki.client.cert, '/c.key': pki.client.key, '/other.key': pki.untrustedClient.key, '/junk': 'junk' };
  const tls = (certFile: string | undefined, keyFile: string | undefined) => build({ id: 'gw', authMethod: 'tls_client_auth', certFile, keyFile }, files);
  t.same(tls('/c.pem', '/c.key'), {
    client: { id: 'gw', authMethod: 'tls_client_auth', secret: undefined, signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: { cert: pki.client.cert, key: pki.client.key } },
    lines: [],
  });
  t.same(tls('/c.pem', '/other.key'), { client: undefined, lines: ['EXCHANGE_CLIENT_KEY_FILE: the key does not belong to the certificate in /c.pem'] });
  t.same(tls('/junk', '/c.key').lines, ['EXCHANGE_CLIENT_CERT_FILE: /junk / /c.key are not a PEM certificate and key']);
  t.same(tls('/c.pem', '/junk').lines, ['EXCHANGE_CLIENT_CERT_FILE: /c.pem / /junk are not a PEM certificate and key']);
  t.same(tls('/none.pem', '/none.key').lines, ['EXCHANGE_CLIENT_CERT_FILE: cannot read /none.pem (ENOENT)', 'EXCHANGE_CLIENT_KEY_FILE: cannot read /none.key (ENOENT)'], 'both unreadable files are named');
  t.same(tls('/c.pem', undefined).lines, ['EXCHANGE_CLIENT_KEY_FILE: is required for tls_client_auth']);
  t.same(tls(undefined, '/c.key').lines, ['EXCHANGE_CLIENT_CERT_FILE: is required for tls_client_auth']);
});

t.test('withDefaults: each own value, else the inherited one (SPEC §2)', async (t) => {
  const own: ClientValues = { ...NO_CLIENT, id: 'exchange', authMethod: 'private_key_jwt', privateKeyFile: '/own.pem' };
  t.equal(withDefaults(own, undefined), own, 'nothing to inherit: the own values as they are');
  const inherited: ClientValues = {
    id: 'base', secret: 's', authMethod: 'client_secret_post', privateKeyFile: '/base.pem', keyId: 'k', assertionAlg: 'ES256',
    assertionAudience: 'issuer', assertionFile: '/a', certFile: '/c', keyFile: '/k',
  };
  t.same(withDefaults(own, inherited), { ...inherited, id: 'exchange', authMethod: 'private_key_jwt', privateKeyFile: '/own.pem' });
  t.same(withDefaults(NO_CLIENT, inherited), inherited);
  t.same(withDefaults(inherited, NO_CLIENT), inherited);
});
