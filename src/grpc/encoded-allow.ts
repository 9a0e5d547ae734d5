import type { ExchangedToken } from '../exchange/cache.js';
import { checkedToken, DEFAULT_HEADER, metadataFields, type TargetHeader } from '../check/response.js';
import type { Principal } from '../validation/principal.js';
import { AllowEncoder, encodeStruct } from './codec.js';

function sameHeader(a: TargetHeader, b: TargetHeader): boolean {
  return a.name === b.name && a.prefix === b.prefix && a.remove.length === b.remove.length && a.remove.every((name, i) => name === b.remove[i]);
}

/**
 * An exchanged token kept as the encoded allow answer that carries it: a cache
 * hit sends these bytes as they are, and the token is held once, in a buffer
 * of its own (a slice of Node's shared pool would pin the whole 8 KiB slab).
 */
class EncodedAllow implements ExchangedToken {
  constructor(
    public bytes: Buffer,
    /** the target header the bytes were built for; a reload may bring an equal one (see `allowEncoded`) */
    public header: TargetHeader,
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

/**
 * The gRPC fast path: allowed `CheckResponse`s written straight to protobuf
 * bytes (grpc/codec.ts), the same answer as `ResponseBuilder.allow` (SPEC §3),
 * and the form the exchange cache keeps when the app wires {@link keepEncoded}
 * in as its `keep` callback. The HTTP transport never sees these bytes: it
 * reads `ExchangedToken.value`.
 */
export class EncodedAllows {
  readonly #encoders = new WeakMap<TargetHeader, AllowEncoder>();

  /** The exchange cache's `KeepExchanged`: the allowed answer of {@link allowEncoded}, encoded once. */
  keepEncoded(value: string, principal: Principal, exchanger: { readonly target: { readonly header: TargetHeader } }): ExchangedToken {
    const header = exchanger.target.header;
    const { bytes, tokenStart, tokenEnd } = this.#encoder(header).encode(checkedToken(value), encodeStruct(metadataFields(principal)), Buffer.allocUnsafeSlow);
    return new EncodedAllow(bytes, header, principal, tokenStart, tokenEnd);
  }

  /** The allowed answer for the gRPC path; bytes kept by the cache are sent as they are. */
  allowEncoded(exchanged: ExchangedToken, principal: Principal, header: TargetHeader = DEFAULT_HEADER): Buffer {
    // After a reload the target's header is a new object; when it says the same, the kept bytes still hold.
    if (exchanged instanceof EncodedAllow && exchanged.header !== header && sameHeader(exchanged.header, header)) exchanged.header = header;
    if (exchanged instanceof EncodedAllow && exchanged.header === header) {
      if (exchanged.principal !== principal) exchanged.update(this.#encoder(header).encode(exchanged.value, encodeStruct(metadataFields(principal)), Buffer.allocUnsafeSlow), principal);
      return exchanged.bytes;
    }
    return this.#encoder(header).encode(checkedToken(exchanged.value), encodeStruct(metadataFields(principal))).bytes;
  }

  #encoder(header: TargetHeader): AllowEncoder {
    let encoder = this.#encoders.get(header);
    if (!encoder) this.#encoders.set(header, (encoder = new AllowEncoder(header.name, header.prefix, header.remove)));
    return encoder;
  }
}
