import type { ExchangedToken } from '../exchange/cache.js';
import { checkedToken, DEFAULT_HEADER, metadataFields, type TargetHeader } from '../check/response.js';
import type { Principal } from '../validation/principal.js';
import { AnswerSlabs, type SlabOwner } from './answer-slabs.js';
import { AllowEncoder, encodeStruct } from './codec.js';

function sameHeader(a: TargetHeader, b: TargetHeader): boolean {
  return a.name === b.name && a.prefix === b.prefix && a.remove.length === b.remove.length && a.remove.every((name, i) => name === b.remove[i]);
}

/** What an answer holds before its first encoding. */
const NO_BYTES = Buffer.alloc(0);

/**
 * An exchanged token kept as the encoded allow answer that carries it: a cache
 * hit sends these bytes as they are. The bytes live in the answer slabs
 * (grpc/answer-slabs.ts) while the cache holds the answer; a compaction may
 * move them, which changes `bytes` only (the token's offsets are the answer's).
 */
class EncodedAllow implements ExchangedToken, SlabOwner {
  bytes: Buffer = NO_BYTES;
  #tokenStart = 0;
  #tokenEnd = 0;
  /** where the bytes are kept; none once the cache has let go */
  #slabs: AnswerSlabs | undefined;

  constructor(
    slabs: AnswerSlabs,
    /** the target header the bytes were built for; a reload may bring an equal one (see `allowEncoded`) */
    public header: TargetHeader,
    /** whose dynamic_metadata the bytes carry */
    public principal: Principal,
    encoder: AllowEncoder,
    token: string,
  ) {
    this.#slabs = slabs;
    this.#encode(slabs, encoder, token);
  }

  get value(): string {
    return this.bytes.toString('utf8', this.#tokenStart, this.#tokenEnd);
  }

  /** True while the cache holds this answer (until {@link release}). */
  get held(): boolean {
    return this.#slabs !== undefined;
  }

  /** Re-encodes for a newly validated principal (an introspection answer can change the scopes the metadata reports); only while held. */
  update(encoder: AllowEncoder, principal: Principal): void {
    const slabs = this.#slabs;
    if (!slabs) throw new TypeError('a released answer is not encoded again');
    const token = this.value;
    this.principal = principal;
    // Released first: a compaction during the allocation must not move the bytes being replaced.
    slabs.release(this);
    this.#encode(slabs, encoder, token);
  }

  /** The cache no longer holds this answer: its bytes go back to the slabs (a view being sent stays as it is). */
  release(): void {
    this.#slabs?.release(this);
    this.#slabs = undefined;
  }

  #encode(slabs: AnswerSlabs, encoder: AllowEncoder, token: string): void {
    const encoded = encoder.encode(token, encodeStruct(metadataFields(this.principal)), (size) => slabs.allocate(size, this));
    this.bytes = encoded.bytes;
    this.#tokenStart = encoded.tokenStart;
    this.#tokenEnd = encoded.tokenEnd;
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

  /** @param slabs where kept answers' bytes live: one allocator per process */
  constructor(private readonly slabs: AnswerSlabs = new AnswerSlabs()) {}

  /** The exchange cache's `KeepExchanged`: the allowed answer of {@link allowEncoded}, encoded once. */
  keepEncoded(value: string, principal: Principal, exchanger: { readonly target: { readonly header: TargetHeader } }): ExchangedToken {
    const header = exchanger.target.header;
    return new EncodedAllow(this.slabs, header, principal, this.#encoder(header), checkedToken(value));
  }

  /** The allowed answer for the gRPC path; bytes kept by the cache are sent as they are. */
  allowEncoded(exchanged: ExchangedToken, principal: Principal, header: TargetHeader = DEFAULT_HEADER): Buffer {
    // After a reload the target's header is a new object; when it says the same, the kept bytes still hold.
    if (exchanged instanceof EncodedAllow && exchanged.header !== header && sameHeader(exchanged.header, header)) exchanged.header = header;
    if (exchanged instanceof EncodedAllow && exchanged.header === header) {
      // Another principal's metadata: the kept answer is re-encoded while the cache holds it, else encoded for this call only.
      if (exchanged.principal !== principal && exchanged.held) exchanged.update(this.#encoder(header), principal);
      if (exchanged.principal === principal) return exchanged.bytes;
    }
    return this.#encoder(header).encode(checkedToken(exchanged.value), encodeStruct(metadataFields(principal))).bytes;
  }

  #encoder(header: TargetHeader): AllowEncoder {
    let encoder = this.#encoders.get(header);
    if (!encoder) this.#encoders.set(header, (encoder = new AllowEncoder(header.name, header.prefix, header.remove)));
    return encoder;
  }
}
