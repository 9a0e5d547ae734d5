/**
 * A hand-written protobuf codec for the one hot message pair, ext_authz v3
 * `CheckRequest` → `CheckResponse` (allowed). The request decoder reads only
 * the fields the Check path uses and skips everything else without building
 * objects for it; the allowed response is written straight into bytes from
 * pieces encoded once per target. Field numbers are Envoy's
 * (protos/envoy/...); `test/grpc/wire-compat.ts` proves both against the
 * official schema. Denials keep the protobufjs encoder: they are not hot.
 */
import type { CheckRequest, HttpRequestAttributes } from '../request/check-request.js';

// ------------------------------------------------------------------ reading

/** Protobuf wire types (encoding guide §"Message Structure"). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const byte = this.buf[this.pos++]!;
      if (shift < 28) result |= (byte & 0x7f) << shift;
      else result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('varint too long');
    }
  }

  /** The bounds of a length-delimited field's payload; advances past it. */
  span(): [number, number] {
    const start = this.#skipPayload();
    return [start, this.pos];
  }

  string(): string {
    const start = this.#skipPayload();
    return this.buf.toString('utf8', start, this.pos);
  }

  /** Reads a length, advances past that many bytes and returns where they start (no tuple: strings are read per header). */
  #skipPayload(): number {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw new RangeError('truncated field');
    this.pos = start + length;
    return start;
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === LEN) this.span();
    else if (wireType === I64) this.pos += 8;
    else if (wireType === I32) this.pos += 4;
    else throw new RangeError(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new RangeError('truncated field');
  }
}

/** Calls `field` for each field of the message in [start, end); the callback reads or skips its value. */
function eachField(buf: Buffer, start: number, end: number, field: (reader: Reader, number: number, wireType: number) => void): void {
  const reader = new Reader(buf, start, end);
  while (reader.pos < end) {
    const tag = reader.varint();
    field(reader, tag >>> 3, tag & 7);
  }
}

/** Caps on a CheckRequest's header entries (`headers` and `header_map` together), SPEC §5. */
export interface HeaderLimits {
  readonly maxHeaders: number;
  /** encoded bytes of the entries (names, values and their framing) */
  readonly maxHeaderBytes: number;
}

/** Far above what Envoy sends (100 headers, 60 KiB by default); `GRPC_MAX_REQUEST_HEADERS` / `_BYTES`. */
export const DEFAULT_HEADER_LIMITS: HeaderLimits = { maxHeaders: 500, maxHeaderBytes: 256 * 1024 };

/** Requests whose header entries went over the caps: the rest of their entries were skipped unread. */
const overHeaderLimits = new WeakSet<CheckRequest>();

/** True when the decoder stopped reading the request's headers at the caps; the Check must be denied (431). */
export function exceedsHeaderLimits(request: CheckRequest): boolean {
  return overHeaderLimits.has(request);
}

/** Counts header entries against the caps, by their encoded size, before any string is built. */
class HeaderBudget {
  #count = 0;
  #bytes = 0;
  over = false;
  constructor(readonly limits: HeaderLimits) {}

  /** False (from then on) once an entry of `bytes` goes over a cap. */
  take(bytes: number): boolean {
    if (this.over) return false;
    this.#count += 1;
    this.#bytes += bytes;
    this.over = this.#count > this.limits.maxHeaders || this.#bytes > this.limits.maxHeaderBytes;
    return !this.over;
  }
}

/** A `map<string, string>` entry (key = 1, value = 2); skipped unread when `budget` refuses it. */
function mapEntry(reader: Reader, into: Record<string, string>, budget?: HeaderBudget): void {
  // Envoy sends a dozen or more headers per request: read each entry in a plain loop (no callback).
  const [start, end] = reader.span();
  if (budget && !budget.take(end - start)) return;
  const entry = new Reader(reader.buf, start, end);
  let key = '';
  let value = '';
  while (entry.pos < end) {
    const tag = entry.varint();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 1 && wireType === LEN) key = entry.string();
    else if (number === 2 && wireType === LEN) value = entry.string();
    else entry.skip(wireType);
  }
  into[key] = value;
}

/**
 * Decodes a `CheckRequest` into the object form the pipeline reads (the shape
 * proto-loader produces with `keepCase`). Header entries past `limits` are
 * skipped unread and the request is marked ({@link exceedsHeaderLimits}).
 */
export function decodeCheckRequest(buf: Buffer, limits: HeaderLimits = DEFAULT_HEADER_LIMITS): CheckRequest {
  const request: CheckRequest = {};
  const budget = new HeaderBudget(limits);
  eachField(buf, 0, buf.length, (reader, number, wireType) => {
    if (number !== 1 || wireType !== LEN) return reader.skip(wireType);
    const [start, end] = reader.span();
    request.attributes = decodeAttributes(buf, start, end, budget);
  });
  if (budget.over) overHeaderLimits.add(request);
  return request;
}

function decodeAttributes(buf: Buffer, start: number, end: number, budget: HeaderBudget): NonNullable<CheckRequest['attributes']> {
  const attributes: NonNullable<CheckRequest['attributes']> = {};
  eachField(buf, start, end, (reader, number, wireType) => {
    if (wireType !== LEN) return reader.skip(wireType);
    if (number === 2) {
      // destination: Peer { principal = 4 }
      const [peerStart, peerEnd] = reader.span();
      const destination: { principal?: string } = {};
      eachField(buf, peerStart, peerEnd, (peer, field, type) => (field === 4 && type === LEN ? (destination.principal = peer.string()) : peer.skip(type)));
      attributes.destination = destination;
    } else if (number === 4) {
      // request: Request { http = 2 }
      const [requestStart, requestEnd] = reader.span();
      eachField(buf, requestStart, requestEnd, (inner, field, type) => {
        if (field !== 2 || type !== LEN) return inner.skip(type);
        const [httpStart, httpEnd] = inner.span();
        attributes.request = { http: decodeHttp(buf, httpStart, httpEnd, budget) };
      });
    } else if (number === 10) {
      mapEntry(reader, (attributes.context_extensions ??= {}));
    } else {
      reader.skip(wireType);
    }
  });
  return attributes;
}

function decodeHttp(buf: Buffer, start: number, end: number, budget: HeaderBudget): HttpRequestAttributes {
  const http: HttpRequestAttributes = {};
  eachField(buf, start, end, (reader, number, wireType) => {
    if (wireType !== LEN) return reader.skip(wireType);
    switch (number) {
      case 2:
        http.method = reader.string();
        break;
      case 3:
        mapEntry(reader, (http.headers ??= {}), budget);
        break;
      case 4:
        http.path = reader.string();
        break;
      case 5:
        http.host = reader.string();
        break;
      case 11:
        // Only with Envoy's `with_request_body`: read for RFC 6750 §2.2 form-encoded tokens.
        http.body = reader.string();
        break;
      case 12: {
        const [bodyStart, bodyEnd] = reader.span();
        http.raw_body = buf.subarray(bodyStart, bodyEnd);
        break;
      }
      case 13: {
        // header_map: HeaderMap { repeated HeaderValue headers = 1 { key = 1, value = 2, raw_value = 3 } }
        const [mapStart, mapEnd] = reader.span();
        const headers: NonNullable<NonNullable<HttpRequestAttributes['header_map']>['headers']> = [];
        eachField(buf, mapStart, mapEnd, (entries, field, type) => {
          if (field !== 1 || type !== LEN) return entries.skip(type);
          const [valueStart, valueEnd] = entries.span();
          if (!budget.take(valueEnd - valueStart)) return;
          const header: { key?: string; value?: string; raw_value?: Buffer } = {};
          eachField(buf, valueStart, valueEnd, (value, part, partType) => {
            if (partType !== LEN) return value.skip(partType);
            if (part === 1) header.key = value.string();
            else if (part === 2) header.value = value.string();
            else if (part === 3) {
              const [rawStart, rawEnd] = value.span();
              header.raw_value = buf.subarray(rawStart, rawEnd);
            } else value.skip(partType);
          });
          headers.push(header);
        });
        http.header_map = { headers };
        break;
      }
      default:
        reader.skip(wireType);
    }
  });
  return http;
}

// ------------------------------------------------------------------ writing

function varintBytes(value: number): number[] {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

/** tag + length + payload of a length-delimited field. */
function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | LEN, ...varintBytes(payload.length)]), payload]);
}

const text = (value: string) => Buffer.from(value, 'utf8');

/** `google.protobuf.Struct { fields: map<string, Value { string_value = 3 }> }` */
export function encodeStruct(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.map(([key, value]) => field(1, Buffer.concat([field(1, text(key)), field(2, field(3, text(value)))]))));
}

/** `status { code: 0 }`, with the zero written out as the object encoder does. */
const OK_STATUS = field(1, Buffer.from([(1 << 3) | VARINT, 0]));
/** HeaderValueOption.append_action = OVERWRITE_IF_EXISTS_OR_ADD (2); `append` (2) is never written (SPEC §3). */
const OVERWRITE = Buffer.from([(3 << 3) | VARINT, 2]);

/**
 * Writes allowed `CheckResponse`s for one header name and prefix:
 * `status {}`, `ok_response { headers [{ header { key, value: prefix + token }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }], headers_to_remove }`,
 * `dynamic_metadata` (already encoded).
 */
export class AllowEncoder {
  readonly #key: Buffer;
  readonly #prefix: Buffer;
  readonly #remove: Buffer;

  constructor(headerName: string, prefix: string, headersToRemove: readonly string[]) {
    this.#key = field(1, text(headerName));
    this.#prefix = text(prefix);
    this.#remove = Buffer.concat(headersToRemove.map((name) => field(5, text(name))));
  }

  /** `allocate` = `Buffer.allocUnsafeSlow` for bytes that are kept (their own memory, not a slice of the shared pool). */
  encode(token: string, metadata: Buffer, allocate: (size: number) => Buffer = Buffer.allocUnsafe): { bytes: Buffer; tokenStart: number; tokenEnd: number } {
    const tokenLength = Buffer.byteLength(token);
    const valueLength = this.#prefix.length + tokenLength;
    const valueHeader = [(2 << 3) | LEN, ...varintBytes(valueLength)];
    const headerValueLength = this.#key.length + valueHeader.length + valueLength;
    const headerField = [(1 << 3) | LEN, ...varintBytes(headerValueLength)];
    const optionLength = headerField.length + headerValueLength + OVERWRITE.length;
    const optionField = [(2 << 3) | LEN, ...varintBytes(optionLength)];
    const okLength = optionField.length + optionLength + this.#remove.length;
    const okField = [(3 << 3) | LEN, ...varintBytes(okLength)];
    const metadataField = metadata.length > 0 ? [(4 << 3) | LEN, ...varintBytes(metadata.length)] : [];
    const size = OK_STATUS.length + okField.length + okLength + metadataField.length + metadata.length;

    const out = allocate(size);
    let at = OK_STATUS.copy(out, 0);
    const bytes = (list: number[]) => {
      for (const byte of list) out[at++] = byte;
    };
    bytes(okField);
    bytes(optionField);
    bytes(headerField);
    at += this.#key.copy(out, at);
    bytes(valueHeader);
    at += this.#prefix.copy(out, at);
    const tokenStart = at;
    at += out.write(token, at, 'utf8');
    const tokenEnd = at;
    at += OVERWRITE.copy(out, at);
    at += this.#remove.copy(out, at);
    bytes(metadataField);
    metadata.copy(out, at);
    return { bytes: out, tokenStart, tokenEnd };
  }
}
