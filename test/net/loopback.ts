/**
 * Loopback hosts (SPEC §2: plain http:// only to these unless ALLOW_INSECURE_HTTP),
 * as the callers ask: with the `hostname` of a parsed URL, which the URL parser
 * has already normalised (lower case, IPv4 shorthand expanded, IPv6 in brackets).
 */
import t from 'tap';
import { isLoopback } from '../../src/net/loopback.js';

const hostOf = (url: string) => new URL(url).hostname;

t.test('loopback: localhost, 127.0.0.0/8 and [::1], in any spelling the URL parser normalises', async (t) => {
  for (const url of ['http://localhost:8080', 'http://LOCALHOST', 'http://127.0.0.1', 'http://127.255.255.254:1', 'http://127.1', 'http://0x7f.1', 'http://[::1]:9000', 'http://[0:0:0:0:0:0:0:1]']) {
    t.equal(isLoopback(hostOf(url)), true, `${url} → ${hostOf(url)}`);
  }
});

t.test('not loopback: other addresses, and names that merely contain a loopback one', async (t) => {
  for (const url of ['http://10.0.0.1', 'http://128.0.0.1', 'http://0.0.0.0', 'http://localhost.example.com', 'http://127.0.0.1.nip.io', 'http://sub.localhost', 'http://[::2]', 'http://[::ffff:127.0.0.1]', 'http://as.example.com']) {
    t.equal(isLoopback(hostOf(url)), false, `${url} → ${hostOf(url)}`);
  }
  t.equal(isLoopback('::1'), false, 'an IPv6 address is only recognised as URL.hostname spells it');
  t.equal(isLoopback(''), false);
});
