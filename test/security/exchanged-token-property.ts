/**
 * SPEC §3 "What the service accepts from the token endpoint", as a property:
 * whatever string the token endpoint returns as `access_token`, the Check is
 * either refused (503, gRPC 14), or allowed with exactly one `authorization`
 * header whose value is `Bearer ` + that string, and that string is a
 * non-empty RFC 6750 b64token of at most 16 KiB; a valid token is always
 * allowed. Nothing in an allowed answer's headers carries a control or
 * non-ASCII character.
 *
 * One running service; the token endpoint (a FAKE over real HTTP) returns the
 * next generated string; each run Checks a fresh inbound token over real gRPC
 * and decodes the answer with Envoy's official protos. After a refusal a
 * well-formed exchange closes the circuit breaker again, so every run reaches
 * the token endpoint.
 */
import t from 'tap';
import fc from 'fast-check';
import type { DecodedCheckResponse } from '../fixtures/envoy-client.js';
import { checkProperty, SEED, truncate } from '../fixtures/property-wire.js';
import { authorizationServer, serviceEnv } from '../fixtures/service.js';
import { B64TOKEN, goodAnswer, MAX_EXCHANGED_TOKEN_BYTES, startBothListeners, startScriptedTokenEndpoint, tokenResponse } from '../fixtures/security.js';

const B64_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/'];

/** A valid b64token: 1–40 token characters, then up to two `=`. */
const validToken = fc
  .tuple(fc.array(fc.constantFrom(...B64_CHARS), { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2 }))
  .map(([chars, padding]) => chars.join('') + '='.repeat(padding));

/** A valid token with something inserted at some position (often one hostile character). */
const injected = fc
  .tuple(validToken, fc.nat(), fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }), fc.constantFrom('\r\n', '\u2028', ' ', ',', '\u0000', '\u007f', '\t', '=', '\ud800')))
  .map(([token, at, inserted]) => token.slice(0, at % (token.length + 1)) + inserted + token.slice(at % (token.length + 1)));

/** Around the 16 KiB limit. */
const nearLimit = fc
  .tuple(fc.integer({ min: MAX_EXCHANGED_TOKEN_BYTES - 2, max: MAX_EXCHANGED_TOKEN_BYTES + 2 }), fc.constantFrom('a', '/', '='))
  .map(([length, last]) => 'a'.repeat(length - 1) + last);

const anyString = fc.oneof(
  { weight: 3, arbitrary: validToken },
  { weight: 3, arbitrary: injected },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
  { weight: 1, arbitrary: nearLimit },
);

const isValid = (value: string) => B64TOKEN.test(value) && Buffer.byteLength(value, 'utf8') <= MAX_EXCHANGED_TOKEN_BYTES;

/** A header option's value as the bytes Envoy would write: `raw_value` when set, else `value`. */
function headerBytes(option: DecodedCheckResponse): Buffer {
  const raw = option.header?.raw_value as Buffer | undefined;
  return raw && raw.length > 0 ? Buffer.from(raw) : Buffer.from(String(option.header?.value ?? ''), 'utf8');
}

t.test('for any access_token string: refused, or allowed with exactly "Bearer " + a valid b64token', async (t) => {
  t.comment(`fast-check seed ${SEED} (PROPERTY_SEED=<n> to change)`);
  const as = await authorizationServer(t);
  const endpoint = await startScriptedTokenEndpoint(t);
  const service = await startBothListeners(t, serviceEnv(as, { TOKEN_EXCHANGE_ENDPOINT_URL: endpoint.url, LOG_LEVEL: 'warn' }));
  let n = 0;
  const fresh = () => as.mintAccessToken({ sub: `p-${++n}` });
  let allowedRuns = 0;
  let refusedRuns = 0;

  async function checkOne(accessToken: string): Promise<void> {
    endpoint.answer = () => tokenResponse({ access_token: accessToken, token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 300 });
    const inbound = await fresh();
    const calls = endpoint.calls.length;
    const response = await service.client.check({ headers: { authorization: `Bearer ${inbound}` } });
    if (endpoint.calls.length !== calls + 1) throw new Error(`the token endpoint was called ${endpoint.calls.length - calls} times, not once`);
    if (JSON.stringify(response).includes(inbound)) throw new Error('the inbound token is in the answer');
    const code = Number(response.status?.code ?? 0);

    if (code !== 0) {
      refusedRuns++;
      if (code !== 14) throw new Error(`refused with gRPC ${code}, expected 14 (a garbage answer)`);
      if (response.ok_response) throw new Error('a refusal carries an ok_response');
      if (isValid(accessToken)) throw new Error('a valid b64token was refused');
      // Close the breaker again (a well-formed exchange for another token), so the next run reaches the endpoint.
      endpoint.answer = goodAnswer();
      const healed = await service.client.check({ headers: { authorization: `Bearer ${await fresh()}` } });
      if (Number(healed.status?.code ?? 0) !== 0) throw new Error(`a well-formed answer after a refusal was not allowed (gRPC ${String(healed.status?.code)})`);
      return;
    }

    allowedRuns++;
    const options = (response.ok_response?.headers ?? []) as DecodedCheckResponse[];
    const authorization = options.filter((option) => String(option.header?.key ?? '').toLowerCase() === 'authorization');
    if (authorization.length !== 1) throw new Error(`${authorization.length} authorization headers in the allowed answer`);
    const value = headerBytes(authorization[0]!);
    if (!/^Bearer [A-Za-z0-9\-._~+/]+=*$/.test(value.toString('latin1'))) throw new Error(`the header value is not "Bearer " + a b64token: ${JSON.stringify(truncate(value.toString('latin1'), 200))}`);
    if (!value.equals(Buffer.from(`Bearer ${accessToken}`, 'utf8'))) throw new Error('the header value is not exactly "Bearer " + the access_token');
    if (!isValid(accessToken)) throw new Error('allowed with an access_token that is not a valid b64token of at most 16 KiB');
    for (const option of options) {
      const bytes = headerBytes(option);
      if (!/^[\x20-\x7e]*$/.test(bytes.toString('latin1'))) throw new Error(`header ${String(option.header?.key)} carries a control or non-ASCII byte`);
    }
    const removed = (response.ok_response?.headers_to_remove ?? []) as string[];
    if (removed.some((name) => name.toLowerCase() === 'authorization')) throw new Error('the header being set is listed in headers_to_remove');
  }

  const examples: Array<[string]> = [
    ['abc\r\nx-injected: 1'],
    [' '],
    [''],
    ['abc\u2028'],
    ['a'.repeat(MAX_EXCHANGED_TOKEN_BYTES)],
    ['a'.repeat(MAX_EXCHANGED_TOKEN_BYTES + 1)],
  ];
  await checkProperty(t, 'any access_token', fc.asyncProperty(anyString, checkOne), { numRuns: 200, examples });
  t.comment(`${allowedRuns} allowed, ${refusedRuns} refused`);
  t.ok(allowedRuns > 20 && refusedRuns > 20, `both sides of the property were exercised (${allowedRuns} allowed, ${refusedRuns} refused)`);
});
