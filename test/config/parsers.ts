/** The parsers of single setting values: what each accepts, what it returns, and the message that completes "<VARIABLE>: …". */
import t from 'tap';
import {
  absoluteUri, algorithms, ASYMMETRIC_ALGORITHMS, boolean, extraParameters, headerName, headerValuePrefix, httpUrl, integer, listOf, oneOf, redisUrl, RESERVED_PARAMETERS, scopes, text, words,
  type Parser,
} from '../../src/config/parsers.js';

/** The message a parser throws for `raw`, or `undefined` when it accepts it. */
function refusal<T>(parse: Parser<T>, raw: string): string | undefined {
  try {
    parse(raw);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

t.test('text: anything but blank, kept as written', async (t) => {
  t.equal(text(' a b '), ' a b ');
  t.equal(refusal(text, ''), 'must not be empty');
  t.equal(refusal(text, ' \t\n'), 'must not be empty');
});

t.test('httpUrl: absolute http(s), no fragment, no credentials, nothing invisible (RFC 8414 §2)', async (t) => {
  for (const url of ['https://as.example.com', 'http://127.0.0.1:8080/realms/a', 'https://as.example.com/path?x=1']) t.equal(httpUrl(url), url, url);
  t.equal(refusal(httpUrl, '/relative'), '"/relative" is not an absolute URL');
  t.equal(refusal(httpUrl, 'ftp://as.example.com'), '"ftp://as.example.com" must use https (or http on loopback)');
  t.equal(refusal(httpUrl, 'https://as.example.com/#top'), '"https://as.example.com/#top" must not contain a fragment');
  t.equal(refusal(httpUrl, 'https://as.example.com/#'), '"https://as.example.com/#" must not contain a fragment', 'an empty fragment too (URL drops it)');
  t.equal(refusal(httpUrl, 'https://user:pw@as.example.com'), 'must not contain credentials', 'the credentials are not echoed');
  t.equal(refusal(httpUrl, 'https://user@as.example.com'), 'must not contain credentials');
  for (const raw of [' https://as.example.com', 'https://as.example.com\n', 'https://as.exa\tmple.com', 'https://as.example.com/\u007f']) {
    t.match(refusal(httpUrl, raw), /contains whitespace or control characters$/, JSON.stringify(raw));
  }
});

t.test('redisUrl: redis:// or rediss://, a host, at most a database number; never echoes the value', async (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'rediss://cache.example.com:6380/', 'redis://:secret@cache/0', 'redis://cache/15']) t.equal(redisUrl(url), url, url);
  const secret = 'redis://:hunter2@cache';
  const cases: Array<[string, string]> = [
    ['not a url hunter2', 'is not a URL (redis://host:port or rediss://host:port)'],
    ['http://:hunter2@cache', 'must use redis:// or rediss:// (TLS)'],
    ['redis:///0', 'names no host'],
    ['redis://:hunter2@', 'is not a URL (redis://host:port or rediss://host:port)'],
    [`${secret}/db`, 'the path may only be a database number'],
    [`${secret}/123`, 'the path may only be a database number'],
    [`${secret}/0?x=hunter2`, 'must not have a query or a fragment'],
    [`${secret}#hunter2`, 'must not have a query or a fragment'],
  ];
  for (const [raw, message] of cases) {
    const got = refusal(redisUrl, raw);
    t.equal(got, message, raw);
    t.notMatch(got ?? '', /hunter2/, 'the password is not in the message');
  }
});

t.test('absoluteUri: any scheme, no fragment, nothing invisible (RFC 8707 §2, RFC 8693 §3)', async (t) => {
  for (const uri of ['urn:ietf:params:oauth:token-type:jwt', 'https://api.example.com/orders', 'spiffe://cluster/ns/a/sa/b']) t.equal(absoluteUri(uri), uri, uri);
  t.equal(refusal(absoluteUri, 'orders-api'), '"orders-api" is not an absolute URI');
  t.equal(refusal(absoluteUri, 'urn:x:y#z'), '"urn:x:y#z" must not contain a fragment');
  t.match(refusal(absoluteUri, 'urn:x: y'), /contains whitespace or control characters$/);
});

t.test('integer: whole numbers inside the range, surrounding spaces allowed', async (t) => {
  const port = integer(0, 65_535);
  t.equal(port('0'), 0);
  t.equal(port(' 65535 '), 65_535);
  t.equal(refusal(port, '65536'), '65536 is outside 0..65535');
  t.equal(refusal(integer(10, 20), '9'), '9 is outside 10..20');
  for (const raw of ['-1', '1.5', '1e3', '0x10', '', 'ten']) t.equal(refusal(port, raw), `${JSON.stringify(raw)} is not a whole number`, JSON.stringify(raw));
});

t.test('boolean: true or false in any case', async (t) => {
  t.equal(boolean('true'), true);
  t.equal(boolean(' FALSE '), false);
  t.equal(boolean('True'), true);
  for (const raw of ['yes', '1', '']) t.equal(refusal(boolean, raw), `${JSON.stringify(raw)} must be true or false`, JSON.stringify(raw));
});

t.test('words: split on any whitespace, duplicates removed, at least one', async (t) => {
  t.same(words(' a\tb  a\nc '), ['a', 'b', 'c']);
  t.equal(refusal(words, '   '), 'must hold at least one value');
});

t.test('listOf: each word parsed by the item parser, whose message stands', async (t) => {
  const uris = listOf(absoluteUri);
  t.same(uris('urn:a urn:b urn:a'), ['urn:a', 'urn:b']);
  t.equal(refusal(uris, 'urn:a relative'), '"relative" is not an absolute URI');
  t.equal(refusal(uris, ''), 'must hold at least one value');
});

t.test('oneOf: exactly one of the values, case-sensitive', async (t) => {
  const level = oneOf(['info', 'debug'] as const);
  t.equal(level('debug'), 'debug');
  t.equal(refusal(level, 'DEBUG'), '"DEBUG" must be one of info, debug');
  t.equal(refusal(level, ' info'), '" info" must be one of info, debug');
});

t.test('algorithms: asymmetric JWS algorithms only (RFC 7518 §3.1, RFC 8037)', async (t) => {
  t.same(algorithms(ASYMMETRIC_ALGORITHMS.join(' ')), ASYMMETRIC_ALGORITHMS);
  t.same(algorithms('ES256 ES256 EdDSA'), ['ES256', 'EdDSA']);
  for (const alg of ['none', 'HS256', 'HS512']) t.match(refusal(algorithms, `RS256 ${alg}`), `"${alg}" is not accepted: only asymmetric algorithms can be verified against a JWKS`, alg);
  t.equal(refusal(algorithms, 'RS256 ES256K'), `"ES256K" is not a supported algorithm (${ASYMMETRIC_ALGORITHMS.join(' ')})`);
  t.equal(refusal(algorithms, 'rs256'), `"rs256" is not a supported algorithm (${ASYMMETRIC_ALGORITHMS.join(' ')})`, 'names are case-sensitive');
  t.equal(refusal(algorithms, ''), 'must hold at least one value');
});

t.test('extraParameters: form-encoded pairs, never a name the service sets', async (t) => {
  t.same(extraParameters('a=1&b=x%20y&a=2'), [['a', '1'], ['b', 'x y'], ['a', '2']], 'decoded, repeated names kept in order');
  t.same(extraParameters('?flag'), [['flag', '']], 'a leading "?" is dropped, a bare name has an empty value');
  t.equal(refusal(extraParameters, ''), 'must hold at least one name=value pair');
  for (const name of RESERVED_PARAMETERS) {
    t.equal(refusal(extraParameters, `ok=1&${name}=x`), `${JSON.stringify(name)} is set by the service and cannot be an extra parameter`, name);
  }
  t.equal(refusal(extraParameters, 'a%20b=1'), '"a b" is not a parameter name');
  t.equal(refusal(extraParameters, '=1'), '"" is not a parameter name');
});

t.test('headerName: an RFC 9110 §5.1 token, lower-cased', async (t) => {
  t.equal(headerName('X-Upstream-Token'), 'x-upstream-token');
  t.equal(headerName("!#$%&'*+-.^_`|~09az"), "!#$%&'*+-.^_`|~09az");
  for (const raw of ['', 'x token', 'x:y', ':authority', 'x\r\ny', 'ä']) t.equal(refusal(headerName, raw), `${JSON.stringify(raw)} is not a header name`, JSON.stringify(raw));
});

t.test('headerValuePrefix: visible ASCII and inner spaces, kept as written (RFC 9110 §5.5)', async (t) => {
  for (const raw of ['Bearer ', '', 'DPoP ', 'a b  c ']) t.equal(headerValuePrefix(raw), raw, JSON.stringify(raw));
  for (const raw of [' Bearer', 'Bearer\r\nx: y', 'Bearer\t', 'Bé']) {
    t.equal(refusal(headerValuePrefix, raw), `${JSON.stringify(raw)} may hold only visible ASCII characters and inner spaces`, JSON.stringify(raw));
  }
});

t.test('scopes: RFC 6749 §3.3 scope tokens, duplicates removed', async (t) => {
  t.same(scopes('orders:read  orders:write orders:read'), ['orders:read', 'orders:write']);
  t.same(scopes('!#[]~'), ['!#[]~'], 'the edges of the allowed ranges');
  for (const bad of ['"quoted"', 'back\\slash', 'ünicode']) t.equal(refusal(scopes, `ok ${bad}`), `${JSON.stringify(bad)} is not an RFC 6749 scope token`, bad);
  t.equal(refusal(scopes, ''), 'must hold at least one value');
});
