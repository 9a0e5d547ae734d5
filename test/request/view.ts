import t from 'tap';
import type { CheckRequest } from '../../src/request/check-request.js';
import { requestView } from '../../src/request/view.js';

const withHttp = (http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>): CheckRequest => ({ attributes: { request: { http } } });

t.test('no HTTP attributes: no view (a network-level check)', async (t) => {
  for (const request of [{}, { attributes: null }, { attributes: {} }, { attributes: { request: null } }, { attributes: { request: {} } }, { attributes: { request: { http: null } } }] as CheckRequest[]) {
    t.equal(requestView(request), undefined, JSON.stringify(request));
  }
});

t.test('the headers map: lower-case names directly, any other case all the same', async (t) => {
  const view = requestView(withHttp({ headers: { authorization: 'Bearer a', 'X-Actor': 'one', 'x-ACTOR': 'two' } }))!;
  t.strictSame(view.headerValues('authorization'), ['Bearer a']);
  t.strictSame(view.headerValues('x-actor'), ['one', 'two'], 'every case variant, one value each');
  t.strictSame(view.headerValues('cookie'), []);
  t.strictSame(view.headerValues('authorization'), ['Bearer a'], 'asking again gives the same');
});

t.test('a value joined by "," stays one value', async (t) => {
  t.strictSame(requestView(withHttp({ headers: { authorization: 'Bearer a,Bearer b' } }))!.headerValues('authorization'), ['Bearer a,Bearer b']);
});

t.test('no headers at all: an empty view', async (t) => {
  t.strictSame(requestView(withHttp({ path: '/' }))!.headerValues('authorization'), []);
  t.strictSame(requestView(withHttp({ headers: null }))!.headerValues('authorization'), []);
});

t.test('header_map: one value per header line, raw_value first, matched case-insensitively', async (t) => {
  const raw = Buffer.from('Bearer r\u00e9', 'latin1');
  const view = requestView(
    withHttp({
      headers: { authorization: 'from the map, ignored' },
      header_map: {
        headers: [
          { key: 'Authorization', raw_value: raw },
          { key: 'authorization', value: 'Bearer plain' },
          { key: 'authorization', value: 'Bearer second', raw_value: Buffer.alloc(0) },
          { key: 'authorization' },
          { value: 'no key' },
          { key: 'x-other', value: 'x' },
        ],
      },
    }),
  )!;
  t.strictSame(view.headerValues('authorization'), ['Bearer r\u00e9', 'Bearer plain', 'Bearer second', ''], 'an empty raw_value falls back to value, a missing one to ""');
  t.strictSame(view.headerValues('x-other'), ['x']);
  t.strictSame(view.headerValues('missing'), []);
});

t.test('header_map: raw bytes map one byte to one character (latin1), from a view into a larger buffer', async (t) => {
  const whole = Buffer.from('xxxxBearer \u00ff\u0080yyyy', 'latin1');
  const slice = new Uint8Array(whole.buffer, whole.byteOffset + 4, whole.length - 8);
  const view = requestView(withHttp({ header_map: { headers: [{ key: 'authorization', raw_value: slice }] } }))!;
  t.strictSame(view.headerValues('authorization'), ['Bearer \u00ff\u0080'], 'only the bytes of the view, none lost, nothing thrown');
});

t.test('an empty header_map falls back to the headers map', async (t) => {
  t.strictSame(requestView(withHttp({ headers: { authorization: 'Bearer a' }, header_map: { headers: [] } }))!.headerValues('authorization'), ['Bearer a']);
  t.strictSame(requestView(withHttp({ headers: { authorization: 'Bearer a' }, header_map: { headers: null } }))!.headerValues('authorization'), ['Bearer a']);
  t.strictSame(requestView(withHttp({ headers: { authorization: 'Bearer a' }, header_map: {} }))!.headerValues('authorization'), ['Bearer a']);
});
