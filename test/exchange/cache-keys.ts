import t from 'tap';
import { ExchangeCache } from '../../src/exchange/cache.js';
import type { TokenExchanger } from '../../src/exchange/token-exchange.js';
import { Metrics } from '../../src/ops/metrics.js';
import { inboundToken } from '../../src/validation/inbound-token.js';
import type { Principal } from '../../src/validation/principal.js';
import { ManualClock } from '../fixtures/clock.js';

const clock = new ManualClock(1_800_000_000_000);
const principal: Principal = { issuer: 'https://as.example.com', subject: 'alice', subjectFingerprint: 'fp', clientId: 'app', scopes: [], expiresAt: clock.seconds + 3600 };

/** An exchanger that answers from memory and counts its calls: the cache under test is the real one. */
function exchanger(identity: string) {
  const calls: Array<string | undefined> = [];
  const fake = {
    identity,
    target: { name: identity },
    calls,
    exchange: async (_subject: string, actor: string | undefined) => {
      calls.push(actor);
      return { accessToken: `${identity}:${actor ?? '-'}:${calls.length}`, expiresIn: 600 };
    },
  };
  return fake as typeof fake & TokenExchanger;
}

t.test('(target, token, actor) each get their own entry, whatever the parts (SPEC §4)', async (t) => {
  const cache = new ExchangeCache(100, 300, clock.now, new Metrics({ version: 't', nodeVersion: 'v' }), (value) => ({ value }));
  const token = inboundToken('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln');
  // Identities shaped like the other parts of a key (a token hash; a token and an actor hash): a key built by
  // length arithmetic would give (second, no actor) and (first, the token as its own actor) one key.
  const first = exchanger('first');
  const second = exchanger(token.hash);
  const third = exchanger(`${token.hash}.${token.hash}`);
  const cases = [
    [first, undefined],
    [first, 'actor-a'],
    [first, 'actor-b'],
    // RFC 8693 §2.1 actor `subject`: the actor hash is the token hash itself.
    [first, token.value],
    [second, undefined],
    [second, 'actor-a'],
    [third, undefined],
  ] as const;
  const values = [];
  for (const [target, actor] of cases) values.push((await cache.get(token, principal, target, actor)).value);
  t.equal(new Set(values).size, cases.length, 'no two share an answer');
  t.equal(cache.size, cases.length, 'one entry each');
  for (const [i, [target, actor]] of cases.entries()) {
    const again = cache.get(token, principal, target, actor);
    t.notOk(again instanceof Promise, 'a hit, answered synchronously');
    t.equal((again as { value: string }).value, values[i]);
  }
  t.same([first.calls.length, second.calls.length, third.calls.length], [4, 2, 1], 'one exchange per key');
});
