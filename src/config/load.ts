import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { buildClient, type ClientValues, type Label } from './client.js';
import { readConfigFile, type ConfigFile, type YamlPath } from './file.js';
import type { ActorConfig, Config, IssuerConfig, SharedCacheConfig, TargetConfig, TargetMatch } from './model.js';
import { environmentSource, fileSource, firstOf, type Environment, type ReadFile, type Source } from './sources.js';
import { ACCESS_TOKEN_TYPE, ISSUER_SETTINGS, SERVICE_SETTINGS, TARGET_SETTINGS, type Parsed, type SettingSpec, type SettingsTable } from './settings.js';
import { checkProfile } from './profiles.js';
import { parseCacheKeys } from './cache-keys.js';
import { connectionCaps, descriptorLimit } from './descriptors.js';
import { isLoopback } from '../net/loopback.js';

export type { Config, IssuerConfig, TargetConfig, ClientConfig, ActorConfig, TargetMatch, SharedCacheConfig } from './model.js';
export type { Environment } from './sources.js';

/**
 * Parses and validates every setting at once, from the environment and the
 * optional `CONFIG_FILE` (environment wins over the file's top level; an
 * `issuers` / `targets` entry wins over both). Throws a {@link ConfigError}
 * with one line per problem, each naming its variable or file position.
 */
export function loadConfig(env: Environment, readFile: ReadFile = (path) => readFileSync(path, 'utf8')): Config {
  const problems: string[] = [];
  const fromEnv = environmentSource(env, readFile);
  const configPath = env.CONFIG_FILE === '' ? undefined : env.CONFIG_FILE;
  const file = configPath === undefined ? undefined : readConfigFile(configPath, readFile, problems);
  // A file that cannot be read or parsed says all there is to say; what would follow is noise.
  if (configPath !== undefined && !file) throw new ConfigError(problems);
  if (file) problems.push(...unknownKeys(file));
  const top = file ? firstOf(fromEnv, fileSource(file, file.root, [], readFile)) : fromEnv;

  const service = parseTable(SERVICE_SETTINGS, top, problems, undefined);
  const issuerEntries = entries(file, 'issuers', top, readFile);
  const issuerValues = issuerEntries.map((entry) => ({ entry, values: parseTable(ISSUER_SETTINGS, entry.source, problems, entry.where) }));
  const issuers = issuerValues.map(({ entry, values }) => buildIssuer(values, service, entry.label, readFile, problems));

  const targetEntries = entries(file, 'targets', top, readFile);
  const targets = targetEntries.map((entry) => {
    const values = parseTable(TARGET_SETTINGS, entry.source, problems, entry.where);
    const issuerUrl = typeof entry.raw.issuer === 'string' ? entry.raw.issuer : issuerValues[0]?.values.issuer;
    const issuer = issuerValues.find(({ values }) => values.issuer === issuerUrl);
    if (issuer || issuerUrl === undefined) return buildTarget(values, issuer?.values, entry, service, readFile, problems);
    problems.push(`${entry.at('issuer')}: ${JSON.stringify(issuerUrl)} is not one of the issuers`);
    return undefined;
  });

  const names = targetEntries.map((entry) => (entry.where === undefined ? 'default' : entry.raw.name));
  names.forEach((name, i) => typeof name === 'string' && names.indexOf(name) !== i && problems.push(`${targetEntries[i]!.at('name')}: target name ${JSON.stringify(name)} is used twice`));
  const urls = issuers.map((issuer) => issuer?.issuer);
  urls.forEach((url, i) => url !== undefined && urls.indexOf(url) !== i && problems.push(`${file?.where(['issuers', i])}: issuer ${JSON.stringify(url)} is listed twice`));
  const defaultTarget = service.defaultTarget ?? (targets.length === 1 ? targets[0]?.name : undefined);
  if (service.defaultTarget !== undefined && !names.includes(service.defaultTarget)) {
    problems.push(`DEFAULT_TARGET: ${JSON.stringify(service.defaultTarget)} is not one of the targets (${names.filter((name) => typeof name === 'string').join(', ')})`);
  }

  const ca = service.caFile === undefined ? undefined : readCa(service.caFile, readFile, problems);
  const sharedCache = buildSharedCache(service, readFile, problems);
  const caps = connectionCaps({ grpc: service.grpcMaxConnections, ops: service.httpMaxConnections, authz: service.authzHttpMaxConnections }, service.authzHttpPort !== undefined, descriptorLimit(readFile));
  if (typeof caps === 'string') problems.push(caps);
  if (service.grpcMaxPendingBytes < service.grpcMaxMessageBytes) problems.push(`GRPC_MAX_PENDING_BYTES: ${service.grpcMaxPendingBytes} is less than GRPC_MAX_MESSAGE_BYTES (${service.grpcMaxMessageBytes}); one whole request must fit`);
  if (problems.length > 0 || typeof caps === 'string') throw new ConfigError(problems);
  return deepFreeze({
    resourceUrl: service.resourceUrl,
    issuers: issuers as IssuerConfig[],
    targets: targets as TargetConfig[],
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
  });
}

type ServiceValues = Parsed<typeof SERVICE_SETTINGS>;
type IssuerValues = Parsed<typeof ISSUER_SETTINGS>;
type TargetValues = Parsed<typeof TARGET_SETTINGS>;

/** One issuer or target: where its values come from and how to name them in a problem. */
interface Entry {
  readonly source: Source;
  /** "config.yaml:7: targets[1]", or undefined for the environment */
  readonly where: string | undefined;
  readonly raw: Readonly<Record<string, unknown>>;
  /** names a setting of this entry in a problem line */
  readonly label: (spec: SettingSpec<unknown>) => string;
  /** names a key (or nested key) of this entry in a problem line */
  readonly at: (...keys: string[]) => string;
}

/** The file's list entries, or the single entry the environment (and the file's top level) describe. */
function entries(file: ConfigFile | undefined, list: 'issuers' | 'targets', top: Source, readFile: ReadFile): Entry[] {
  const items = file?.root[list];
  if (!file || !Array.isArray(items)) return [{ source: top, where: undefined, raw: {}, label: (spec) => spec.env, at: (...keys) => keys.join('.') }];
  return items.map((item, index) => {
    const raw = item && typeof item === 'object' ? (item as Record<string, unknown>) : {};
    const path: YamlPath = [list, index];
    return {
      source: firstOf(fileSource(file, raw, path, readFile), top),
      where: file.where(path),
      raw,
      label: (spec) => file.where([...path, spec.env.toLowerCase()]),
      at: (...keys) => file.where([...path, ...keys]),
    };
  });
}

/** Parses one table from a source; every failure is one problem line. */
function parseTable<T extends SettingsTable>(table: T, source: Source, problems: string[], where: string | undefined): Parsed<T> {
  const parsed: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const raw = source(spec, problems);
    const value = raw?.value ?? spec.default;
    if (value === undefined) {
      if (spec.required) problems.push(`${where ? `${where}.${spec.env.toLowerCase()}` : spec.env}: is required`);
      continue;
    }
    try {
      parsed[key] = spec.parse(value);
    } catch (error) {
      problems.push(`${raw?.where ?? spec.env}: ${spec.secret ? 'is not a valid value' : (error as Error).message}`);
    }
  }
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

function clientLabel(entry: Pick<Entry, 'label'>, prefix: 'CLIENT' | 'EXCHANGE_CLIENT', table: SettingsTable): Label {
  return (suffix) => entry.label(Object.values(table).find((spec) => spec.env === `${prefix}_${suffix}`)!);
}

/**
 * Names an exchange-client setting in a problem line. From the environment,
 * `EXCHANGE_CLIENT_*` defaults to `CLIENT_*` (SPEC §2): the line names the
 * variable that held the value, or both when neither did
 * ("EXCHANGE_CLIENT_ID (or CLIENT_ID): is required").
 */
function inheritingLabel(entry: Entry, own: ClientValues, inherited: ClientValues | undefined): Label {
  const label = clientLabel(entry, 'EXCHANGE_CLIENT', TARGET_SETTINGS);
  if (entry.where !== undefined) return label;
  return (suffix) => {
    const key = suffix.toLowerCase().replace(/_(.)/g, (_, letter: string) => letter.toUpperCase()) as keyof ClientValues;
    if (own[key] !== undefined) return label(suffix);
    if (inherited?.[key] !== undefined) return `CLIENT_${suffix}`;
    return `${label(suffix)} (or CLIENT_${suffix})`;
  };
}

function buildIssuer(values: IssuerValues, service: ServiceValues, label: Entry['label'], readFile: ReadFile, problems: string[]): IssuerConfig | undefined {
  const before = problems.length;
  checkHttps(values.issuer, label(ISSUER_SETTINGS.issuer), service, problems);
  checkHttps(values.jwksUri, label(ISSUER_SETTINGS.jwksUri), service, problems);
  checkHttps(values.introspectionEndpoint, label(ISSUER_SETTINGS.introspectionEndpoint), service, problems);
  // The issuer's own client authenticates introspection; otherwise its values only feed the exchange client's defaults.
  const client = values.introspectionEndpoint !== undefined ? buildClient(clientValues(values), clientLabel({ label }, 'CLIENT', ISSUER_SETTINGS), readFile, problems) : undefined;
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

function buildTarget(values: TargetValues, issuer: IssuerValues | undefined, entry: Entry, service: ServiceValues, readFile: ReadFile, problems: string[]): TargetConfig | undefined {
  const before = problems.length;
  const name = entry.where === undefined ? 'default' : entry.raw.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) problems.push(`${entry.at('name')}: each target needs a name of letters, digits, "_", "." or "-"`);
  checkHttps(values.tokenEndpoint, entry.label(TARGET_SETTINGS.tokenEndpoint), service, problems);

  // EXCHANGE_CLIENT_* default to the issuer's CLIENT_* (SPEC §2).
  const own = clientValues(values);
  const inherited = issuer ? clientValues(issuer) : undefined;
  const merged = Object.fromEntries(Object.entries(own).map(([key, value]) => [key, value ?? inherited?.[key as keyof ClientValues]])) as unknown as ClientValues;
  const client = buildClient(merged, inheritingLabel(entry, own, inherited), readFile, problems);

  const actor = buildActor(values, entry, problems);
  const target: TargetConfig | undefined =
    client && typeof name === 'string'
      ? {
          name,
          issuer: issuer?.issuer ?? '',
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
          match: buildMatch(entry, name, problems),
        }
      : undefined;
  if (target) problems.push(...checkProfile(target, entry.label, values.subjectTokenType !== ACCESS_TOKEN_TYPE));
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

function buildActor(values: TargetValues, entry: Entry, problems: string[]): ActorConfig {
  const source = values.actorSource;
  // The actor header is removed on the way upstream; it cannot be the inbound token's header or the one the exchanged token is written to.
  if (source === 'header' && (values.actorHeader === 'authorization' || values.actorHeader === values.tokenHeader)) {
    problems.push(`${entry.label(TARGET_SETTINGS.actorHeader)}: must differ from authorization and from ${entry.label(TARGET_SETTINGS.tokenHeader)}`);
  }
  if (source === 'header' && values.actorHeader === undefined) problems.push(`${entry.label(TARGET_SETTINGS.actorHeader)}: is required when the actor source is header`);
  if (source === 'static' && values.actorToken === undefined) problems.push(`${entry.label(TARGET_SETTINGS.actorToken)}: is required when the actor source is static`);
  if (source !== 'header' && values.actorHeader !== undefined) problems.push(`${entry.label(TARGET_SETTINGS.actorHeader)}: is only used with the actor source header`);
  if (source !== 'static' && values.actorToken !== undefined) problems.push(`${entry.label(TARGET_SETTINGS.actorToken)}: is only used with the actor source static`);
  return { source, header: values.actorHeader, token: values.actorToken, tokenType: values.actorTokenType };
}

const MATCH_KEYS = { context: 'context', hosts: 'hosts', path_prefixes: 'pathPrefixes', destination_principals: 'destinationPrincipals' } as const;

function buildMatch(entry: Entry, name: string, problems: string[]): TargetMatch {
  const match: Record<string, string[]> = { context: [name], hosts: [], pathPrefixes: [], destinationPrincipals: [] };
  const raw = entry.raw.match;
  if (raw === undefined) return match as unknown as TargetMatch;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${entry.at('match')}: must be a mapping of ${Object.keys(MATCH_KEYS).join(', ')}`);
    return match as unknown as TargetMatch;
  }
  for (const [key, value] of Object.entries(raw)) {
    const field = MATCH_KEYS[key as keyof typeof MATCH_KEYS];
    const list = typeof value === 'string' ? [value] : value;
    if (!field) problems.push(`${entry.at('match', key)}: unknown rule (${Object.keys(MATCH_KEYS).join(', ')})`);
    else if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item !== '')) problems.push(`${entry.at('match', key)}: must be a string or a list of strings`);
    else if (field === 'pathPrefixes' && !list.every((item: string) => item.startsWith('/'))) problems.push(`${entry.at('match', key)}: each path prefix starts with "/"`);
    else match[field] = field === 'hosts' ? list.map((host: string) => host.toLowerCase()) : list;
  }
  return match as unknown as TargetMatch;
}

/** TRACING, else on when an OTLP endpoint is set; `OTEL_SDK_DISABLED=true` (OpenTelemetry's own switch) wins. */
function tracingOn(setting: boolean | undefined, env: Environment): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return setting ?? !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** SPEC §2: http:// only for loopback unless ALLOW_INSECURE_HTTP (tokens and secrets travel on these calls). */
function checkHttps(value: string | undefined, where: string, service: Pick<ServiceValues, 'allowInsecureHttp'>, problems: string[]): void {
  if (value === undefined || service.allowInsecureHttp === true) return;
  const url = new URL(value);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    problems.push(`${where}: http:// is allowed only for loopback addresses (use https, or set ALLOW_INSECURE_HTTP=true)`);
  }
}

/** Kept for importers of this module; the rule lives in src/net/loopback.ts. */
export { isLoopback };

function readCa(path: string, readFile: ReadFile, problems: string[]): string | undefined {
  try {
    const pem = readFile(path);
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return pem;
    problems.push(`AUTHORIZATION_SERVER_CA_FILE: ${path} holds no PEM certificate`);
  } catch (error) {
    problems.push(`AUTHORIZATION_SERVER_CA_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return undefined;
}

/** SPEC §4b: REDIS_URL and CACHE_KEYS_FILE go together; the key file is read and checked here, never echoed. */
function buildSharedCache(service: ServiceValues, readFile: ReadFile, problems: string[]): SharedCacheConfig | undefined {
  const { redisUrl: url, cacheKeysFile: path } = service;
  if (url === undefined) {
    const badUrl = problems.some((problem) => /\bREDIS_URL\b|\bredis_url\b/.test(problem));
    if (path !== undefined && !badUrl) problems.push('CACHE_KEYS_FILE: is only used with REDIS_URL');
    if (service.redisPassword !== undefined) problems.push('REDIS_PASSWORD: is only used with REDIS_URL');
    return undefined;
  }
  if (path === undefined) {
    problems.push('CACHE_KEYS_FILE: is required with REDIS_URL');
    return undefined;
  }
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`CACHE_KEYS_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  try {
    return { url, password: service.redisPassword, timeoutMs: service.redisTimeoutMs, keys: parseCacheKeys(text) };
  } catch (error) {
    problems.push(`CACHE_KEYS_FILE: ${path} ${(error as Error).message}`);
    return undefined;
  }
}

/** Keys the file may hold at each level; anything else is a typo worth stopping for. */
function unknownKeys(file: ConfigFile): string[] {
  const keysOf = (table: SettingsTable) => Object.values(table).flatMap((spec) => (spec.secret ? [spec.env.toLowerCase(), `${spec.env.toLowerCase()}_file`] : [spec.env.toLowerCase()]));
  const issuerKeys = new Set(keysOf(ISSUER_SETTINGS));
  const targetKeys = new Set([...keysOf(TARGET_SETTINGS), 'name', 'issuer', 'match']);
  const topKeys = new Set([...keysOf(SERVICE_SETTINGS), ...issuerKeys, ...keysOf(TARGET_SETTINGS), 'issuers', 'targets']);
  topKeys.delete('config_file');
  const problems: string[] = [];
  const check = (mapping: unknown, allowed: Set<string>, path: YamlPath) => {
    if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping)) {
      problems.push(`${file.where(path)}: must be a mapping`);
      return;
    }
    for (const key of Object.keys(mapping)) if (!allowed.has(key)) problems.push(`${file.where([...path, key])}: unknown setting`);
  };
  check(file.root, topKeys, []);
  for (const list of ['issuers', 'targets'] as const) {
    const items = file.root[list];
    if (items === undefined) continue;
    if (!Array.isArray(items) || items.length === 0) problems.push(`${file.where([list])}: must be a non-empty list`);
    else items.forEach((item, index) => check(item, list === 'issuers' ? issuerKeys : targetKeys, [list, index]));
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
