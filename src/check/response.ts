import { AuthzError, InsufficientScopeError } from '../errors.js';
import { AllowEncoder, encodeStruct } from '../grpc/codec.js';
import type { ExchangedToken } from '../exchange/cache.js';
import type { Principal } from '../validation/principal.js';
import { GRPC_OK, OUTCOMES } from './outcomes.js';
import { resourceMetadataUrl, wwwAuthenticate } from './www-authenticate.js';

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

type TargetHeader = { readonly name: string; readonly prefix: string };

const DEFAULT_HEADER: TargetHeader = { name: 'authorization', prefix: 'Bearer ' };

/**
 * An exchanged token kept as the encoded allow answer that carries it: a cache
 * hit sends these bytes as they are, and the token is held once, in a buffer
 * of its own (a slice of Node's shared pool would pin the whole 8 KiB slab).
 */
class EncodedAllow implements ExchangedToken {
  constructor(
    public bytes: Buffer,
    readonly header: TargetHeader,
    /** whose dynamic_metadata the bytes carry */
    public principal: Principal,
    private tokenStart: number,
    private tokenEnd: number,
  ) {}

  get value(): string {
    return this.bytes.toString('utf8', this.tokenStart, this.tokenEnd);
  }

  /** Re-encodes for a newly validated principal (an introspection answer can change the scopes the metadata reports). */
  update(encoded: { bytes: Buffer; tokenStart: number; tokenEnd: number }, principal: Principal): void {
    ({ bytes: this.bytes, tokenStart: this.tokenStart, tokenEnd: this.tokenEnd } = encoded);
    this.principal = principal;
  }
}

/** What `dynamic_metadata` says about the inbound token: scope, subject and client id. */
function metadataFields(principal: Principal): Array<[string, string]> {
  const fields: Array<[string, string]> = [['scope', principal.scopes.join(' ')]];
  if (principal.subject !== undefined) fields.push(['sub', principal.subject]);
  if (principal.clientId !== undefined) fields.push(['client_id', principal.clientId]);
  return fields;
}

/** Turns a decision into the `CheckResponse` Envoy acts on. Holds no per-request state. */
export class ResponseBuilder {
  readonly #metadataUrl: string;

  readonly #metadataDocument: string;
  readonly #encoders = new WeakMap<TargetHeader, AllowEncoder>();

  constructor(resourceUrl: string, metadataDocument = '{}') {
    this.#metadataUrl = resourceMetadataUrl(resourceUrl);
    this.#metadataDocument = metadataDocument;
  }

  /**
   * OK: write the exchanged token to the target's header (default `authorization: Bearer …`),
   * replacing the inbound one; never list it in `headers_to_remove`.
   */
  allow(exchangedToken: string, principal: Principal, header: { readonly name: string; readonly prefix: string } = DEFAULT_HEADER): CheckResponse {
    const fields = Object.fromEntries(metadataFields(principal).map(([key, value]) => [key, { stringValue: value }]));
    return {
      status: { code: GRPC_OK },
      ok_response:
        header.name === 'authorization'
          ? { headers: [overwrite(header.name, header.prefix + exchangedToken)] }
          : // The token goes elsewhere, so the inbound one must not reach the upstream either.
            { headers: [overwrite(header.name, header.prefix + exchangedToken)], headers_to_remove: ['authorization'] },
      dynamic_metadata: { fields },
    };
  }

  /**
   * What the exchange cache keeps for a fresh exchanged token (`KeepExchanged`):
   * the allowed response of {@link allowEncoded}, encoded once.
   */
  keepEncoded(value: string, principal: Principal, exchanger: { readonly target: { readonly header: TargetHeader } }): ExchangedToken {
    const header = exchanger.target.header;
    const { bytes, tokenStart, tokenEnd } = this.#encoder(header).encode(value, encodeStruct(metadataFields(principal)), Buffer.allocUnsafeSlow);
    return new EncodedAllow(bytes, header, principal, tokenStart, tokenEnd);
  }

  /** The same allowed response as {@link allow}, encoded for the gRPC path (see grpc/codec.ts); bytes kept by the cache are sent as they are. */
  allowEncoded(exchanged: ExchangedToken, principal: Principal, header: TargetHeader = DEFAULT_HEADER): Buffer {
    if (exchanged instanceof EncodedAllow && exchanged.header === header) {
      if (exchanged.principal !== principal) exchanged.update(this.#encoder(header).encode(exchanged.value, encodeStruct(metadataFields(principal)), Buffer.allocUnsafeSlow), principal);
      return exchanged.bytes;
    }
    return this.#encoder(header).encode(exchanged.value, encodeStruct(metadataFields(principal))).bytes;
  }

  #encoder(header: TargetHeader): AllowEncoder {
    let encoder = this.#encoders.get(header);
    if (!encoder) this.#encoders.set(header, (encoder = new AllowEncoder(header.name, header.prefix, header.name === 'authorization' ? [] : ['authorization'])));
    return encoder;
  }

  /** A denial per the outcome table; the body and headers never contain the inbound token. */
  deny(error: AuthzError): CheckResponse {
    const outcome = OUTCOMES[error.code];
    const headers = [overwrite('content-type', 'application/json')];
    const scopes = error instanceof InsufficientScopeError ? error.requiredScopes : [];
    const challenge = wwwAuthenticate(outcome, this.#metadataUrl, scopes);
    if (challenge !== undefined) headers.push(overwrite('www-authenticate', challenge));
    if (outcome.retryAfterSeconds !== undefined) headers.push(overwrite('retry-after', String(outcome.retryAfterSeconds)));
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
