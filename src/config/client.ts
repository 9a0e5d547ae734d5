import { createPrivateKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { ClientConfig } from './model.js';
import { errorCode, type Problems } from './problems.js';
import { checkClientMethod } from './rules.js';
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
export type Label = (suffix: ClientSuffix) => string;

/** Suffixes of the client settings (`CLIENT_ID`, `EXCHANGE_CLIENT_ID`, …) and the value each holds. */
export const CLIENT_SUFFIXES = {
  ID: 'id',
  SECRET: 'secret',
  AUTH_METHOD: 'authMethod',
  PRIVATE_KEY_FILE: 'privateKeyFile',
  KEY_ID: 'keyId',
  ASSERTION_ALG: 'assertionAlg',
  ASSERTION_AUDIENCE: 'assertionAudience',
  ASSERTION_FILE: 'assertionFile',
  CERT_FILE: 'certFile',
  KEY_FILE: 'keyFile',
} as const satisfies Record<string, keyof ClientValues>;
export type ClientSuffix = keyof typeof CLIENT_SUFFIXES;

/**
 * Completes and checks one client: what each authentication method needs is
 * present (`rules.ts`) and loads (keys and certificates are read now, so a bad
 * file stops start-up rather than the first exchange). `failed`: the setting
 * already has a line of its own.
 */
export function buildClient(values: ClientValues, label: Label, failed: (suffix: ClientSuffix) => boolean, readFile: ReadFile, problems: Problems): ClientConfig | undefined {
  const authMethod = values.authMethod ?? 'client_secret_basic';
  const before = problems.length;
  checkClientMethod(values, label, failed, problems);
  const signingKey = authMethod === 'private_key_jwt' ? loadSigningKey(values, label, readFile, problems) : undefined;
  const tls = authMethod === 'tls_client_auth' ? loadCertificate(values, label, readFile, problems) : undefined;
  if (authMethod === 'client_assertion_file') checkAssertionFile(values, label, readFile, problems);
  if (problems.length > before) return undefined;
  return {
    // No id and no new line: the id was given but unusable, and its own line stops the load; the client is still built so that the rules after it are checked too.
    id: values.id ?? '',
    authMethod,
    secret: values.secret,
    signingKey,
    assertionAudience: values.assertionAudience ?? 'token_endpoint',
    assertionFile: authMethod === 'client_assertion_file' ? values.assertionFile : undefined,
    tls,
  };
}

/** Each client value: the own one, else the one it defaults to (SPEC §2: `EXCHANGE_CLIENT_*` default to `CLIENT_*`). */
export function withDefaults(own: ClientValues, inherited: ClientValues | undefined): ClientValues {
  if (!inherited) return own;
  return {
    id: own.id ?? inherited.id,
    secret: own.secret ?? inherited.secret,
    authMethod: own.authMethod ?? inherited.authMethod,
    privateKeyFile: own.privateKeyFile ?? inherited.privateKeyFile,
    keyId: own.keyId ?? inherited.keyId,
    assertionAlg: own.assertionAlg ?? inherited.assertionAlg,
    assertionAudience: own.assertionAudience ?? inherited.assertionAudience,
    assertionFile: own.assertionFile ?? inherited.assertionFile,
    certFile: own.certFile ?? inherited.certFile,
    keyFile: own.keyFile ?? inherited.keyFile,
  };
}

function read(path: string, where: string, readFile: ReadFile, problems: Problems): string | undefined {
  try {
    return readFile(path);
  } catch (error) {
    problems.push(`${where}: cannot read ${path} (${errorCode(error)})`);
    return undefined;
  }
}

const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** RFC 7518 §3.1 algorithm for a key, and the algorithms a key type can sign with. */
function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      // RFC 7518 §3.4: one algorithm per curve; another curve (secp256k1) has none here.
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? [] : [alg];
    }
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

function loadSigningKey(values: ClientValues, label: Label, readFile: ReadFile, problems: Problems): ClientConfig['signingKey'] {
  if (values.privateKeyFile === undefined) return undefined;
  const text = read(values.privateKeyFile, label('PRIVATE_KEY_FILE'), readFile, problems);
  if (text === undefined) return undefined;
  let key: KeyObject;
  let jwkKid: string | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk: JsonWebKey = JSON.parse(text);
      jwkKid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk, format: 'jwk' });
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
function checkAssertionFile(values: ClientValues, label: Label, readFile: ReadFile, problems: Problems): void {
  if (values.assertionFile === undefined) return;
  const text = read(values.assertionFile, label('ASSERTION_FILE'), readFile, problems);
  if (text !== undefined && !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(text.trim())) problems.push(`${label('ASSERTION_FILE')}: ${values.assertionFile} does not hold a JWT`);
}

function loadCertificate(values: ClientValues, label: Label, readFile: ReadFile, problems: Problems): ClientConfig['tls'] {
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
