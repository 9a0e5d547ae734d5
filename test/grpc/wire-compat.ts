// Wire compatibility of the service's trimmed ext_authz protos with Envoy's
// OFFICIAL ones (`@grpc/grpc-js-xds/deps`): requests encoded with the official
// schema decode into exactly what the service reads; responses the service
// encodes decode, with the official schema, into exactly what SPEC §3 requires;
// and every field the trimmed protos declare has the official number and type.
import t from 'tap';
import protobuf from 'protobufjs';
import { ResponseBuilder } from '../../src/check/response.js';
import { EncodedAllows } from '../../src/grpc/encoded-allow.js';
import { OUTCOMES } from '../../src/check/outcomes.js';
import { envoyCheckRequest, loadProtobufRoot, officialRoot, officialTypes } from '../fixtures/envoy-client.js';
import { AuthzError, InsufficientScopeError, type AuthzErrorCode } from '../../src/errors.js';
import { loadAuthorizationService, PROTOS_DIR } from '../../src/grpc/protos.js';
import type { Principal } from '../../src/validation/principal.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const service = loadAuthorizationService();
const { CheckRequest, CheckResponse } = officialTypes();

/** Encode with Envoy's official schema, decode with the function the server uses. */
function throughService(request: Obj): Obj {
  const bytes = CheckRequest.encode(CheckRequest.fromObject(request)).finish();
  return service.Check!.requestDeserialize(Buffer.from(bytes)) as Obj;
}

/** Encode with the function the server uses, decode with Envoy's official schema (as Envoy does). */
function throughEnvoy(response: object): { object: Obj; message: Obj } {
  const bytes = service.Check!.responseSerialize(response);
  const message = CheckResponse.decode(bytes) as unknown as Obj;
  const object = CheckResponse.toObject(message as protobuf.Message, { enums: String, longs: String, defaults: false, oneofs: true }) as Obj;
  return { object, message };
}

const rawHeader = (key: string, bytes: Buffer) => ({ key, raw_value: bytes });
const buf = (value: unknown) => Buffer.from(value as Uint8Array);

t.test('requests: Envoy-encoded CheckRequests decode into what the service reads', async (t) => {
  t.test('headers map (lower-case names, pseudo-headers, path, host, method)', async (t) => {
    const request = envoyCheckRequest({
      headers: { Authorization: 'Bearer abc.def.ghi', 'X-Custom': 'Value With Spaces', accept: '*/*' },
      method: 'POST',
      path: '/mcp?session=1',
      host: 'mcp.example.com:8443',
    }) as Obj;
    const sent = request.attributes.request.http;
    const decoded = throughService(request);
    const http = decoded.attributes.request.http;
    t.strictSame(http.headers, sent.headers, 'every header and value arrives as sent');
    t.equal(http.headers.authorization, 'Bearer abc.def.ghi');
    t.equal(http.headers['x-custom'], 'Value With Spaces');
    t.equal(http.headers[':authority'], 'mcp.example.com:8443');
    t.equal(http.headers[':path'], '/mcp?session=1');
    t.equal(http.headers[':method'], 'POST');
    t.notOk('Authorization' in http.headers, 'names are lower-cased as Envoy sends them');
    t.equal(http.path, '/mcp?session=1');
    t.equal(http.host, 'mcp.example.com:8443');
    t.equal(http.method, 'POST');
    t.notOk('scheme' in http || 'id' in http, 'scheme and id are not read by the service (grpc/codec.ts)');
    t.notOk('header_map' in http, 'no header_map');
    t.notOk('protocol' in http, 'protocol (not in the trimmed proto) is skipped');
  });

  t.test('repeated headers: joined with "," in the map, repeated entries in header_map', async (t) => {
    const map = throughService(envoyCheckRequest({ headers: { authorization: ['Bearer one', 'Bearer two'], 'x-a': ['1', '2', '3'] } }));
    t.equal(map.attributes.request.http.headers.authorization, 'Bearer one,Bearer two');
    t.equal(map.attributes.request.http.headers['x-a'], '1,2,3');

    const raw = throughService(envoyCheckRequest({ raw: true, headers: { authorization: ['Bearer one', 'Bearer two'], 'X-A': '1', 'x-a': '2' } }));
    const entries = raw.attributes.request.http.header_map.headers as Obj[];
    const values = (name: string) => entries.filter((entry) => entry.key === name).map((entry) => buf(entry.raw_value).toString('utf8'));
    t.strictSame(values('authorization'), ['Bearer one', 'Bearer two'], 'one entry per value, in order');
    t.strictSame(values('x-a'), ['1', '2'], 'names differing only in case are one header');
    t.notOk('headers' in raw.attributes.request.http, 'no headers map with encode_raw_headers');
  });

  t.test('a request body (with_request_body): body and raw_body arrive as sent', async (t) => {
    const request = envoyCheckRequest({ headers: { authorization: 'Bearer abc', 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', path: '/mcp' }) as Obj;
    request.attributes.request.http.body = 'a=1&access_token=xyz';
    t.equal(throughService(request).attributes.request.http.body, 'a=1&access_token=xyz', 'body (field 11)');
    delete request.attributes.request.http.body;
    request.attributes.request.http.raw_body = Buffer.from([0x61, 0x3d, 0xff]);
    t.strictSame(buf(throughService(request).attributes.request.http.raw_body), Buffer.from([0x61, 0x3d, 0xff]), 'raw_body (field 12) byte for byte');
  });

  t.test('raw header_map with non-UTF-8 bytes arrives byte for byte', async (t) => {
    const request = envoyCheckRequest({ raw: true, headers: { authorization: 'Bearer placeholder', 'x-latin1': 'x' } }) as Obj;
    const entries = request.attributes.request.http.header_map.headers as Obj[];
    const invalidUtf8 = Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0x7f]);
    const latin1 = Buffer.from('café ü', 'latin1');
    for (const entry of entries) {
      if (entry.key === 'authorization') entry.raw_value = invalidUtf8;
      if (entry.key === 'x-latin1') entry.raw_value = latin1;
    }
    entries.push(rawHeader('x-empty', Buffer.alloc(0)));
    const decoded = throughService(request);
    const got = decoded.attributes.request.http.header_map.headers as Obj[];
    t.equal(got.length, entries.length, 'every entry arrives');
    for (const [i, entry] of entries.entries()) {
      t.equal(got[i]!.key, entry.key, `entry ${i} key`);
      t.ok(buf(got[i]!.raw_value ?? Buffer.alloc(0)).equals(entry.raw_value), `${entry.key}: raw bytes identical`);
      t.notOk(got[i]!.value, `${entry.key}: no value string`);
    }
    const auth = got.find((entry) => entry.key === 'authorization')!;
    t.ok(Buffer.isBuffer(auth.raw_value), 'raw_value is a Buffer');
    t.ok(buf(auth.raw_value).equals(invalidUtf8));
  });

  t.test('context_extensions, destination principal, path and host', async (t) => {
    const request = envoyCheckRequest({
      headers: { authorization: 'Bearer x' },
      contextExtensions: { target: 'upstream-a', 'virtual_host': 'mcp', empty: '' },
      destinationPrincipal: 'spiffe://cluster.local/ns/mcp/sa/server',
      path: '/mcp/tools',
      host: 'api.example.com',
    });
    const decoded = throughService(request);
    t.strictSame(decoded.attributes.context_extensions, { target: 'upstream-a', virtual_host: 'mcp', empty: '' });
    t.strictSame(decoded.attributes.destination, { principal: 'spiffe://cluster.local/ns/mcp/sa/server' }, 'address skipped, principal kept');
    t.equal(decoded.attributes.request.http.path, '/mcp/tools');
    t.equal(decoded.attributes.request.http.host, 'api.example.com');
    t.equal(decoded.attributes.request.http.headers[':authority'], 'api.example.com');
  });

  t.test('network-level check: no request.http', async (t) => {
    const decoded = throughService(envoyCheckRequest({ noHttp: true, contextExtensions: { a: 'b' } }));
    t.equal(decoded.attributes.request?.http, undefined, 'no http attributes');
    t.strictSame(decoded.attributes.context_extensions, { a: 'b' });
    t.strictSame(throughService({}), {}, 'an empty CheckRequest decodes to an empty object');
  });

  t.test('fields the trimmed proto leaves out are skipped without error', async (t) => {
    const request = envoyCheckRequest({ raw: true, headers: { authorization: 'Bearer x' }, destinationPrincipal: 'p' }) as Obj;
    const attributes = request.attributes;
    attributes.source = {
      address: { socket_address: { address: '10.1.2.3', port_value: 51234 } },
      service: 'client-svc',
      labels: { team: 'a' },
      principal: 'spiffe://cluster.local/ns/a/sa/client',
      certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    };
    attributes.destination.address = { pipe: { path: '/var/run/envoy.sock', mode: 420 } };
    attributes.destination.labels = { x: 'y' };
    attributes.request.time = { seconds: '1767225600', nanos: 123456789 };
    Object.assign(attributes.request.http, { query: 'a=1', fragment: 'f', size: '-1', protocol: 'HTTP/2', body: 'hello', raw_body: Buffer.from([0, 1, 2, 255]) });
    // google.protobuf.Value comes from protobufjs' bundled JSON, whose field names are camelCase even with keepCase.
    attributes.metadata_context = {
      filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { sub: { stringValue: 'alice' }, n: { numberValue: 1.5 }, l: { listValue: { values: [{ boolValue: true }] } } } } },
      typed_filter_metadata: { 'envoy.x': { type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) } },
    };
    attributes.route_metadata_context = { filter_metadata: { route: { fields: { name: { stringValue: 'r1' } } } } };
    attributes.tls_session = { sni: 'mcp.example.com' };

    // The bytes really carry those fields (the official schema reads them back).
    const bytes = CheckRequest.encode(CheckRequest.fromObject(request)).finish();
    const official = CheckRequest.toObject(CheckRequest.decode(bytes), { longs: String, defaults: false }) as Obj;
    t.equal(official.attributes.request.time.seconds, '1767225600');
    t.equal(official.attributes.source.address.socket_address.address, '10.1.2.3');
    t.equal(official.attributes.metadata_context.filter_metadata['envoy.filters.http.jwt_authn'].fields.sub.stringValue, 'alice');
    t.equal(official.attributes.request.http.size, '-1');

    let decoded: Obj = {};
    t.doesNotThrow(() => (decoded = throughService(request)), 'the service decodes it');
    t.strictSame(Object.keys(decoded.attributes).sort(), ['context_extensions', 'destination', 'request', 'source'].filter((k) => k in decoded.attributes).sort());
    t.notOk('metadata_context' in decoded.attributes, 'metadata_context skipped');
    t.notOk('route_metadata_context' in decoded.attributes, 'route_metadata_context skipped');
    t.notOk('tls_session' in decoded.attributes, 'tls_session skipped');
    t.equal(decoded.attributes.source, undefined, 'source (address, labels, certificate, principal) skipped: not read');
    t.strictSame(decoded.attributes.destination, { principal: 'p' });
    t.strictSame(Object.keys(decoded.attributes.request), ['http'], 'request.time skipped');
    t.strictSame(
      Object.keys(decoded.attributes.request.http).sort(),
      ['body', 'header_map', 'host', 'method', 'path', 'raw_body'],
      'query, fragment, size, protocol skipped; body and raw_body read (RFC 6750 §2.2 form tokens)',
    );
    t.equal(decoded.attributes.request.http.body, 'hello');
    t.strictSame(buf(decoded.attributes.request.http.raw_body), Buffer.from([0, 1, 2, 255]));
    const auth = (decoded.attributes.request.http.header_map.headers as Obj[]).find((entry) => entry.key === 'authorization')!;
    t.equal(buf(auth.raw_value).toString('utf8'), 'Bearer x', 'what follows the skipped fields is intact');
  });
});

// ---------------------------------------------------------------- responses

const RESOURCE = 'https://mcp.example.com/mcp';
const REQUIRED = ['mcp:tools'];
const principal: Principal = {
  issuer: 'https://as.example.com',
  subject: 'alice',
  subjectFingerprint: undefined,
  clientId: 'demo-app',
  scopes: ['mcp:tools', 'profile'],
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
};

/** RFC 9728 §3.1, computed here independently of the code under test. */
function expectedMetadataUrl(resource: string): string {
  const url = new URL(resource);
  return `${url.protocol}//${url.host}/.well-known/oauth-protected-resource${url.pathname === '/' ? '' : url.pathname}`;
}

t.test('expected resource_metadata URLs', async (t) => {
  t.equal(expectedMetadataUrl('https://mcp.example.com/mcp'), 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp');
  t.equal(expectedMetadataUrl('https://api.example.com/mcp'), 'https://api.example.com/.well-known/oauth-protected-resource/mcp');
});

t.test('allow: the OK response Envoy decodes is exactly SPEC §3', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const exchanged = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
  const { object, message } = throughEnvoy(builder.allow(exchanged, principal));

  t.strictSame(Object.keys(object).sort(), ['dynamic_metadata', 'http_response', 'ok_response', 'status']);
  t.equal(object.http_response, 'ok_response', 'the oneof holds ok_response');
  t.equal(message.status.code, 0, 'status.code 0 (OK)');
  t.notOk(object.denied_response, 'no denied_response');

  const ok = object.ok_response;
  t.equal(ok.headers.length, 1, 'exactly one header mutation');
  const [option] = ok.headers;
  t.strictSame(option.header, { key: 'authorization', value: `Bearer ${exchanged}` });
  t.equal(option.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD');
  t.notOk('append' in option, '`append` is not on the wire');
  t.equal(message.ok_response.headers[0].append, null, '`append` unset (decoded message has no BoolValue)');
  t.notOk('keep_empty_value' in option);
  t.notOk(ok.headers_to_remove?.length, 'headers_to_remove empty/absent');
  t.notOk(ok.response_headers_to_add?.length, 'no response_headers_to_add');
  t.notOk('dynamic_metadata' in ok, 'not the deprecated OkHttpResponse.dynamic_metadata');
  t.notOk(ok.query_parameters_to_set?.length);
  t.notOk(ok.query_parameters_to_remove?.length);

  // Judged by field number, not by name: google.protobuf.Value.string_value is field 3 (protobufjs names it
  // `stringValue` in its bundled copy, whatever keepCase says).
  const stringValue = CheckResponse.root.lookupType('google.protobuf.Value').fieldsById[3]!.name;
  const fields = (message.dynamic_metadata?.fields ?? {}) as Obj;
  t.strictSame(Object.keys(fields).sort(), ['client_id', 'scope', 'sub'], 'dynamic_metadata: sub, client_id, scope');
  for (const [name, expected] of [['sub', 'alice'], ['client_id', 'demo-app'], ['scope', 'mcp:tools profile']] as const) {
    t.equal(fields[name]?.kind, stringValue, `dynamic_metadata.${name} is a string value (Value.kind set)`);
    t.equal(fields[name]?.[stringValue], expected, `dynamic_metadata.${name} = ${expected}`);
  }
});

t.test('allow: dynamic_metadata leaves out what the token does not carry', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const { message } = throughEnvoy(builder.allow('x.y.z', { ...principal, subject: undefined, clientId: undefined, scopes: [] }));
  const fields = (message.dynamic_metadata?.fields ?? {}) as Obj;
  t.notOk('sub' in fields, 'no sub');
  t.notOk('client_id' in fields, 'no client_id');
});

interface ExpectedDenial {
  http: number;
  httpName: string;
  grpc: number;
  /** exact www-authenticate, or undefined for none */
  challenge: (metadata: string, scopes: string) => string | undefined;
  retryAfter: boolean;
}

// SPEC §3 "Denied", row by row; `internal` (an unexpected exception) fails closed as 500/INTERNAL.
const SPEC_DENIALS: Record<Exclude<AuthzErrorCode, 'resource_metadata'>, ExpectedDenial> = {
  missing_token: { http: 401, httpName: 'Unauthorized', grpc: 16, challenge: (m) => `Bearer resource_metadata="${m}"`, retryAfter: false },
  invalid_request: { http: 400, httpName: 'BadRequest', grpc: 3, challenge: (m) => `Bearer error="invalid_request", resource_metadata="${m}"`, retryAfter: false },
  invalid_token: { http: 401, httpName: 'Unauthorized', grpc: 16, challenge: (m) => `Bearer error="invalid_token", resource_metadata="${m}"`, retryAfter: false },
  insufficient_scope: { http: 403, httpName: 'Forbidden', grpc: 7, challenge: (_m, s) => `Bearer error="insufficient_scope", scope="${s}"`, retryAfter: false },
  exchange_refused: { http: 403, httpName: 'Forbidden', grpc: 7, challenge: () => undefined, retryAfter: false },
  misconfigured: { http: 500, httpName: 'InternalServerError', grpc: 13, challenge: () => undefined, retryAfter: false },
  unavailable: { http: 503, httpName: 'ServiceUnavailable', grpc: 14, challenge: () => undefined, retryAfter: true },
  not_http: { http: 403, httpName: 'Forbidden', grpc: 7, challenge: () => undefined, retryAfter: false },
  // Not a SPEC §3 row: a request no exchange target matches (issue 3) is denied like a non-HTTP check.
  no_target: { http: 403, httpName: 'Forbidden', grpc: 7, challenge: () => undefined, retryAfter: false },
  internal: { http: 500, httpName: 'InternalServerError', grpc: 13, challenge: () => undefined, retryAfter: false },
  // Not a SPEC §3 row: the gRPC deadline would pass first (issue 4 item 8), answered like an outage.
  deadline: { http: 503, httpName: 'ServiceUnavailable', grpc: 14, challenge: () => undefined, retryAfter: true },
  // Not a SPEC §3 row: a header map over the SPEC §5 caps (issue 10), RFC 6585 §5.
  headers_too_large: { http: 431, httpName: 'RequestHeaderFieldsTooLarge', grpc: 3, challenge: () => undefined, retryAfter: false },
};
/** Not a denial: the RFC 9728 document answered as a 200 local reply (tested on its own below). */
const DENIAL_CODES = (Object.keys(OUTCOMES) as AuthzErrorCode[]).filter((code) => code !== 'resource_metadata');

t.test('deny: every outcome decodes, with the official schema, as SPEC §3 requires', async (t) => {
  t.strictSame([...DENIAL_CODES].sort(), Object.keys(SPEC_DENIALS).sort(), 'this test covers every code in OUTCOMES');
  const statusEnum = CheckResponse.root.lookupEnum('envoy.type.v3.StatusCode');

  for (const resource of [RESOURCE, 'https://api.example.com:8443/tools/mcp']) {
    const builder = new ResponseBuilder(resource);
    const metadata = expectedMetadataUrl(resource);
    for (const code of DENIAL_CODES) {
      t.test(`${code} (${resource})`, async (t) => {
        const expected = SPEC_DENIALS[code as keyof typeof SPEC_DENIALS];
        const scopes = ['mcp:tools', 'mcp:admin'];
        const description = `the ${code} description`;
        const error = code === 'insufficient_scope' ? new InsufficientScopeError(scopes) : new AuthzError(code, description);
        const { object, message } = throughEnvoy(builder.deny(error));

        t.equal(object.http_response, 'denied_response', 'the oneof holds denied_response');
        t.notOk(object.ok_response, 'no ok_response');
        t.equal(message.status.code, expected.grpc, `status.code ${expected.grpc}`);
        t.equal(object.denied_response.status.code, expected.httpName, `HTTP ${expected.http} as the official enum name`);
        t.equal(statusEnum.values[expected.httpName], expected.http, `${expected.httpName} is ${expected.http} in the official enum`);
        t.equal(message.denied_response.status.code, expected.http);

        const headers: Record<string, string> = {};
        for (const option of object.denied_response.headers as Obj[]) {
          t.notOk(option.header.key in headers, `${option.header.key} set once`);
          headers[option.header.key] = option.header.value;
          t.equal(option.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', `${option.header.key}: overwrite`);
          t.notOk('append' in option, `${option.header.key}: append unset`);
        }
        const challenge = expected.challenge(metadata, scopes.join(' '));
        const names = ['content-type', ...(challenge ? ['www-authenticate'] : []), ...(expected.retryAfter ? ['retry-after'] : [])];
        t.strictSame(Object.keys(headers).sort(), names.sort(), `headers: ${names.join(', ')}`);
        t.equal(headers['content-type'], 'application/json');
        t.equal(headers['www-authenticate'], challenge, challenge ? `www-authenticate: ${challenge}` : 'no www-authenticate');
        if (expected.retryAfter) t.match(headers['retry-after'], /^[1-9][0-9]*$/, 'retry-after: delta-seconds');

        const body = JSON.parse(object.denied_response.body) as Obj;
        t.strictSame(Object.keys(body).sort(), ['error', 'error_description']);
        t.type(body.error, 'string');
        t.ok(body.error.length > 0, 'error is not empty');
        t.type(body.error_description, 'string');
        if (code !== 'insufficient_scope') t.equal(body.error_description, description);
        const rfc6750 = /error="([a-z_]+)"/.exec(challenge ?? '')?.[1];
        if (rfc6750) t.equal(body.error, rfc6750, 'body error matches the challenge error');
        t.notOk(object.dynamic_metadata, 'no dynamic_metadata on a denial');
      });
    }
  }
});

t.test('RFC 9728 metadata through the proxy: a 200 local reply carrying the document', async (t) => {
  const document = JSON.stringify({ resource: RESOURCE, authorization_servers: ['https://as.example.com'], bearer_methods_supported: ['header'] });
  const { object, message } = throughEnvoy(new ResponseBuilder(RESOURCE, document).deny(new AuthzError('resource_metadata', 'metadata')));
  t.equal(object.http_response, 'denied_response');
  t.not(message.status.code, 0, 'a non-OK status, so Envoy sends the local reply');
  t.equal(object.denied_response.status.code, 'OK', 'HTTP 200');
  t.equal(object.denied_response.body, document);
  t.same(object.denied_response.headers.map((option: Obj) => [option.header.key, option.header.value]), [['content-type', 'application/json']]);
});

// ---------------------------------------------------------------- schema

t.test('trimmed protos: every declared field has the official number and type', async (t) => {
  const trimmed = loadProtobufRoot('envoy/service/auth/v3/external_auth.proto', [PROTOS_DIR]);
  const official = officialRoot();
  const typeName = (field: protobuf.Field) => (field.resolvedType ? field.resolvedType.fullName : field.type);
  const compared: string[] = [];

  function walk(namespace: protobuf.NamespaceBase): void {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Type) {
        const theirs = official.lookup(nested.fullName);
        if (!(theirs instanceof protobuf.Type)) {
          t.fail(`${nested.fullName}: no such message in the official protos`);
        } else {
          compared.push(nested.fullName);
          for (const field of nested.fieldsArray) {
            const other = theirs.fields[field.name];
            if (!other) {
              t.fail(`${nested.fullName}.${field.name}: no such field in the official message`);
              continue;
            }
            const where = `${nested.fullName}.${field.name}`;
            t.equal(field.id, other.id, `${where}: number ${other.id}`);
            t.equal(typeName(field), typeName(other), `${where}: type ${typeName(other)}`);
            t.equal(field.repeated, other.repeated, `${where}: repeated ${other.repeated}`);
            t.equal(field.map, other.map, `${where}: map ${other.map}`);
            if (field instanceof protobuf.MapField && other instanceof protobuf.MapField) t.equal(field.keyType, other.keyType, `${where}: key type`);
            t.equal(field.partOf?.name, other.partOf?.name, `${where}: oneof ${other.partOf?.name ?? '(none)'}`);
          }
        }
      } else if (nested instanceof protobuf.Enum) {
        const theirs = official.lookup(nested.fullName);
        if (!(theirs instanceof protobuf.Enum)) {
          t.fail(`${nested.fullName}: no such enum in the official protos`);
        } else {
          compared.push(nested.fullName);
          for (const [name, value] of Object.entries(nested.values)) t.equal(value, theirs.values[name], `${nested.fullName}.${name} = ${theirs.values[name]}`);
        }
      } else if (nested instanceof protobuf.Service) {
        const theirs = official.lookup(nested.fullName);
        if (!(theirs instanceof protobuf.Service)) {
          t.fail(`${nested.fullName}: no such service in the official protos`);
        } else {
          compared.push(nested.fullName);
          for (const method of nested.methodsArray) {
            const other = theirs.methods[method.name];
            t.ok(other, `${nested.fullName}/${method.name} exists`);
            t.equal(method.resolvedRequestType?.fullName, other?.resolvedRequestType?.fullName, `${method.name} request type`);
            t.equal(method.resolvedResponseType?.fullName, other?.resolvedResponseType?.fullName, `${method.name} response type`);
          }
        }
      }
      if (nested instanceof protobuf.Namespace) walk(nested);
    }
  }
  walk(trimmed);

  for (const name of [
    '.envoy.service.auth.v3.Authorization',
    '.envoy.service.auth.v3.CheckRequest',
    '.envoy.service.auth.v3.CheckResponse',
    '.envoy.service.auth.v3.OkHttpResponse',
    '.envoy.service.auth.v3.DeniedHttpResponse',
    '.envoy.service.auth.v3.AttributeContext',
    '.envoy.service.auth.v3.AttributeContext.Peer',
    '.envoy.service.auth.v3.AttributeContext.Request',
    '.envoy.service.auth.v3.AttributeContext.HttpRequest',
    '.envoy.config.core.v3.HeaderValue',
    '.envoy.config.core.v3.HeaderValueOption',
    '.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction',
    '.envoy.config.core.v3.HeaderMap',
    '.envoy.type.v3.HttpStatus',
    '.envoy.type.v3.StatusCode',
    '.google.rpc.Status',
  ]) {
    t.ok(compared.includes(name), `${name} compared`);
  }
});

// ---------------------------------------------------------------- the hand-written codec

const decodeResponse = (bytes: Buffer) => CheckResponse.toObject(CheckResponse.decode(bytes) as protobuf.Message, { enums: String, longs: String, defaults: false, oneofs: true });

t.test('allowEncoded: byte for byte what the official schema reads from allow()', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const encoded = new EncodedAllows();
  const principals = [
    { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'x', clientId: 'app', scopes: ['a', 'b'], expiresAt: 1 },
    { issuer: 'https://as.example.com', subject: undefined, subjectFingerprint: undefined, clientId: undefined, scopes: [], expiresAt: 1 },
    { issuer: 'https://as.example.com', subject: 'ünïcode ✓', subjectFingerprint: 'y', clientId: 'c'.repeat(300), scopes: ['s'], expiresAt: 1 },
  ];
  const headers = [undefined, { name: 'x-upstream-token', prefix: '', remove: ['authorization'] }, { name: 'authorization', prefix: 'DPoP ', remove: ['x-actor-token'] }];
  for (const principal of principals) {
    for (const header of headers) {
      for (const token of ['t', 'e'.repeat(200), 'x'.repeat(70_000)]) {
        const viaObject = throughEnvoy(builder.allow(token, principal, header)).object;
        const label = `${principal.subject ?? 'no subject'}, ${header?.name ?? 'default header'}, token of ${token.length}`;
        t.strictSame(decodeResponse(encoded.allowEncoded({ value: token }, principal, header)), viaObject, label);
        // What the exchange cache keeps: the same bytes, built once, and the token readable back from them.
        const targetHeader = header ?? { name: 'authorization', prefix: 'Bearer ', remove: [] };
        const kept = encoded.keepEncoded(token, principal, { target: { header: targetHeader } });
        t.equal(kept.value, token, `${label}: kept token reads back`);
        t.strictSame(decodeResponse(encoded.allowEncoded(kept, principal, targetHeader)), viaObject, `${label}: kept bytes`);
      }
    }
  }
});

t.test('kept bytes follow a newly validated principal: the metadata is never stale', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const encoded = new EncodedAllows();
  const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };
  const before = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'x', clientId: 'app', scopes: ['read', 'write'], expiresAt: 1 };
  const after = { ...before, scopes: ['read'] };
  const kept = encoded.keepEncoded('exchanged', before, { target: { header } });
  const first = encoded.allowEncoded(kept, before, header);
  const again = encoded.allowEncoded(kept, before, header);
  t.ok(again.buffer === first.buffer && again.byteOffset === first.byteOffset && again.length === first.length, 'the same principal gets the very same kept bytes (a view of them: not encoded again)');
  t.strictSame(decodeResponse(encoded.allowEncoded(kept, after, header)), throughEnvoy(builder.allow('exchanged', after, header)).object, 'a new principal: its own scopes');
  t.equal(kept.value, 'exchanged');
});

t.test('the request decoder never hangs or crashes on garbage: it decodes or throws RangeError', async (t) => {
  const decode = (loadAuthorizationService().Check as { requestDeserialize: (bytes: Buffer) => unknown }).requestDeserialize;
  const valid = Buffer.from(CheckRequest.encode(CheckRequest.fromObject(envoyCheckRequest({ headers: { authorization: 'Bearer x' } }))).finish());
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = i % 2 === 0 ? Buffer.from(Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256))) : Buffer.from(valid);
    if (i % 2 === 1) for (let flips = 0; flips < 3; flips++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    try {
      decode(bytes);
      decoded++;
    } catch (error) {
      if (!(error instanceof RangeError)) t.fail(`unexpected ${String(error)}`);
    }
  }
  t.ok(decoded > 0, `${decoded} of 3000 decoded, the rest refused with RangeError`);
});
