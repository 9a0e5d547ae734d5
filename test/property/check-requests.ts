/**
 * Issue "Fast and unbreakable", item 6.2 and 6.3: random CheckRequests built
 * with Envoy's OFFICIAL schema (`fromObject` + `encode`), sent over real gRPC
 * with a 2 s deadline to the real service in front of a real authorization
 * server. Every call must get a CheckResponse before its deadline (never a gRPC
 * error), in a SPEC §3 row the request allows (see `expectedRows`), never
 * `allowed` without a genuinely valid token, and never containing an inbound
 * token.
 */
import t from 'tap';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { summarize } from '../fixtures/envoy-client.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';
import { CheckBytesClient, checkProperty, encodeRequest, responseStrings, rowOf, SEED, truncate } from '../fixtures/property-wire.js';
import {
  decodeRequest, expectedRows, HUGE, materialize, requestSpec, RESOURCE_METADATA_URL, SMALL, tokenContext, type RequestSpec, type Token,
} from '../fixtures/property-requests.js';

const DEADLINE_MS = 2000;
/** GRPC_MAX_MESSAGE_BYTES' default */
const MAX_MESSAGE_BYTES = 1024 * 1024;

t.test('random CheckRequests (official schema) over gRPC', async (t) => {
  t.comment(`fast-check seed ${SEED} (PROPERTY_SEED=<n> to change)`);
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { LOG_LEVEL: 'warn' }));
  const client = new CheckBytesClient(`127.0.0.1:${service.grpcPort}`);
  t.teardown(() => client.close());
  const context = await tokenContext(as);

  /** rows seen, to show what the random requests covered */
  const seen = new Map<string, number>();

  /** One request through the service; throws (with the reason) when a property does not hold. */
  async function checkOne(spec: RequestSpec): Promise<void> {
    const { request, tokens } = await materialize(spec, context);
    const bytes = encodeRequest(request);
    const expected = expectedRows(decodeRequest(bytes), tokens);
    const result = await client.call(bytes, DEADLINE_MS);
    const size = `${bytes.length} bytes`;
    // SPEC §5: a message over GRPC_MAX_MESSAGE_BYTES is refused from its length prefix, before it could be decoded.
    if (bytes.length > MAX_MESSAGE_BYTES) {
      if (result.error?.code !== 8) throw new Error(`a ${size} message was not refused with RESOURCE_EXHAUSTED (${result.error ? `${result.error.code} ${result.error.details}` : 'answered'})`);
      seen.set('refused: over GRPC_MAX_MESSAGE_BYTES', (seen.get('refused: over GRPC_MAX_MESSAGE_BYTES') ?? 0) + 1);
      return;
    }
    if (result.error) throw new Error(`a gRPC error instead of a CheckResponse: ${result.error.code} ${result.error.details} after ${Math.round(result.ms)} ms (${size}; ${expected.why})`);
    if (result.ms >= DEADLINE_MS) throw new Error(`answered after ${Math.round(result.ms)} ms, past the ${DEADLINE_MS} ms deadline`);
    const response = result.response!;
    const row = rowOf(response, RESOURCE_METADATA_URL);
    if (!expected.rows.has(row)) {
      throw new Error(`row ${row}, expected ${[...expected.rows].join(' | ')} (${expected.why}); body ${truncate(summarize(response).body ?? '', 300)}`);
    }
    seen.set(row, (seen.get(row) ?? 0) + 1);
    if (row === 'allowed') checkAllowed(response, expected.sentGenuine, tokens);
    const strings = responseStrings(response);
    const exchanged = row === 'allowed' ? summarize(response).headers.authorization : undefined;
    for (const token of tokens) {
      if (token.value.length < 8) continue;
      // An exchanged JWT from the same server shares the header segment with a truncated inbound token: look at the other strings for those.
      const leaked = strings.find((text) => text !== exchanged && text.includes(token.value)) ?? (exchanged?.includes(token.value) && token.value.split('.').length >= 3 ? exchanged : undefined);
      if (leaked !== undefined) throw new Error(`the response contains an inbound token (${truncate(token.value, 80)}) in ${truncate(leaked, 200)}`);
    }
  }

  function checkAllowed(response: Record<string, any>, sentGenuine: readonly Token[], tokens: readonly Token[]): void {
    const acceptable = sentGenuine.filter((token) => token.acceptable);
    if (acceptable.length === 0) throw new Error(`allowed without a valid token (genuine tokens sent: ${sentGenuine.length})`);
    const exchanged = summarize(response).headers.authorization!.replace(/^Bearer /, '');
    if (tokens.some((token) => token.value === exchanged)) throw new Error('allowed with the inbound token passed through');
    const subject = decodeJwt(exchanged).sub;
    const subjects = acceptable.map((token) => token.sub);
    if (!subjects.includes(subject) && subjects.every((sub) => sub !== undefined)) {
      throw new Error(`the exchanged token is for ${String(subject)}, not for the subject of a token sent (${subjects.join(', ')})`);
    }
  }

  await checkProperty(t, 'any CheckRequest gets a CheckResponse in an allowed SPEC §3 row, before its deadline', fc.asyncProperty(requestSpec(SMALL), checkOne), { numRuns: 600 });

  // Fixed examples first (examples run before the random ones): 1000 headers, 60 KB values, repeated authorization entries.
  const valid = { kind: 'valid' } as const;
  const filler = (count: number, length: number, raw: boolean) => ({ count, length, seed: 7, raw });
  const bearer = (form: 'Bearer' | 'two' = 'Bearer') => ({ auth: { form, token: valid, second: valid, junk: '' } });
  const examples: Array<[RequestSpec]> = [
    [{ attributes: { request: { http: { method: 'POST', path: '/mcp', host: 'mcp.example.com', headers: [['authorization', bearer()]], filler: filler(1000, 200, false) } } } }],
    [{ attributes: { request: { http: { method: 'POST', path: '/mcp', headerMap: [{ key: 'authorization', raw: bearer() }], filler: filler(1000, 200, true) } } } }],
    [{ attributes: { request: { http: { method: 'GET', path: '/mcp', headers: [['authorization', bearer()], ['x-a', { huge: { length: 61_440, seed: 1 } }], ['x-b', { huge: { length: 61_440, seed: 2 } }], ['cookie', { huge: { length: 61_440, seed: 3 } }]] } } } }],
    [{ attributes: { request: { http: { method: 'GET', path: '/mcp', headerMap: Array.from({ length: 50 }, () => ({ key: 'authorization', raw: bearer() })) } } } }],
    [{ attributes: { request: { http: { method: 'GET', path: '/mcp', headers: [['authorization', { huge: { length: 61_440, seed: 4 } }]], filler: filler(1000, 3000, true) } } } }],
  ];
  await checkProperty(t, 'huge CheckRequests (1000 headers, 60 KB values, repeated authorization) too', fc.asyncProperty(requestSpec(HUGE), checkOne), { numRuns: 20, examples });

  t.comment(`rows seen: ${[...seen].map(([row, count]) => `${row} ${count}`).join(', ')}`);

  // After all that, the service still answers an ordinary Check.
  const after = await service.client.check({ headers: { authorization: `Bearer ${context.valid}` } }, { deadlineMs: DEADLINE_MS });
  t.equal(summarize(after).allowed, true, 'a valid Check is still allowed afterwards');
});
