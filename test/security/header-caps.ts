/**
 * SPEC §5 header caps, through the real gRPC listener (Envoy-shaped client, both
 * `headers` and `header_map`) and the real HTTP authorization listener: a request
 * at the cap is decided as usual, one entry over it is denied 431 (never allowed,
 * never a gRPC error), and so is the 100,000-entry map of the attack.
 */
import { connect } from 'node:net';
import t from 'tap';
import { envoyCheckRequest, summarize } from '../fixtures/envoy-client.js';
import { errorOf, statusOf } from '../fixtures/e2e-helpers.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';
import { startHttpAuthz } from '../http-authz/fixtures/service.js';

const MAX_HEADERS = 500; // GRPC_MAX_REQUEST_HEADERS and AUTHZ_HTTP_MAX_HEADERS defaults

/** `count` filler headers `x-filler-<i>: <value>`. */
const fillers = (count: number, value = 'v') => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-filler-${i}`, value]));

/** How many header entries the Envoy-shaped client sends besides the fillers (pseudo-headers, x-request-id, ...). */
function baseEntries(token: string): number {
  const http = (envoyCheckRequest({ headers: { authorization: `Bearer ${token}` } }).attributes as { request: { http: { headers: object } } }).request.http;
  return Object.keys(http.headers).length;
}

t.test('gRPC: CheckRequest header caps', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  const base = baseEntries(token);
  const check = async (extra: Record<string, string>, raw: boolean) => summarize(await service.client.check({ headers: { authorization: `Bearer ${token}`, ...extra }, raw }));

  for (const raw of [false, true]) {
    const form = raw ? 'header_map' : 'headers';
    await t.test(`${form}: exactly ${MAX_HEADERS} entries are allowed`, async (t) => {
      t.ok((await check(fillers(MAX_HEADERS - base), raw)).allowed);
    });
    await t.test(`${form}: ${MAX_HEADERS + 1} entries are denied 431 invalid_request`, async (t) => {
      const result = await check(fillers(MAX_HEADERS - base + 1), raw);
      t.same(statusOf(result), [431, 3]);
      t.equal(errorOf(result), 'invalid_request');
      t.equal(result.body?.includes(token), false, 'the token is not echoed');
    });
    await t.test(`${form}: 40,000 entries (the attack, inside GRPC_MAX_MESSAGE_BYTES) are denied 431`, async (t) => {
      t.same(statusOf(await check(fillers(40_000), raw)), [431, 3]);
    });
    await t.test(`${form}: entries over GRPC_MAX_REQUEST_HEADER_BYTES (256 KiB) are denied 431; just under is allowed`, async (t) => {
      t.same(statusOf(await check(fillers(9, 'x'.repeat(30 * 1024)), raw)), [431, 3], '9 × 30 KiB');
      t.ok((await check(fillers(7, 'x'.repeat(30 * 1024)), raw)).allowed, '7 × 30 KiB');
    });
  }

  await t.test('the denied requests left the service answering', async (t) => {
    t.ok((await check({}, false)).allowed);
  });
});

/** Sends one raw HTTP/1.1 request head with `extra` header lines; resolves with the status code. */
function rawStatus(port: number, token: string, extraLines: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    const lines = Array.from({ length: extraLines }, (_, i) => `x-filler-${i}: v\r\n`).join('');
    socket.write(`GET /mcp HTTP/1.1\r\nhost: mcp.example.com\r\nauthorization: Bearer ${token}\r\n${lines}\r\n`);
  });
}

t.test('HTTP authorization: header-line cap', async (t) => {
  const as = await authorizationServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as));
  const token = await as.mintAccessToken({ sub: 'alice' });
  t.equal(await rawStatus(service.port, token, MAX_HEADERS - 2), 200, `${MAX_HEADERS} header lines: allowed`);
  t.equal(await rawStatus(service.port, token, MAX_HEADERS - 1), 431, `${MAX_HEADERS + 1} header lines: 431, not decided on a truncated header list`);
  t.equal(await rawStatus(service.port, token, 1_500), 431, '1,500 header lines: 431');
});
