import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { ClientConfig } from './model.js';
import type { ReadFile } from './sources.js';
import type { ClientAuthMethod } from './settings.js';

/** The client settings of one issuer or target, parsed but not yet cross-checked. */
export interface ClientValues {
  readonly id: string | undefined;
  readonly secret: string | undefined;
  readonly authMethod: ClientAuthMethod | undefined;
  readonly privateKeyFile: string | undefined;
  readonly keyId: string | undefined;
  readonly assertionAlg: string | undefined;
  readonly assertionAudience: 'token_endpoint' | 'issuer' | undefined;
  readonly assertionFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

/** Names a client setting in a problem line ("EXCHANGE_CLIENT_SECRET", "config.yaml:9: targets[0].exchange_client_secret"). */
export type Label = (suffix: 'ID' | 'SECRET' | 'AUTH_METHOD' | 'PRIVATE_KEY_FILE' | 'ASSERTION_ALG' | 'ASSERTION_FILE' | 'CERT_FILE' | 'KEY_FILE') => string;

/**
 * Completes and checks one client: what each authentication method needs is
 * present and loads (keys and certificates are read now, so a bad file stops
 * start-up rather than the first exchange).
 */
export function buildClient(values: ClientValues, label: Label, readFile: ReadFile, problems: string[]): ClientConfig | undefined {
  const authMethod = values.authMethod ?? 'client_secret_basic';
  const before = problems.length;
  // A value that was given but is unusable (here, or in the CLIENT_* it defaults to) already has its own line.
  const missing = (name: string, why: string) => {
    const wanted = new Set([settingName(name), settingName(name).replace(/^exchange_/, '')]);
    if (!problems.some((line) => wanted.has(settingName(line).replace(/_file$/, '')))) problems.push(`${name}: ${why}`);
  };
  if (values.id === undefined) missing(label('ID'), 'is required');
  if ((authMethod === 'client_secret_basic' || authMethod === 'client_secret_post') && values.secret === undefined) {
    missing(label('SECRET'), `is required for ${authMethod}`);
  }
  const signingKey = authMethod === 'private_key_jwt' ? loadSigningKey(values, label, readFile, problems) : undefined;
  const tls = authMethod === 'tls_client_auth' ? loadCertificate(values, label, readFile, problems) : undefined;
  if (authMethod === 'client_assertion_file') checkAssertionFile(values, label, readFile, problems);
  if (problems.length > before) return undefined;
  return {
    id: values.id!,
    authMethod,
    secret: values.secret,
    signingKey,
    assertionAudience: values.assertionAudience ?? 'token_endpoint',
    assertionFile: authMethod === 'client_assertion_file' ? values.assertionFile : undefined,
    tls,
  };
}

/** "CLIENT_SECRET: …", "EXCHANGE_CLIENT_SECRET (or CLIENT_SECRET): …" or "config.yaml:9: targets[0].exchange_client_secret: …" → "client_secret" / "exchange_client_secret". */
function settingName(line: string): string {
  const subject = line.replace(/^[^:\s]+:\d+: /, '').split(': ')[0]!.replace(/ \(or [A-Z_]+\)$/, '');
  return subject.slice(subject.lastIndexOf('.') + 1).toLowerCase();
}

function read(path: string, where: string, readFile: ReadFile, problems: string[]): string | undefined {
  try {
    return readFile(path);
  } catch (error) {
    problems.push(`${where}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

/** RFC 7518 §3.1 algorithm for a key, and the algorithms a key type can sign with. */
function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return [{ 'prime256v1': 'ES256', 'secp384r1': 'ES384', 'secp521r1': 'ES512' }[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'unsupported'];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

function loadSigningKey(values: ClientValues, label: Label, readFile: ReadFile, problems: string[]): ClientConfig['signingKey'] {
  if (values.privateKeyFile === undefined) {
    problems.push(`${label('PRIVATE_KEY_FILE')}: is required for private_key_jwt`);
    return undefined;
  }
  const text = read(values.privateKeyFile, label('PRIVATE_KEY_FILE'), readFile, problems);
  if (text === undefined) return undefined;
  let key: KeyObject;
  let jwkKid: string | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as { kid?: string };
      jwkKid = jwk.kid;
      key = createPrivateKey({ key: jwk as never, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    problems.push(`${label('PRIVATE_KEY_FILE')}: ${values.privateKeyFile} is not a PEM or JWK private key`);
    return undefined;
  }
  const allowed = algorithmsFor(key);
  const alg = values.assertionAlg ?? allowed[0];
  if (alg === undefined || !allowed.includes(alg)) {
    problems.push(`${label('ASSERTION_ALG')}: ${alg ?? 'no algorithm'} cannot be used with a ${key.asymmetricKeyType} key`);
    return undefined;
  }
  return { key, alg, kid: values.keyId ?? jwkKid };
}

/**
 * The platform's assertion file must exist and hold a compact JWT now; its
 * lifetime is checked at each use, since the platform rotates it.
 */
function checkAssertionFile(values: ClientValues, label: Label, readFile: ReadFile, problems: string[]): void {
  if (values.assertionFile === undefined) {
    problems.push(`${label('ASSERTION_FILE')}: is required for client_assertion_file`);
    return;
  }
  const text = read(values.assertionFile, label('ASSERTION_FILE'), readFile, problems);
  if (text !== undefined && !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(text.trim())) problems.push(`${label('ASSERTION_FILE')}: ${values.assertionFile} does not hold a JWT`);
}

function loadCertificate(values: ClientValues, label: Label, readFile: ReadFile, problems: string[]): ClientConfig['tls'] {
  if (values.certFile === undefined) problems.push(`${label('CERT_FILE')}: is required for tls_client_auth`);
  if (values.keyFile === undefined) problems.push(`${label('KEY_FILE')}: is required for tls_client_auth`);
  if (values.certFile === undefined || values.keyFile === undefined) return undefined;
  const cert = read(values.certFile, label('CERT_FILE'), readFile, problems);
  const key = read(values.keyFile, label('KEY_FILE'), readFile, problems);
  if (cert === undefined || key === undefined) return undefined;
  try {
    if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
      problems.push(`${label('KEY_FILE')}: the key does not belong to the certificate in ${values.certFile}`);
      return undefined;
    }
  } catch {
    problems.push(`${label('CERT_FILE')}: ${values.certFile} / ${values.keyFile} are not a PEM certificate and key`);
    return undefined;
  }
  return { cert, key };
}
