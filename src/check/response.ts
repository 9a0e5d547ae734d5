import { AuthzError, GarbageAnswerError, InsufficientScopeError, RateLimitedError } from '../errors.js';
import { b64tokenFault } from '../oauth/b64token.js';
import type { Principal } from '../validation/principal.js';
import { GRPC_OK, OUTCOMES } from './outcomes.js';
import { resourceMetadataUrl } from '../ops/resource-metadata.js';
import { wwwAuthenticate } from './www-authenticate.js';

/**
 * A `CheckResponse` in the object form `@grpc/proto-loader` encodes (`keepCase`).
 * `google.protobuf.Value` comes from protobufjs' bundled well-known types, whose
 * field names are camelCase (`stringValue`) whatever `keepCase` says.
 */
export interface CheckResponse {
  status: { code: number; message?: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove?: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  dynamic_metadata?: { fields: Record<string, { stringValue: string }> };
}

export interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: 'OVERWRITE_IF_EXISTS_OR_ADD';
}

/**
 * SPEC §3: every header we set overwrites, with `append` left unset. Envoy up
 * to 1.36 reads only the deprecated `append` (unset = overwrite); newer Envoy
 * reads `append_action`; 1.37.0 treated an unset action as append
 * (envoyproxy/envoy#43310). This pair overwrites on every version.
 */
function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/** Where the exchanged token goes and which of the caller's credentials are removed (`TargetConfig.header`). */
export type TargetHeader = { readonly name: string; readonly prefix: string; readonly remove: readonly string[] };

/** SPEC §3: `authorization: Bearer <exchanged>` unless the target names another header. */
export const DEFAULT_HEADER: TargetHeader = { name: 'authorization', prefix: 'Bearer ', remove: [] };

/** Longest `dynamic_metadata` value passed on; these come from the inbound token or the introspection answer. */
const MAX_METADATA_VALUE_BYTES = 1024;

/**
 * What `dynamic_metadata` says about the inbound token: scope, subject and
 * client id. These values come from outside and a proxy may copy metadata
 * into headers (`%DYNAMIC_METADATA%`), so only visible ASCII with inner spaces,
 * up to 1 KiB, is passed on (RFC 9110 §5.5); any other value is left out.
 */
export function metadataFields(principal: Principal): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined && value.length <= MAX_METADATA_VALUE_BYTES && SAFE_FIELD_VALUE.test(value)) fields.push([key, value]);
  };
  add('scope', principal.scopes.join(' '));
  add('sub', principal.subject);
  add('client_id', principal.clientId);
  return fields;
}

/** Visible ASCII, inner spaces, or nothing (RFC 9110 §5.5 field-value without obs-text). */
const SAFE_FIELD_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/** Largest value any header can carry here: a CheckRequest's own bound. */
const MAX_HEADER_VALUE_BYTES = 1024 * 1024;

/** Defence in depth: the exchanger already refused such a token (SPEC §3, 16 KiB); nothing else reaches a header. */
export function checkedToken(token: string): string {
  const fault = b64tokenFault(token, MAX_HEADER_VALUE_BYTES);
  if (fault !== undefined) throw new GarbageAnswerError(`access_token: ${fault}`);
  return token;
}

/** Turns a decision into the `CheckResponse` Envoy acts on. Holds no per-request state. */
export class ResponseBuilder {
  readonly #metadataUrl: string;

  readonly #metadataDocument: string;

  constructor(resourceUrl: string, metadataDocument = '{}') {
    this.#metadataUrl = resourceMetadataUrl(resourceUrl);
    this.#metadataDocument = metadataDocument;
  }

  /**
   * OK: write the exchanged token to the target's header (default `authorization: Bearer …`),
   * replacing the inbound one; never list it in `headers_to_remove`.
   */
  allow(exchangedToken: string, principal: Principal, header: TargetHeader = DEFAULT_HEADER): CheckResponse {
    const fields = Object.fromEntries(metadataFields(principal).map(([key, value]) => [key, { stringValue: value }]));
    const headers = [overwrite(header.name, header.prefix + checkedToken(exchangedToken))];
    return {
      status: { code: GRPC_OK },
      // The caller's other credentials (the actor header; `authorization` when the token goes elsewhere) never reach the upstream.
      ok_response: header.remove.length === 0 ? { headers } : { headers, headers_to_remove: [...header.remove] },
      dynamic_metadata: { fields },
    };
  }

  /** A denial per the outcome table; the body and headers never contain the inbound token. */
  deny(error: AuthzError): CheckResponse {
    const outcome = OUTCOMES[error.code];
    const headers = [overwrite('content-type', 'application/json')];
    const scopes = error instanceof InsufficientScopeError ? error.requiredScopes : [];
    const challenge = wwwAuthenticate(outcome, this.#metadataUrl, scopes);
    if (challenge !== undefined) headers.push(overwrite('www-authenticate', challenge));
    // A 429 passes on the server's wait (parsed and capped at 60 s, SPEC §3), never its raw header.
    const retryAfter = error instanceof RateLimitedError ? error.retryAfterSeconds : outcome.retryAfterSeconds;
    if (retryAfter !== undefined) headers.push(overwrite('retry-after', String(retryAfter)));
    if (error.code === 'resource_metadata') {
      return { status: { code: outcome.grpcCode }, denied_response: { status: { code: outcome.httpStatus }, headers, body: this.#metadataDocument } };
    }
    return {
      status: { code: outcome.grpcCode },
      denied_response: {
        status: { code: outcome.httpStatus },
        headers,
        body: JSON.stringify({ error: outcome.bodyError, error_description: error.description }),
      },
    };
  }
}
