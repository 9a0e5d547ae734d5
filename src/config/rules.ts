/**
 * The cross-field rules of the configuration (SPEC §2, §4b, §5): every check
 * that relates one setting to another, in one place. Each rule adds one line
 * per problem, naming the setting through the label it is given (a variable,
 * or a file position).
 */
import type { ClientValues, Label } from './client.js';
import { isLoopback } from '../net/loopback.js';
import type { TargetConfig } from './model.js';
import type { Problems } from './problems.js';
import { ACCESS_TOKEN_TYPE, SERVICE_SETTINGS, TARGET_SETTINGS, type Parsed, type SettingSpec } from './settings.js';

type ServiceValues = Parsed<typeof SERVICE_SETTINGS>;
type TargetValues = Parsed<typeof TARGET_SETTINGS>;
/** Names a setting of one entry in a problem line. */
type Name = (spec: SettingSpec<unknown>) => string;

/** SPEC §2: http:// only for loopback unless ALLOW_INSECURE_HTTP (tokens and secrets travel on these calls). */
export function checkHttps(value: string | undefined, where: string, service: Pick<ServiceValues, 'allowInsecureHttp'>, problems: Problems): void {
  if (value === undefined || service.allowInsecureHttp === true) return;
  const url = new URL(value);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    problems.push(`${where}: http:// is allowed only for loopback addresses (use https, or set ALLOW_INSECURE_HTTP=true)`);
  }
}

/**
 * What each client authentication method needs (RFC 6749 §2.3.1, RFC 7523
 * §2.2, RFC 8705 §2). `failed`: the setting already has a line of its own (a
 * value was given but is unusable), so "is required" would mislead.
 */
export function checkClientMethod(values: ClientValues, label: Label, failed: (suffix: 'ID' | 'SECRET') => boolean, problems: Problems): void {
  const method = values.authMethod ?? 'client_secret_basic';
  if (values.id === undefined && !failed('ID')) problems.push(`${label('ID')}: is required`);
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && values.secret === undefined && !failed('SECRET')) {
    problems.push(`${label('SECRET')}: is required for ${method}`);
  }
  if (method === 'private_key_jwt' && values.privateKeyFile === undefined) problems.push(`${label('PRIVATE_KEY_FILE')}: is required for private_key_jwt`);
  if (method === 'tls_client_auth' && values.certFile === undefined) problems.push(`${label('CERT_FILE')}: is required for tls_client_auth`);
  if (method === 'tls_client_auth' && values.keyFile === undefined) problems.push(`${label('KEY_FILE')}: is required for tls_client_auth`);
  if (method === 'client_assertion_file' && values.assertionFile === undefined) problems.push(`${label('ASSERTION_FILE')}: is required for client_assertion_file`);
}

/** The actor token (RFC 8693 §2.1): each source needs its setting, and only its own. */
export function checkActor(values: Pick<TargetValues, 'actorSource' | 'actorHeader' | 'actorToken' | 'tokenHeader'>, name: Name, problems: Problems): void {
  const source = values.actorSource;
  // The actor header is removed on the way upstream; it cannot be the inbound token's header or the one the exchanged token is written to.
  if (source === 'header' && (values.actorHeader === 'authorization' || values.actorHeader === values.tokenHeader)) {
    problems.push(`${name(TARGET_SETTINGS.actorHeader)}: must differ from authorization and from ${name(TARGET_SETTINGS.tokenHeader)}`);
  }
  if (source === 'header' && values.actorHeader === undefined) problems.push(`${name(TARGET_SETTINGS.actorHeader)}: is required when the actor source is header`);
  if (source === 'static' && values.actorToken === undefined) problems.push(`${name(TARGET_SETTINGS.actorToken)}: is required when the actor source is static`);
  if (source !== 'header' && values.actorHeader !== undefined) problems.push(`${name(TARGET_SETTINGS.actorHeader)}: is only used with the actor source header`);
  if (source !== 'static' && values.actorToken !== undefined) problems.push(`${name(TARGET_SETTINGS.actorToken)}: is only used with the actor source static`);
}

/** Token types Auth0 reserves; a Custom Token Exchange profile must use its own URI. */
const AUTH0_RESERVED = [/^urn:ietf:params:oauth:/, /^urn:auth0:/, /^https?:\/\/([^/]+\.)?auth0\.com\//];

/**
 * What each identity-provider profile requires of a target, checked at
 * start-up so a target that the provider would refuse never starts.
 * `subjectTypeSet`: the subject token type was configured, not defaulted.
 */
export function checkProfile(target: TargetConfig, name: Name, subjectTypeSet: boolean, problems: Problems): void {
  const refuse = (spec: SettingSpec<unknown>, why: string) => problems.push(`${name(spec)}: ${why} with the ${target.profile} profile`);
  switch (target.profile) {
    case 'keycloak':
      // Keycloak standard token exchange v2: access tokens in and out, audience = target client ids, no resource, no actor.
      if (target.audience.length === 0) refuse(TARGET_SETTINGS.audience, 'the target client id is required');
      if (target.resource.length > 0) refuse(TARGET_SETTINGS.resource, 'is not supported');
      if (target.actor.source !== 'none') refuse(TARGET_SETTINGS.actorSource, 'actor tokens are not supported');
      if (target.subjectTokenType !== ACCESS_TOKEN_TYPE) refuse(TARGET_SETTINGS.subjectTokenType, 'only access tokens can be exchanged');
      if (target.requestedTokenType !== undefined && target.requestedTokenType !== ACCESS_TOKEN_TYPE) refuse(TARGET_SETTINGS.requestedTokenType, 'only access tokens can be requested');
      break;
    case 'okta':
      // Okta's token exchange for delegation requires the actor token and an audience (the authorization server's API).
      if (target.actor.source === 'none') refuse(TARGET_SETTINGS.actorSource, 'an actor token is required');
      if (target.audience.length === 0) refuse(TARGET_SETTINGS.audience, 'is required');
      break;
    case 'auth0':
      // Auth0 Custom Token Exchange: a custom subject_token_type of your own namespace, audience = API identifier.
      if (!subjectTypeSet || AUTH0_RESERVED.some((pattern) => pattern.test(target.subjectTokenType))) {
        refuse(TARGET_SETTINGS.subjectTokenType, 'a custom token type URI of your own namespace is required');
      }
      if (target.audience.length === 0) refuse(TARGET_SETTINGS.audience, 'the API identifier is required');
      break;
    case 'entra_obo':
      // Entra ID On-Behalf-Of (jwt-bearer grant) has scope only: no RFC 8693 parameters exist in it.
      if (target.scope === undefined) refuse(TARGET_SETTINGS.scope, 'the API scope (for example api://orders/.default) is required');
      if (target.audience.length > 0) refuse(TARGET_SETTINGS.audience, 'is not a parameter of On-Behalf-Of');
      if (target.resource.length > 0) refuse(TARGET_SETTINGS.resource, 'is not a parameter of On-Behalf-Of');
      if (target.actor.source !== 'none') refuse(TARGET_SETTINGS.actorSource, 'actor tokens are not supported');
      if (target.requestedTokenType !== undefined) refuse(TARGET_SETTINGS.requestedTokenType, 'is not a parameter of On-Behalf-Of');
      if (target.client.authMethod === 'none') refuse(TARGET_SETTINGS.clientAuthMethod, 'a confidential client is required');
      break;
    case 'rfc8693':
      break;
  }
}

/** One entry's name (or issuer) with the position that names it in a problem line. */
export interface Named {
  readonly value: unknown;
  readonly at: string;
}

/** Target names and issuers are each listed once; `DEFAULT_TARGET` names a target (SPEC §2). */
export function checkTargetsAndIssuers(names: readonly Named[], issuers: readonly Named[], defaultTarget: string | undefined, problems: Problems): void {
  const values = names.map(({ value }) => value);
  names.forEach(({ value, at }, i) => typeof value === 'string' && values.indexOf(value) !== i && problems.push(`${at}: target name ${JSON.stringify(value)} is used twice`));
  const urls = issuers.map(({ value }) => value);
  issuers.forEach(({ value, at }, i) => value !== undefined && urls.indexOf(value) !== i && problems.push(`${at}: issuer ${JSON.stringify(value)} is listed twice`));
  if (defaultTarget !== undefined && !values.includes(defaultTarget)) {
    problems.push(`DEFAULT_TARGET: ${JSON.stringify(defaultTarget)} is not one of the targets (${values.filter((value) => typeof value === 'string').join(', ')})`);
  }
}

/**
 * SPEC §4b: REDIS_URL and CACHE_KEYS_FILE go together; REDIS_PASSWORD only
 * with REDIS_URL. `urlFailed`: REDIS_URL was given but has a line of its own.
 */
export function checkSharedCache(service: Pick<ServiceValues, 'redisUrl' | 'cacheKeysFile' | 'redisPassword'>, urlFailed: boolean, problems: Problems): void {
  if (service.redisUrl === undefined) {
    if (service.cacheKeysFile !== undefined && !urlFailed) problems.push('CACHE_KEYS_FILE: is only used with REDIS_URL');
    if (service.redisPassword !== undefined) problems.push('REDIS_PASSWORD: is only used with REDIS_URL');
  } else if (service.cacheKeysFile === undefined) {
    problems.push('CACHE_KEYS_FILE: is required with REDIS_URL');
  }
}

/** SPEC §5: one whole request must fit in what the open streams may hold. */
export function checkGrpcBounds(service: Pick<ServiceValues, 'grpcMaxPendingBytes' | 'grpcMaxMessageBytes'>, problems: Problems): void {
  if (service.grpcMaxPendingBytes < service.grpcMaxMessageBytes) {
    problems.push(`GRPC_MAX_PENDING_BYTES: ${service.grpcMaxPendingBytes} is less than GRPC_MAX_MESSAGE_BYTES (${service.grpcMaxMessageBytes}); one whole request must fit`);
  }
}
