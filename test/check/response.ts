import t from 'tap';
import { ResponseBuilder } from '../../src/check/response.js';
import { AuthzError, GarbageAnswerError, RateLimitedError } from '../../src/errors.js';
import type { Principal } from '../../src/validation/principal.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const alice: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: ['read'], expiresAt: 2e9 };
const headerOf = (response: ReturnType<ResponseBuilder['deny']>, name: string) => response.denied_response?.headers.find(({ header }) => header.key === name)?.header.value;

t.test('allow: the exchanged token overwrites, the caller\'s other credentials are removed (SPEC §3)', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const plain = builder.allow('exchanged', alice, { name: 'authorization', prefix: 'Bearer ', remove: [] });
  t.same(plain.ok_response, { headers: [{ header: { key: 'authorization', value: 'Bearer exchanged' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] });
  const actor = builder.allow('exchanged', alice, { name: 'authorization', prefix: 'Bearer ', remove: ['x-actor-token'] });
  t.same(actor.ok_response?.headers_to_remove, ['x-actor-token'], 'the actor header is removed');
  const elsewhere = builder.allow('exchanged', alice, { name: 'x-upstream-token', prefix: '', remove: ['authorization', 'x-actor-token'] });
  t.same(elsewhere.ok_response?.headers_to_remove, ['authorization', 'x-actor-token']);
  t.notOk(elsewhere.ok_response?.headers_to_remove?.includes('x-upstream-token'), 'never the header being set');
});

t.test('allow: a token that is not a b64token never becomes a header value', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };
  for (const hostile of ['a\r\nx-injected: 1', 'a b', 'a,b', '', 'ä', 'a\u2028b', '\u0000']) {
    t.throws(() => builder.allow(hostile, alice, header), { code: 'unavailable' }, 'allow refuses it');
  }
});

t.test('dynamic_metadata passes on only header-safe values', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  const header = { name: 'authorization', prefix: 'Bearer ', remove: [] };
  const hostile: Principal = { ...alice, subject: 'alice\r\nx-injected: 1', clientId: 'c'.repeat(1025), scopes: ['read', 'wr\u0000ite'] };
  t.same(builder.allow('x', hostile, header).dynamic_metadata, { fields: {} }, 'CR/LF, NUL, oversized: left out');
  t.same(builder.allow('x', alice, header).dynamic_metadata, { fields: { scope: { stringValue: 'read' }, sub: { stringValue: 'alice' }, client_id: { stringValue: 'app' } } });
});

t.test('deny: a 429 passes on its own wait, other 503s the default', async (t) => {
  const builder = new ResponseBuilder(RESOURCE);
  t.equal(headerOf(builder.deny(new RateLimitedError(17)), 'retry-after'), '17');
  t.equal(headerOf(builder.deny(new AuthzError('unavailable', 'down')), 'retry-after'), '1');
  t.equal(headerOf(builder.deny(new GarbageAnswerError('x')), 'retry-after'), '1');
  t.equal(builder.deny(new RateLimitedError(17)).denied_response?.status.code, 503);
});
