import type { TargetConfig } from './model.js';
import { ACCESS_TOKEN_TYPE, TARGET_SETTINGS, type SettingSpec } from './settings.js';

/** Token types Auth0 reserves; a Custom Token Exchange profile must use its own URI. */
const AUTH0_RESERVED = [/^urn:ietf:params:oauth:/, /^urn:auth0:/, /^https?:\/\/([^/]+\.)?auth0\.com\//];

/**
 * What each identity-provider profile requires of a target, checked at
 * start-up so a target that the provider would refuse never starts.
 * `subjectTypeSet`: the subject token type was configured, not defaulted.
 */
export function checkProfile(target: TargetConfig, label: (spec: SettingSpec<unknown>) => string, subjectTypeSet: boolean): string[] {
  const problems: string[] = [];
  const refuse = (spec: SettingSpec<unknown>, why: string) => problems.push(`${label(spec)}: ${why} with the ${target.profile} profile`);
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
  return problems;
}
