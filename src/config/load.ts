import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { buildClient, CLIENT_SUFFIXES, withDefaults, type ClientSuffix, type ClientValues, type Label } from './client.js';
import { readConfigFile, type ConfigFile, type YamlPath } from './file.js';
import type { ActorConfig, Config, IssuerConfig, SharedCacheConfig, TargetConfig } from './model.js';
import { errorCode, errorMessage, Problems } from './problems.js';
import { checkActor, checkGrpcBounds, checkHttps, checkProfile, checkSharedCache, checkTargetsAndIssuers } from './rules.js';
import { checkFileKeys, isMapping, targetMatch, targetName, type At, type ListName } from './schema.js';
import { environmentSource, fileSource, firstOf, type Environment, type ReadFile, type Source } from './sources.js';
import { ACCESS_TOKEN_TYPE, ISSUER_SETTINGS, SERVICE_SETTINGS, TARGET_SETTINGS, type Parsed, type SettingSpec, type SettingsTable } from './settings.js';
import { parseCacheKeys } from './cache-keys.js';
import { connectionCaps, descriptorLimit } from './descriptors.js';

export type { Config, IssuerConfig, TargetConfig, ClientConfig, ActorConfig, TargetMatch, SharedCacheConfig } from './model.js';
export type { Environment } from './sources.js';
/** Kept here for the modules that import it from the loader; the rule lives in `rules.ts`. */

/**
 * Parses and validates every setting at once, from the environment and the
 * optional `CONFIG_FILE` (environment wins over the file's top level; an
 * `issuers` / `targets` entry wins over both). Throws a {@link ConfigError}
 * with one line per problem, each naming its variable or file position.
 */
export function loadConfig(env: Environment, readFile: ReadFile = (path) => readFileSync(path, 'utf8')): Config {
  const problems = new Problems();
  const fromEnv = environmentSource(env, readFile);
  const configPath = env.CONFIG_FILE === '' ? undefined : env.CONFIG_FILE;
  const file = configPath === undefined ? undefined : readConfigFile(configPath, readFile, problems);
  // A file that cannot be read or parsed says all there is to say; what would follow is noise.
  if (configPath !== undefined && !file) throw new ConfigError(problems.lines);
  if (file) checkFileKeys(file, problems);
  const top = topEntry(file ? firstOf(fromEnv, fileSource(file, file.root, [], readFile)) : fromEnv);

  const service = parseTable(SERVICE_SETTINGS, top, problems);
  const issuerValues = entries(file, 'issuers', top, readFile).map((entry): ParsedIssuer => ({ entry, values: parseTable(ISSUER_SETTINGS, entry, problems) }));
  const issuers = issuerValues.map((issuer) => buildIssuer(issuer, service, readFile, problems));

  const targetEntries = entries(file, 'targets', top, readFile);
  const targets = targetEntries.map((entry) => {
    const values = parseTable(TARGET_SETTINGS, entry, problems);
    const issuerUrl = typeof entry.raw.issuer === 'string' ? entry.raw.issuer : issuerValues[0]?.values.issuer;
    const issuer = issuerValues.find(({ values }) => values.issuer === issuerUrl);
    if (issuer || issuerUrl === undefined) return buildTarget(values, issuer, entry, service, readFile, problems);
    problems.push(`${entry.at('issuer')}: ${JSON.stringify(issuerUrl)} is not one of the issuers`);
    return undefined;
  });

  checkTargetsAndIssuers(
    targetEntries.map((entry) => ({ value: entry.where === undefined ? 'default' : entry.raw.name, at: entry.at('name') })),
    issuers.map((issuer, i) => ({ value: issuer?.issuer, at: issuerValues[i]?.entry.where ?? '' })),
    service.defaultTarget,
    problems,
  );
  const defaultTarget = service.defaultTarget ?? (targets.length === 1 ? targets[0]?.name : undefined);
  const ca = service.caFile === undefined ? undefined : readCa(service.caFile, readFile, problems);
  checkSharedCache(service, problems.failed('', SERVICE_SETTINGS.redisUrl.env), problems);
  const sharedCache = buildSharedCache(service, readFile, problems);
  const caps = connectionCaps({ grpc: service.grpcMaxConnections, ops: service.httpMaxConnections, authz: service.authzHttpMaxConnections }, service.authzHttpPort !== undefined, descriptorLimit(readFile));
  if (typeof caps === 'string') problems.push(caps);
  checkGrpcBounds(service, problems);
  if (problems.length > 0 || typeof caps === 'string') throw new ConfigError(problems.lines);
  return deepFreeze({
    resourceUrl: service.resourceUrl,
    issuers: issuers.filter(isDefined),
    targets: targets.filter(isDefined),
    defaultTarget,
    targetContextKey: service.targetContextKey,
    validation: { clockToleranceSeconds: service.clockTolerance, maxTokenBytes: service.maxTokenBytes },
    cache: {
      ttlSeconds: service.exchangeCacheTtl,
      max: service.exchangeCacheMax,
      introspectionMaxSeconds: service.introspectionCacheMax,
      introspectionInactiveSeconds: service.introspectionInactiveSeconds,
    },
    sharedCache,
    authorizationServer: {
      timeoutMs: service.authorizationServerTimeoutMs,
      maxResponseBytes: service.authorizationServerMaxResponseBytes,
      allowInsecureHttp: service.allowInsecureHttp,
      ca,
      jwksRefreshSeconds: service.jwksRefreshSeconds,
      jwksCooldownSeconds: service.jwksCooldownSeconds,
    },
    listen: { address: service.listenAddress, grpcPort: service.grpcPort, httpPort: service.httpPort, authzHttpPort: service.authzHttpPort },
    grpc: {
      maxConnectionAgeMs: service.maxConnectionAgeMs,
      maxConnectionAgeGraceMs: service.maxConnectionAgeGraceMs,
      keepaliveTimeMs: service.keepaliveTimeMs,
      keepaliveTimeoutMs: service.keepaliveTimeoutMs,
      connectionWindowBytes: service.connectionWindowBytes,
      maxMessageBytes: service.grpcMaxMessageBytes,
      maxConcurrentStreams: service.grpcMaxConcurrentStreams,
      maxConnections: caps.grpc,
      maxPendingBytes: service.grpcMaxPendingBytes,
      requestTimeoutMs: service.grpcRequestTimeoutMs,
      idleTimeoutMs: service.grpcIdleTimeoutMs,
      maxRequestHeaders: service.grpcMaxRequestHeaders,
      maxRequestHeaderBytes: service.grpcMaxRequestHeaderBytes,
    },
    opsHttp: { maxConnections: caps.ops },
    authzHttp: { maxConnections: caps.authz ?? 0, keepAliveTimeoutMs: service.authzHttpKeepAliveTimeoutMs, maxHeaders: service.authzHttpMaxHeaders },
    serveResourceMetadata: service.serveResourceMetadata,
    tracing: tracingOn(service.tracing, env),
    reloadPollSeconds: service.reloadPollSeconds,
    shutdownGraceMs: service.shutdownGraceMs,
    workers: service.workers,
    heapGrowingPercent: service.heapGrowingPercent,
    logLevel: service.logLevel,
    settings: service,
  });
}

type ServiceValues = Parsed<typeof SERVICE_SETTINGS>;
type IssuerValues = Parsed<typeof ISSUER_SETTINGS>;
type TargetValues = Parsed<typeof TARGET_SETTINGS>;

/** The values of one issuer, and the entry they were read from. */
interface ParsedIssuer {
  readonly entry: Entry;
  readonly values: IssuerValues;
}

/** One issuer or target: where its values come from and how to name them in a problem. */
interface Entry {
  readonly source: Source;
  /** "config.yaml:7: targets[1]", or undefined for the environment (and the file's top level) */
  readonly where: string | undefined;
  readonly raw: Readonly<Record<string, unknown>>;
  /** names a setting of this entry in a problem line */
  readonly label: (spec: SettingSpec<unknown>) => string;
  /** names a key (or nested key) of this entry in a problem line */
  readonly at: At;
}

/** The environment and the file's top level, as one entry. */
function topEntry(source: Source): Entry {
  return { source, where: undefined, raw: {}, label: (spec) => spec.env, at: (...keys) => keys.join('.') };
}

/** The file's list entries (falling back on the top level for what they do not set), or the top level as the single entry. */
function entries(file: ConfigFile | undefined, list: ListName, top: Entry, readFile: ReadFile): Entry[] {
  const items = file?.root[list];
  if (!file || !Array.isArray(items)) return [top];
  return items.map((item: unknown, index) => {
    const raw = isMapping(item) ? item : {};
    const path: YamlPath = [list, index];
    return {
      source: firstOf(fileSource(file, raw, path, readFile), top.source),
      where: file.where(path),
      raw,
      label: (spec) => file.where([...path, spec.env.toLowerCase()]),
      at: (...keys) => file.where([...path, ...keys]),
    };
  });
}

/**
 * Parses one table from an entry; every failure is one problem line, and the
 * setting is marked as having one.
 */
function parseTable<T extends SettingsTable>(table: T, entry: Entry, problems: Problems): Parsed<T> {
  const parsed: Record<string, unknown> = {};
  const scope = entry.where ?? '';
  for (const [key, spec] of Object.entries(table)) {
    const before = problems.length;
    const raw = entry.source(spec, problems);
    const value = raw?.value ?? spec.default;
    if (value === undefined) {
      if (spec.required) problems.push(`${entry.label(spec)}: is required`);
    } else {
      try {
        parsed[key] = spec.parse(value);
      } catch (error) {
        problems.push(`${raw?.where ?? spec.env}: ${spec.secret ? 'is not a valid value' : errorMessage(error)}`);
      }
    }
    if (problems.length > before) problems.markFailed(scope, spec.env);
  }
  // Each key of the table was parsed by its own spec's parser, or is absent where unset and without default.
  return parsed as Parsed<T>;
}

function clientValues(values: IssuerValues | TargetValues): ClientValues {
  return {
    id: values.clientId,
    secret: values.clientSecret,
    authMethod: values.clientAuthMethod,
    privateKeyFile: values.clientPrivateKeyFile,
    keyId: values.clientKeyId,
    assertionAlg: values.clientAssertionAlg,
    assertionAudience: values.clientAssertionAudience,
    assertionFile: values.clientAssertionFile,
    certFile: values.clientCertFile,
    keyFile: values.clientKeyFile,
  };
}

/** Names the client setting `<prefix>_<suffix>` of an entry; `failed`: it already has a line of its own. */
function clientNaming(entry: Entry, prefix: 'CLIENT' | 'EXCHANGE_CLIENT', problems: Problems): { label: Label; failed: (suffix: ClientSuffix) => boolean } {
  const env = (suffix: ClientSuffix) => `${prefix}_${suffix}`;
  return {
    label: (suffix) => (entry.where === undefined ? env(suffix) : entry.at(env(suffix).toLowerCase())),
    failed: (suffix) => problems.failed(entry.where ?? '', env(suffix)),
  };
}

/**
 * Names an exchange-client setting in a problem line. From the environment,
 * `EXCHANGE_CLIENT_*` defaults to `CLIENT_*` (SPEC §2): the line names the
 * variable that held the value, or both when neither did
 * ("EXCHANGE_CLIENT_ID (or CLIENT_ID): is required").
 */
function inheritingLabel(entry: Entry, own: ClientValues, inherited: ClientValues | undefined, problems: Problems): Label {
  const { label } = clientNaming(entry, 'EXCHANGE_CLIENT', problems);
  if (entry.where !== undefined) return label;
  return (suffix) => {
    const key = CLIENT_SUFFIXES[suffix];
    if (own[key] !== undefined) return label(suffix);
    if (inherited?.[key] !== undefined) return `CLIENT_${suffix}`;
    return `${label(suffix)} (or CLIENT_${suffix})`;
  };
}

function buildIssuer({ entry, values }: ParsedIssuer, service: ServiceValues, readFile: ReadFile, problems: Problems): IssuerConfig | undefined {
  const before = problems.length;
  checkHttps(values.issuer, entry.label(ISSUER_SETTINGS.issuer), service, problems);
  checkHttps(values.jwksUri, entry.label(ISSUER_SETTINGS.jwksUri), service, problems);
  checkHttps(values.introspectionEndpoint, entry.label(ISSUER_SETTINGS.introspectionEndpoint), service, problems);
  // The issuer's own client authenticates introspection; otherwise its values only feed the exchange client's defaults.
  const naming = clientNaming(entry, 'CLIENT', problems);
  const client = values.introspectionEndpoint !== undefined ? buildClient(clientValues(values), naming.label, naming.failed, readFile, problems) : undefined;
  if (problems.length > before || values.issuer === undefined) return undefined;
  const audiences = values.audiences ?? (service.resourceUrl === undefined ? [] : [service.resourceUrl]);
  return {
    issuer: values.issuer,
    jwksUri: values.jwksUri,
    audiences,
    algorithms: values.algorithms,
    tokenTypes: values.tokenTypes?.map((typ) => typ.toLowerCase().replace(/^application\//, '')),
    introspection: values.introspectionEndpoint !== undefined && client ? { endpoint: values.introspectionEndpoint, client } : undefined,
    client,
  };
}

function buildTarget(values: TargetValues, issuer: ParsedIssuer | undefined, entry: Entry, service: ServiceValues, readFile: ReadFile, problems: Problems): TargetConfig | undefined {
  const before = problems.length;
  const name = entry.where === undefined ? 'default' : targetName(entry.raw.name, entry.at, problems);
  checkHttps(values.tokenEndpoint, entry.label(TARGET_SETTINGS.tokenEndpoint), service, problems);

  // EXCHANGE_CLIENT_* default to the issuer's CLIENT_* (SPEC §2).
  const own = clientValues(values);
  const inherited = issuer ? clientValues(issuer.values) : undefined;
  const ownNaming = clientNaming(entry, 'EXCHANGE_CLIENT', problems);
  const inheritedNaming = issuer ? clientNaming(issuer.entry, 'CLIENT', problems) : undefined;
  const failed = (suffix: ClientSuffix) => ownNaming.failed(suffix) || (inheritedNaming?.failed(suffix) ?? false);
  const client = buildClient(withDefaults(own, inherited), inheritingLabel(entry, own, inherited, problems), failed, readFile, problems);

  checkActor(values, entry.label, problems);
  const actor: ActorConfig = { source: values.actorSource, header: values.actorHeader, token: values.actorToken, tokenType: values.actorTokenType };
  const target: TargetConfig | undefined =
    client && name !== undefined
      ? {
          name,
          issuer: issuer?.values.issuer ?? '',
          tokenEndpoint: values.tokenEndpoint,
          client,
          profile: values.profile,
          audience: values.audience ?? [],
          resource: values.resource ?? [],
          scope: values.scope?.join(' '),
          requestedTokenType: values.requestedTokenType === 'omit' ? undefined : values.requestedTokenType,
          subjectTokenType: values.subjectTokenType,
          actor,
          extraParams: values.extraParams ?? [],
          requiredScopes: values.requiredScopes ?? [],
          header: targetHeader(values.tokenHeader, values.tokenPrefix === 'none' ? '' : values.tokenPrefix, actor),
          match: targetMatch(entry.raw.match, name, entry.at, problems),
        }
      : undefined;
  if (target) checkProfile(target, entry.label, values.subjectTokenType !== ACCESS_TOKEN_TYPE, problems);
  return problems.length > before ? undefined : target;
}

/**
 * Where the exchanged token goes, and every credential of the caller's that
 * must not reach the upstream (SPEC §3): `authorization` when the token goes
 * elsewhere, and the actor token's header. Never the header being set.
 */
function targetHeader(name: string, prefix: string, actor: ActorConfig): TargetConfig['header'] {
  const consumed = ['authorization', ...(actor.source === 'header' && actor.header !== undefined ? [actor.header] : [])];
  return { name, prefix, remove: [...new Set(consumed)].filter((header) => header !== name) };
}

/** TRACING, else on when an OTLP endpoint is set; `OTEL_SDK_DISABLED=true` (OpenTelemetry's own switch) wins. */
function tracingOn(setting: boolean | undefined, env: Environment): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return setting ?? !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

function readCa(path: string, readFile: ReadFile, problems: Problems): string | undefined {
  try {
    const pem = readFile(path);
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return pem;
    problems.push(`AUTHORIZATION_SERVER_CA_FILE: ${path} holds no PEM certificate`);
  } catch (error) {
    problems.push(`AUTHORIZATION_SERVER_CA_FILE: cannot read ${path} (${errorCode(error)})`);
  }
  return undefined;
}

/** SPEC §4b: the shared tier, when REDIS_URL is set; the key file is read and checked here, never echoed. */
function buildSharedCache(service: ServiceValues, readFile: ReadFile, problems: Problems): SharedCacheConfig | undefined {
  const { redisUrl: url, cacheKeysFile: path } = service;
  if (url === undefined || path === undefined) return undefined;
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`CACHE_KEYS_FILE: cannot read ${path} (${errorCode(error)})`);
    return undefined;
  }
  try {
    return { url, password: service.redisPassword, timeoutMs: service.redisTimeoutMs, keys: parseCacheKeys(text) };
  } catch (error) {
    problems.push(`CACHE_KEYS_FILE: ${path} ${errorMessage(error)}`);
    return undefined;
  }
}

/** With no problem line, every issuer and target was built. */
function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
