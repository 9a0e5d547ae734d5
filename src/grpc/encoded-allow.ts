import type { ExchangedToken } from '../exchange/cache.js';
import { checkedToken, DEFAULT_HEADER, metadataFields, type TargetHeader } from '../check/response.js';
import type { Principal } from '../validation/principal.js';
import { AnswerSlabs, bytesOf, type SlabOwner } from './answer-slabs.js';
import { AllowEncoder, encodeStruct } from './codec.js';
import { packToken, unpackToken, unpackTokenInto } from './packed-token.js';

function sameHeader(a: TargetHeader, b: TargetHeader): boolean {
  return a.name === b.name && a.prefix === b.prefix && a.remove.length === b.remove.length && a.remove.every((name, i) => name === b.remove[i]);
}

/** Where an answer points before its first encoding. */
const NO_BYTES = Buffer.alloc(0);

/**
 * An exchanged token kept as the encoded allow answer that carries it, built
 * once: a cache hit sends these bytes. The bytes live in the answer slabs
 * (grpc/answer-slabs.ts) while the cache holds the answer, which keeps where
 * they are rather than a view of them (one object less per cached user); a
 * compaction may move them, which changes only where.
 *
 * A token of base64url segments (a JWT) is kept packed (grpc/packed-token.ts),
 * a quarter smaller: a hit then copies the answer out with the token's text
 * written back (1.6 µs in a micro-benchmark, against 0.1 µs to send kept bytes
 * as they are), for some 200 bytes less per cached user (README "Memory").
 * Any other token is kept as text, and a hit sends the kept bytes themselves.
 */
class EncodedAllow implements ExchangedToken, SlabOwner {
  memory: Buffer = NO_BYTES;
  start = 0;
  end = 0;
  /** where the token starts in the answer (and in the kept bytes) */
  #tokenStart = 0;
  /** where the token ends in the answer */
  #tokenEnd = 0;
  /** where the packed token ends in the kept bytes, or 0 when the token is kept as text */
  #packedEnd = 0;
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

  /** The answer's bytes: a view of the kept bytes, or a copy with the packed token written out as text. */
  get bytes(): Buffer {
    if (this.#packedEnd === 0) return bytesOf(this);
    const { memory, start, end } = this;
    const answer = Buffer.allocUnsafe(this.#tokenEnd + (end - start - this.#packedEnd));
    memory.copy(answer, 0, start, start + this.#tokenStart);
    const tokenEnd = unpackTokenInto(memory, start + this.#tokenStart, answer, this.#tokenStart);
    memory.copy(answer, tokenEnd, start + this.#packedEnd, end);
    return answer;
  }

  get value(): string {
    if (this.#packedEnd !== 0) return unpackToken(this.memory, this.start + this.#tokenStart);
    return this.memory.toString('utf8', this.start + this.#tokenStart, this.start + this.#tokenEnd);
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

  /** The slabs point this answer at its bytes as they allocate them. */
  #encode(slabs: AnswerSlabs, encoder: AllowEncoder, token: string): void {
    const metadata = encodeStruct(metadataFields(this.principal));
    const packed = packToken(token);
    if (!packed) {
      const encoded = encoder.encode(token, metadata, (size) => slabs.allocate(size, this));
      this.#tokenStart = encoded.tokenStart;
      this.#tokenEnd = encoded.tokenEnd;
      this.#packedEnd = 0;
      return;
    }
    const { bytes: answer, tokenStart, tokenEnd } = encoder.encode(token, metadata);
    const kept = slabs.allocate(tokenStart + packed.length + (answer.length - tokenEnd), this);
    answer.copy(kept, 0, 0, tokenStart);
    packed.copy(kept, tokenStart);
    answer.copy(kept, tokenStart + packed.length, tokenEnd);
    this.#tokenStart = tokenStart;
    this.#tokenEnd = tokenEnd;
    this.#packedEnd = tokenStart + packed.length;
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

  /** The allowed answer for the gRPC path: what the cache kept, as kept (or with its packed token written back out as text). */
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
