// CheckRequest bodies encoded with Envoy's OFFICIAL protos, gRPC length-prefixed
// frames, a minimal CheckResponse status reader, and a one-shot node:http2
// verification of a framed body (what h2load sends).
import http2 from 'node:http2';
import { fromDevDist } from './dist.mjs';

const { envoyCheckRequest, officialTypes, summarize } = await fromDevDist('test/fixtures/envoy-client.js');

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** The CheckRequest Envoy would send for `Authorization: Bearer <token>`, encoded with the official schema. */
export function encodeCheckRequest(token) {
  const { CheckRequest } = officialTypes();
  return Buffer.from(CheckRequest.encode(CheckRequest.fromObject(envoyCheckRequest({ headers: { authorization: `Bearer ${token}` } }))).finish());
}

/** gRPC message framing: 1 byte compressed-flag (0), 4 bytes big-endian length, the message. */
export function grpcFrame(message) {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** The full CheckResponse decoded with the official schema, summarised (allowed, grpcCode, headers…). */
export function decodeCheckResponse(bytes) {
  const { CheckResponse } = officialTypes();
  const object = CheckResponse.toObject(CheckResponse.decode(bytes), { enums: String, longs: String, defaults: false, oneofs: true });
  const summary = summarize(object);
  return {
    allowed: summary.allowed,
    grpcCode: summary.grpcCode,
    httpStatus: summary.httpStatus,
    authorizationHeader: typeof summary.headers.authorization === 'string' && summary.headers.authorization.startsWith('Bearer '),
    authorizationAppendAction: summary.appendActions.authorization,
    headerNames: Object.keys(summary.headers),
    dynamicMetadataKeys: Object.keys(object.dynamic_metadata?.fields ?? {}),
    ...(summary.allowed ? {} : { deniedBody: summary.body }),
  };
}

/**
 * Cheap status of a CheckResponse without a full decode: the `status.code`
 * (field 1 → google.rpc.Status field 1) and whether `denied_response` (field 2)
 * is present. OK = code 0 and no denial.
 */
export function checkStatusOf(bytes) {
  let code = 0;
  let denied = false;
  let offset = 0;
  while (offset < bytes.length) {
    const [key, afterKey] = varint(bytes, offset);
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 2) {
      const [length, start] = varint(bytes, afterKey);
      if (field === 1) code = statusCode(bytes, start, start + length);
      if (field === 2) denied = true;
      offset = start + length;
    } else if (wire === 0) {
      offset = varint(bytes, afterKey)[1];
    } else if (wire === 1) offset = afterKey + 8;
    else if (wire === 5) offset = afterKey + 4;
    else return { code: -1, denied: true }; // unparseable
  }
  return { code, denied };
}

function statusCode(bytes, offset, end) {
  while (offset < end) {
    const [key, afterKey] = varint(bytes, offset);
    if (key === 8) return varint(bytes, afterKey)[0];
    const wire = key & 7;
    if (wire === 2) {
      const [length, start] = varint(bytes, afterKey);
      offset = start + length;
    } else if (wire === 0) offset = varint(bytes, afterKey)[1];
    else if (wire === 1) offset = afterKey + 8;
    else if (wire === 5) offset = afterKey + 4;
    else return -1;
  }
  return 0;
}

function varint(bytes, offset) {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < 10 && offset < bytes.length; i++) {
    const byte = bytes[offset++];
    if (shift < 28) value |= (byte & 0x7f) << shift;
    else value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value >>> 0, offset];
    shift += 7;
  }
  return [value >>> 0, offset];
}

/**
 * Sends `frame` once over node:http2 exactly as h2load will (POST, content-type
 * application/grpc, te: trailers) and decodes the answer with the official
 * schema. Resolves { httpStatus, grpcStatus, grpcMessage, responseBytes, check }.
 */
export function verifyFramedBody(port, frame, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('verification timed out'));
    }, timeoutMs);
    session.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const stream = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    let headers;
    let trailers = {};
    const chunks = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('error', (error) => {
      clearTimeout(timer);
      session.close();
      reject(error);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      const body = Buffer.concat(chunks);
      // A trailers-only response puts grpc-status in the headers.
      const grpcStatus = trailers['grpc-status'] ?? headers?.['grpc-status'];
      const result = {
        httpStatus: headers?.[':status'],
        contentType: headers?.['content-type'],
        grpcStatus: grpcStatus === undefined ? undefined : String(grpcStatus),
        grpcMessage: trailers['grpc-message'] ?? headers?.['grpc-message'],
        requestBytes: frame.length,
        responseBytes: body.length,
      };
      try {
        if (body.length >= 5) {
          const length = body.readUInt32BE(1);
          result.check = decodeCheckResponse(body.subarray(5, 5 + length));
        }
      } catch (error) {
        result.decodeError = error.message;
      }
      result.ok = result.httpStatus === 200 && result.grpcStatus === '0' && result.check?.allowed === true && result.check?.grpcCode === 0;
      resolve(result);
    });
    stream.end(frame);
  });
}
