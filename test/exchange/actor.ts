/** The actor token of one exchange (RFC 8693 §2.1, delegation) from each source, read through the real request view. */
import t from 'tap';
import type { ActorConfig } from '../../src/config/model.js';
import { actorToken } from '../../src/exchange/actor.js';
import { requestView, type RequestView } from '../../src/request/view.js';

const TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT = 'subject.token.value';
const MAX = 64;
const headerActor: ActorConfig = { source: 'header', header: 'x-actor-token', token: undefined, tokenType: TYPE };

/** The view of a request with these headers (Envoy's `headers` map). */
const withHeaders = (headers: Record<string, string>): RequestView => requestView({ attributes: { request: { http: { headers } } } })!;
/** The view of a request sent with `encode_raw_headers` (`header_map`), where each line is its own entry. */
const withLines = (...lines: Array<[string, string]>): RequestView =>
  requestView({ attributes: { request: { http: { header_map: { headers: lines.map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) } } } } })!;

const fromHeader = (view: RequestView) => actorToken(headerActor, view, SUBJECT, MAX);

t.test('source none, subject and static need no header', async (t) => {
  const view = withHeaders({ 'x-actor-token': 'ignored' });
  t.equal(actorToken({ source: 'none', header: undefined, token: undefined, tokenType: TYPE }, view, SUBJECT, MAX), undefined);
  t.equal(actorToken({ source: 'subject', header: undefined, token: undefined, tokenType: TYPE }, view, SUBJECT, MAX), SUBJECT, 'the inbound token acts for itself');
  t.equal(actorToken({ source: 'static', header: undefined, token: 'static-actor', tokenType: TYPE }, view, SUBJECT, MAX), 'static-actor');
});

t.test('source header: the token, with or without a Bearer prefix', async (t) => {
  t.equal(fromHeader(withHeaders({ 'x-actor-token': 'agent.jwt.sig' })), 'agent.jwt.sig');
  t.equal(fromHeader(withHeaders({ 'x-actor-token': '  Bearer   agent.jwt.sig ' })), 'agent.jwt.sig', 'surrounding spaces and the scheme go');
  t.equal(fromHeader(withHeaders({ 'x-actor-token': 'bEaReR agent' })), 'agent', 'the scheme in any case');
  t.equal(fromHeader(withHeaders({ 'X-Actor-Token': 'agent' })), 'agent', 'the header name in any case');
  t.equal(fromHeader(withLines(['x-actor-token', 'agent=='])), 'agent==', 'from header_map too');
  t.equal(fromHeader(withHeaders({ 'x-actor-token': 'a'.repeat(MAX) })), 'a'.repeat(MAX), 'exactly the longest token accepted');
});

t.test('source header without the header: no actor token (the exchange goes on without one)', async (t) => {
  t.equal(fromHeader(withHeaders({ authorization: 'Bearer subject' })), undefined);
});

t.test('more than one actor token is invalid_request, never a choice between them', async (t) => {
  const twice = { code: 'invalid_request', message: 'the request carries more than one actor token' };
  t.throws(() => fromHeader(withLines(['x-actor-token', 'one'], ['X-Actor-Token', 'two'])), twice, 'two header lines');
  t.throws(() => fromHeader(withHeaders({ 'x-actor-token': 'one,two' })), twice, 'two values joined by Envoy');
});

t.test('a malformed actor token is invalid_request; the message never quotes it', async (t) => {
  const malformed = { code: 'invalid_request', message: 'the actor token is malformed' };
  for (const value of ['a'.repeat(MAX + 1), 'Bearer a'.padEnd(MAX + 8, 'a'), 'has space', 'bad"quote', 'ä', '', 'Bearer =']) {
    t.throws(() => fromHeader(withHeaders({ 'x-actor-token': value })), malformed, JSON.stringify(value.slice(0, 12)));
  }
});
