import t from 'tap';
import { B64TOKEN, b64tokenFault, MAX_EXCHANGED_TOKEN_BYTES } from '../../src/oauth/b64token.js';

t.test('RFC 6750 §2.1 b64token, and why a value is not one', async (t) => {
  for (const good of ['a', 'abc.def-ghi_~+/==', 'x'.repeat(MAX_EXCHANGED_TOKEN_BYTES)]) t.equal(b64tokenFault(good), undefined, `${good.slice(0, 20)} is a b64token`);
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /missing/],
    [null, /null/],
    [42, /number/],
    [{}, /object/],
    [[], /array/],
    ['', /empty/],
    ['x'.repeat(MAX_EXCHANGED_TOKEN_BYTES + 1), /longer than 16384/],
    ['a\rb', /control/],
    ['a\nb', /control/],
    ['a\u0000b', /control/],
    ['a\u007fb', /control/],
    ['a\tb', /control/],
    ['a\u001bb', /control/],
    ['a b', /space/],
    [' ', /space/],
    ['a,b', /comma/],
    ['ä', /non-ASCII/],
    ['a\u2028b', /non-ASCII/],
    ['a"b', /not an RFC 6750 b64token/],
    ['=abc', /not an RFC 6750 b64token/],
    ['ab=c', /not an RFC 6750 b64token/],
  ];
  for (const [value, fault] of cases) {
    const found = b64tokenFault(value);
    const label = (JSON.stringify(value) ?? 'undefined').slice(0, 30).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    t.match(found, fault, `${label} → ${String(found)}`);
    if (typeof value === 'string') t.notOk(found?.includes(value) && value.length > 1, 'the fault never quotes the value');
  }
  t.notOk(B64TOKEN.test('a b'));
});
