import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { LogLevel } from '../log.js';
import { SETTINGS, type ClientAuthMethod, type Settings } from './settings.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** The validated, frozen configuration the app is built from. */
export interface Config {
  readonly resourceUrl: string;
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  readonly tokenEndpoint: string | undefined;
  readonly validation: {
    readonly algorithms: readonly string[];
    readonly clockToleranceSeconds: number;
    readonly maxTokenBytes: number;
    readonly requiredScopes: readonly string[];
  };
  readonly exchange: ExchangeSettings;
  readonly cache: { readonly ttlSeconds: number; readonly max: number };
  readonly authorizationServer: { readonly timeoutMs: number; readonly maxResponseBytes: number; readonly allowInsecureHttp: boolean };
  readonly listen: { readonly address: string; readonly grpcPort: number; readonly httpPort: number };
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
}

/** What one exchange sends (RFC 8693 §2.1) and how the client authenticates. */
export interface ExchangeSettings {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authMethod: ClientAuthMethod;
  readonly audience: string | undefined;
  readonly resource: string | undefined;
  readonly scope: string | undefined;
  readonly requestedTokenType: string | undefined;
  readonly subjectTokenType: string;
}

type ReadFile = (path: string) => string;

/**
 * Parses and validates every setting at once. Throws a {@link ConfigError}
 * listing one line per problem, each naming its variable; never a partial config.
 */
export function loadConfig(env: Environment, readFile: ReadFile = (path) => readFileSync(path, 'utf8')): Config {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};

  for (const [key, spec] of Object.entries(SETTINGS)) {
    const raw = readRaw(env, spec.env, 'secret' in spec && spec.secret === true, readFile, problems);
    const value = raw ?? ('default' in spec ? spec.default : undefined);
    if (value === undefined) {
      if ('required' in spec && spec.required) problems.push(`${spec.env}: is required`);
      continue;
    }
    try {
      parsed[key] = spec.parse(value);
    } catch (error) {
      const secret = 'secret' in spec && spec.secret === true;
      problems.push(`${spec.env}: ${secret ? 'is not a valid value' : (error as Error).message}`);
    }
  }

  const settings = parsed as Settings;
  problems.push(...crossCheck(settings, env));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toConfig(settings));
}

/** Reads `NAME`, or for a secret `NAME_FILE` (one trailing newline stripped); '' counts as unset. */
function readRaw(env: Environment, name: string, secret: boolean, readFile: ReadFile, problems: string[]): string | undefined {
  const direct = env[name] === '' ? undefined : env[name];
  const filePath = secret && env[`${name}_FILE`] !== '' ? env[`${name}_FILE`] : undefined;
  if (direct !== undefined && filePath !== undefined) {
    problems.push(`${name}: set ${name} or ${name}_FILE, not both`);
    return undefined;
  }
  if (filePath === undefined) return direct;
  try {
    const content = readFile(filePath).replace(/\r?\n$/, '');
    if (content === '') problems.push(`${name}_FILE: ${filePath} is empty`);
    return content === '' ? undefined : content;
  } catch (error) {
    problems.push(`${name}_FILE: cannot read ${filePath} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

const AUTHORIZATION_SERVER_URLS = ['issuer', 'tokenEndpoint', 'jwksUri', 'introspectionEndpoint'] as const;

function crossCheck(s: Settings, env: Environment): string[] {
  const problems: string[] = [];
  if (s.introspectionEndpoint !== undefined) {
    problems.push('INTROSPECTION_ENDPOINT_URL: introspection is not implemented in this version; unset it to validate JWTs against the issuer\'s JWKS');
  }
  if (s.configFile !== undefined) problems.push('CONFIG_FILE: configuration files are not implemented in this version; use environment variables');

  if (s.exchangeClientId === undefined && s.clientId === undefined) problems.push('EXCHANGE_CLIENT_ID: is required (or set CLIENT_ID)');
  const method = s.exchangeClientAuthMethod;
  if (method === 'tls_client_auth' || method === 'private_key_jwt') {
    problems.push(`EXCHANGE_CLIENT_AUTH_METHOD: ${method} is not implemented in this version (use client_secret_basic or client_secret_post)`);
  } else if (s.exchangeClientSecret === undefined && s.clientSecret === undefined && !isSet(env, 'EXCHANGE_CLIENT_SECRET') && !isSet(env, 'CLIENT_SECRET')) {
    problems.push(`EXCHANGE_CLIENT_SECRET: is required for ${method} (or set CLIENT_SECRET)`);
  }

  // SPEC §2: http:// only for loopback unless ALLOW_INSECURE_HTTP (tokens and secrets travel on these calls).
  if (s.allowInsecureHttp !== true) {
    for (const key of AUTHORIZATION_SERVER_URLS) {
      const value = s[key];
      if (value !== undefined && new URL(value).protocol === 'http:' && !isLoopback(new URL(value).hostname)) {
        problems.push(`${SETTINGS[key].env}: http:// is allowed only for loopback addresses (use https, or set ALLOW_INSECURE_HTTP=true)`);
      }
    }
  }
  return problems;
}

/** A value that was given but failed to parse already has its own problem line. */
function isSet(env: Environment, name: string): boolean {
  return (env[name] ?? '') !== '' || (env[`${name}_FILE`] ?? '') !== '';
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function toConfig(s: Settings): Config {
  return {
    resourceUrl: s.resourceUrl,
    issuer: s.issuer,
    jwksUri: s.jwksUri,
    tokenEndpoint: s.tokenEndpoint,
    validation: {
      algorithms: s.allowedAlgorithms,
      clockToleranceSeconds: s.clockTolerance,
      maxTokenBytes: s.maxTokenBytes,
      requiredScopes: s.requiredScopes ?? [],
    },
    exchange: {
      clientId: (s.exchangeClientId ?? s.clientId)!,
      clientSecret: (s.exchangeClientSecret ?? s.clientSecret)!,
      authMethod: s.exchangeClientAuthMethod,
      audience: s.exchangeAudience,
      resource: s.exchangeResource,
      scope: s.exchangeScope?.join(' '),
      requestedTokenType: s.exchangeRequestedTokenType,
      subjectTokenType: s.exchangeSubjectTokenType,
    },
    cache: { ttlSeconds: s.exchangeCacheTtl, max: s.exchangeCacheMax },
    authorizationServer: {
      timeoutMs: s.authorizationServerTimeoutMs,
      maxResponseBytes: s.authorizationServerMaxResponseBytes,
      allowInsecureHttp: s.allowInsecureHttp,
    },
    listen: { address: s.listenAddress, grpcPort: s.grpcPort, httpPort: s.httpPort },
    shutdownGraceMs: s.shutdownGraceMs,
    logLevel: s.logLevel,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
