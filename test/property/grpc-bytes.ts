/**
 * Issue "Fast and unbreakable", item 6.1: arbitrary bytes at the gRPC layer.
 * Raw HTTP/2 POSTs to Check (content-type application/grpc, te: trailers) on
 * ONE connection, with random length-prefixed bodies: random payloads, edited
 * CheckRequest encodings, truncated frames, wrong and huge declared lengths,
 * the compressed flag with and without a grpc-encoding, several frames, no
 * frame. The service must answer each with a gRPC status (and with status OK,
 * exactly one CheckResponse in a SPEC §3 row), keep the connection, and keep
 * answering valid Checks. Well-formed variants of a request (unknown fields at
 * every level, fields re-ordered, over-long varints, gzip/deflate compression)
 * must get the same answer as the plain encoding.
 */
import http2 from 'node:http2';
import { deflateSync, gzipSync } from 'node:zlib';
import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { officialTypes, summarize } from '../fixtures/envoy-client.js';
import { decodeCheckRequest } from '../../src/grpc/codec.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';
import { checkProperty, decodeResponse, encodeRequest, frame, rawCheck, rowOf, SEED, truncate, type RawReply, type Row } from '../fixtures/property-wire.js';
import { decodeRequest, materialize, requestSpec, RESOURCE_METADATA_URL, SMALL, tokenContext, type RequestSpec, type TokenContext } from '../fixtures/property-requests.js';
import { applyEdits, byteEdit, reencode, variation, type ByteEdit, type Variation } from '../fixtures/property-protobuf.js';

const MAX_MESSAGE = 1024 * 1024; // GRPC_MAX_MESSAGE_BYTES' default (grpc.max_receive_message_length)

type BodySpec =
  /** a frame around random bytes */
  | { kind: 'random'; payload: Uint8Array; compressed: boolean }
  /** the whole body random: framing included */
  | { kind: 'unframed'; body: Uint8Array }
  /** a CheckRequest encoding with bytes set, flipped, inserted, deleted or cut */
  | { kind: 'edited'; request: RequestSpec; edits: ByteEdit[] }
  /** a CheckRequest with its frame header wrong: declared length off, huge, cut short; compressed flag; several frames */
  | { kind: 'framing'; request: RequestSpec; declared: { by: 'delta'; delta: number } | { by: 'value'; value: number }; cut: number | null; compressed: boolean; frames: number }
  /** no body at all */
  | { kind: 'empty' }
  /** well-formed: unknown fields at every level, fields re-ordered, over-long varints */
  | { kind: 'reencoded'; request: RequestSpec; variation: Variation }
  /** well-formed: compressed with a grpc-encoding the server supports */
  | { kind: 'compressed'; request: RequestSpec; encoding: 'gzip' | 'deflate' };

const bodySpec: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('random' as const), payload: fc.uint8Array({ maxLength: 400 }), compressed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unframed' as const), body: fc.uint8Array({ maxLength: 64 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('edited' as const), request: requestSpec(SMALL), edits: fc.array(byteEdit, { minLength: 1, maxLength: 5 }) }) },
  // One byte changed in place: often still a valid encoding (of another request), which must then be answered.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('edited' as const), request: requestSpec(SMALL), edits: fc.tuple(byteEdit.map((edit) => ({ ...edit, op: edit.op === 'flip' ? ('flip' as const) : ('set' as const) }))) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('framing' as const),
      request: requestSpec(SMALL),
      declared: fc.oneof(
        fc.record({ by: fc.constant('delta' as const), delta: fc.integer({ min: -8, max: 8 }) }),
        fc.record({ by: fc.constant('value' as const), value: fc.oneof(fc.constantFrom(0, 1, MAX_MESSAGE, MAX_MESSAGE + 1, 0x7fffffff, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })) }),
      ),
      cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
      compressed: fc.boolean(),
      frames: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('reencoded' as const), request: requestSpec(SMALL), variation }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compressed' as const), request: requestSpec(SMALL), encoding: fc.constantFrom('gzip' as const, 'deflate' as const) }) },
);

/** Request headers a gRPC peer could send: valid, unsupported and malformed grpc-encoding / grpc-timeout values. */
const extraHeaders = fc.record(
  {
    'grpc-encoding': fc.constantFrom('gzip', 'deflate', 'identity', 'snappy', 'x'),
    'grpc-timeout': fc.constantFrom('1S', '1500m', '2000000u', '99999999H', '123456789S', 'abc', '-1S', '1'),
    'grpc-accept-encoding': fc.constantFrom('identity,gzip', 'br', ''),
    'user-agent': fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((text) => text.replace(/[^\x20-\x7e]/g, '')),
  },
  { requiredKeys: [] },
);

t.test('random bytes at the gRPC layer (raw HTTP/2, one connection)', async (t) => {
  t.comment(`fast-check seed ${SEED} (PROPERTY_SEED=<n> to change)`);
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { LOG_LEVEL: 'warn' }));
  const context = await tokenContext(as);
  const session = http2.connect(`http://127.0.0.1:${service.grpcPort}`);
  session.on('error', () => {}); // reported through `session.closed` below
  t.teardown(() => void session.close());
  await new Promise((resolve) => session.once('connect', resolve));

  const validRequest = encodeRequest({ attributes: { request: { http: { method: 'GET', path: '/mcp', headers: { authorization: `Bearer ${context.valid}` } } } } });
  const statuses = new Map<string, number>();

  /** The reply must carry a gRPC status; with status OK, exactly one CheckResponse in a SPEC §3 row. Returns that row. */
  function judge(reply: RawReply, what: string): Row | undefined {
    if (reply.timedOut) throw new Error(`${what}: no answer within 5 s`);
    if (reply.grpcStatus === undefined) throw new Error(`${what}: no grpc-status (HTTP ${reply.httpStatus}, stream error ${reply.streamError})`);
    if (reply.httpStatus !== 200) throw new Error(`${what}: HTTP status ${reply.httpStatus}`);
    if (session.closed || session.destroyed) throw new Error(`${what}: the server closed the connection`);
    statuses.set(String(reply.grpcStatus), (statuses.get(String(reply.grpcStatus)) ?? 0) + 1);
    if (reply.grpcStatus !== 0) return undefined;
    if (reply.messages.length !== 1 || reply.trailingBytes !== 0) throw new Error(`${what}: status OK with ${reply.messages.length} messages and ${reply.trailingBytes} stray bytes`);
    const row = rowOf(decodeResponse(reply.messages[0]!), RESOURCE_METADATA_URL);
    if (row === 'internal') throw new Error(`${what}: an unexpected exception (500 "failed unexpectedly")`);
    return row;
  }

  let canonical = 0;
  /** Bytes that are exactly the official encoding of some CheckRequest: any server must decode and answer them. */
  function isCanonical(payload: Uint8Array): boolean {
    const { CheckRequest } = officialTypes();
    try {
      return Buffer.from(CheckRequest.encode(CheckRequest.decode(payload)).finish()).equals(Buffer.from(payload));
    } catch {
      return false;
    }
  }

  /** As `judge`, and a payload that is a canonical CheckRequest encoding (uncompressed, no grpc-timeout to trip over) must get status OK. */
  function judgePayload(reply: RawReply, payload: Uint8Array, plainFrame: boolean, headers: Record<string, string>, what: string): void {
    judge(reply, what);
    if (!plainFrame || headers['grpc-timeout'] !== undefined || !isCanonical(payload)) return;
    canonical++;
    if (reply.grpcStatus !== 0) {
      throw new Error(`${what}: a valid CheckRequest encoding got gRPC status ${reply.grpcStatus} ${reply.grpcMessage ?? ''}`);
    }
  }

  async function send(body: Buffer, headers: Record<string, string> = {}): Promise<RawReply> {
    return rawCheck(session, body, headers);
  }

  let runs = 0;
  async function checkOne(spec: BodySpec, headers: Record<string, string>): Promise<void> {
    // Every 25 runs: a valid Check on the same connection is still allowed.
    if (++runs % 25 === 0) {
      const row = judge(await send(frame(validRequest)), 'a valid Check between bad ones');
      if (row !== 'allowed') throw new Error(`a valid Check between bad ones got ${row}`);
    }
    switch (spec.kind) {
      case 'random':
        judgePayload(await send(frame(spec.payload, { compressed: spec.compressed }), headers), spec.payload, !spec.compressed, headers, 'random payload');
        return;
      case 'unframed':
        judge(await send(Buffer.from(spec.body), headers), 'unframed body');
        return;
      case 'empty':
        judge(await send(Buffer.alloc(0), headers), 'empty body');
        return;
      case 'edited': {
        const { request } = await materialize(spec.request, context);
        const payload = applyEdits(encodeRequest(request), spec.edits);
        judgePayload(await send(frame(payload), headers), payload, true, headers, 'edited encoding');
        return;
      }
      case 'framing': {
        const { request } = await materialize(spec.request, context);
        const payload = encodeRequest(request);
        const declared = spec.declared.by === 'delta' ? Math.max(0, payload.length + spec.declared.delta) : spec.declared.value;
        let body = Buffer.concat(Array.from({ length: spec.frames }, () => frame(payload, { compressed: spec.compressed, declared })));
        if (spec.cut !== null) body = body.subarray(0, Math.floor(spec.cut * body.length));
        judge(await send(body, headers), 'bad framing');
        return;
      }
      case 'reencoded':
      case 'compressed': {
        const { request } = await materialize(spec.request, context);
        const plain = encodeRequest(request);
        const expected = judge(await send(frame(plain)), 'plain encoding');
        let variant: Buffer;
        let variantHeaders: Record<string, string> = {};
        if (spec.kind === 'reencoded') variant = frame(reencode(officialTypes().CheckRequest, plain, spec.variation));
        else {
          variant = frame(spec.encoding === 'gzip' ? gzipSync(plain) : deflateSync(plain), { compressed: true });
          variantHeaders = { 'grpc-encoding': spec.encoding };
        }
        const reply = await send(variant, variantHeaders);
        const row = judge(reply, spec.kind === 'reencoded' ? 're-encoded' : `${spec.encoding}-compressed`);
        if (reply.grpcStatus !== 0) throw new Error(`a well-formed request (${spec.kind}) got gRPC status ${reply.grpcStatus} ${reply.grpcMessage ?? ''}; the plain encoding got ${expected ?? 'an error'}`);
        if (row !== expected) throw new Error(`the same request got ${row} (${spec.kind}) but ${expected} as plain bytes`);
        return;
      }
    }
  }

  // A decompression bomb (64 MiB of zeros in 64 KiB of gzip) and a 1 MiB + 1 frame come first.
  const examples: Array<[BodySpec, Record<string, string>]> = [
    [{ kind: 'random', payload: gzipSync(Buffer.alloc(64 * 1024 * 1024)), compressed: true }, { 'grpc-encoding': 'gzip' }],
    [{ kind: 'random', payload: Buffer.alloc(MAX_MESSAGE + 1, 0x0a), compressed: false }, {}],
    [{ kind: 'framing', request: {}, declared: { by: 'value', value: 0xffffffff }, cut: null, compressed: false, frames: 1 }, {}],
    [{ kind: 'empty' }, {}],
  ];
  await checkProperty(t, 'every raw gRPC request gets a gRPC status; OK ones carry one CheckResponse', fc.asyncProperty(bodySpec, extraHeaders, checkOne), { numRuns: 600, examples });
  t.comment(`grpc-status seen: ${[...statuses].map(([code, count]) => `${code}×${count}`).join(', ')}; random or edited payloads that were still valid encodings: ${canonical}`);

  t.notOk(session.closed || session.destroyed, 'the connection the bad requests came on is still open');
  const again = judge(await send(frame(validRequest)), 'a valid Check on the same connection');
  t.equal(again, 'allowed', 'a valid Check on the same connection is allowed');
  const fresh = summarize(await service.client.check({ headers: { authorization: `Bearer ${context.valid}` } }, { deadlineMs: 2000 }));
  t.equal(fresh.allowed, true, 'a valid Check on a new connection is allowed');
  t.ok(statuses.get('0'), `some bad requests were decodable and answered (${truncate(JSON.stringify([...statuses]), 200)})`);
});

/** Proto3 reads an empty string or bytes field as absent: drop those; bytes as hex; keep (possibly empty) messages. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined || item === null || item === '' || (item instanceof Uint8Array && item.length === 0) || (Array.isArray(item) && item.length === 0)) continue;
      out[key] = normalize(item);
    }
    return out;
  }
  return value;
}

/** The part of an officially decoded CheckRequest that the service reads (src/request/check-request.ts). */
function readByService(decoded: Record<string, any>): Record<string, unknown> {
  const a = decoded.attributes;
  if (!a) return {};
  const attributes: Record<string, unknown> = {};
  if (a.destination) attributes.destination = { principal: a.destination.principal };
  if (a.context_extensions) attributes.context_extensions = a.context_extensions;
  const http = a.request?.http;
  if (http) {
    attributes.request = {
      http: {
        method: http.method,
        path: http.path,
        host: http.host,
        headers: http.headers,
        // RFC 6750 §2.2: body and raw_body are read for form-encoded tokens.
        body: http.body,
        raw_body: http.raw_body,
        ...(http.header_map ? { header_map: { headers: ((http.header_map.headers ?? []) as Array<Record<string, unknown>>).map(({ key, value, raw_value }) => ({ key, value, raw_value })) } } : {}),
      },
    };
  }
  return { attributes };
}

t.test("the hand-written CheckRequest decoder reads what the official schema reads, however it is encoded", async (t) => {
  // No network: tokens only need to be strings of the right shapes.
  const context: TokenContext = {
    issuer: 'http://127.0.0.1:1',
    kid: 'kid',
    valid: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln',
    mint: async (claims) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`,
    mintForeign: async (claims) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.Zm9v`,
  };
  await checkProperty(
    t,
    'decodeCheckRequest(plain) and decodeCheckRequest(re-encoded) equal the official decoding, projected',
    fc.asyncProperty(requestSpec(SMALL), variation, async (spec, how) => {
      const { request } = await materialize(spec, context);
      const plain = encodeRequest(request);
      const expected = normalize(readByService(decodeRequest(plain)));
      const fromPlain = normalize(decodeCheckRequest(plain));
      if (!isDeepStrictEqual(fromPlain, expected)) throw new Error(`plain: ${truncate(JSON.stringify(fromPlain), 1500)}\nofficial: ${truncate(JSON.stringify(expected), 1500)}`);
      const variant = reencode(officialTypes().CheckRequest, plain, how);
      const fromVariant = normalize(decodeCheckRequest(variant));
      if (!isDeepStrictEqual(fromVariant, expected)) throw new Error(`re-encoded: ${truncate(JSON.stringify(fromVariant), 1500)}\nofficial: ${truncate(JSON.stringify(expected), 1500)}`);
      // protobufjs reads the variant as the original too (checks `reencode` itself).
      const official = normalize(readByService(decodeRequest(variant)));
      if (!isDeepStrictEqual(official, expected)) throw new Error(`reencode changed the meaning: ${truncate(JSON.stringify(official), 1500)}`);
    }),
    { numRuns: 1000 },
  );
});
