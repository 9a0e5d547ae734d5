/** The cross-field rules, one by one: each problem is one line naming the setting through the label given. */
import t from 'tap';
import type { ClientValues } from '../../src/config/client.js';
import { Problems } from '../../src/config/problems.js';
import { checkActor, checkClientMethod, checkGrpcBounds, checkHttps, checkSharedCache, checkTargetsAndIssuers } from '../../src/config/rules.js';
import { isLoopback } from '../../src/net/loopback.js';

const NO_CLIENT: ClientValues = {
  id: undefined, secret: undefined, authMethod: undefined, privateKeyFile: undefined, keyId: undefined,
  assertionAlg: undefined, assertionAudience: undefined, assertionFile: undefined, certFile: undefined, keyFile: undefined,
};
const label = (suffix: string) => `CLIENT_${suffix}`;

function lines(check: (problems: Problems) => void): string[] {
  const problems = new Problems();
  check(problems);
  return problems.lines;
}

t.test('http:// only for loopback, unless ALLOW_INSECURE_HTTP', async (t) => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]']) t.equal(isLoopback(host), true, host);
  for (const host of ['localhost.example.com', '128.0.0.1', '127.0.0.1.example.com', '10.0.0.1']) t.equal(isLoopback(host), false, host);
  t.same(lines((p) => checkHttps('http://127.0.0.1:8080/token', 'X', { allowInsecureHttp: false }, p)), []);
  t.same(lines((p) => checkHttps('https://as.example.com', 'X', { allowInsecureHttp: false }, p)), []);
  t.same(lines((p) => checkHttps('http://as.example.com', 'X', { allowInsecureHttp: true }, p)), []);
  t.same(lines((p) => checkHttps(undefined, 'X', { allowInsecureHttp: false }, p)), []);
  t.match(lines((p) => checkHttps('http://as.example.com', 'X', { allowInsecureHttp: false }, p)), [/^X: http:\/\/ is allowed only for loopback addresses/]);
});

t.test('each client authentication method names what it lacks', async (t) => {
  const never = () => false;
  t.same(lines((p) => checkClientMethod(NO_CLIENT, label, never, p)), ['CLIENT_ID: is required', 'CLIENT_SECRET: is required for client_secret_basic']);
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c', authMethod: 'client_secret_post' }, label, never, p)), ['CLIENT_SECRET: is required for client_secret_post']);
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c', authMethod: 'private_key_jwt' }, label, never, p)), ['CLIENT_PRIVATE_KEY_FILE: is required for private_key_jwt']);
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c', authMethod: 'tls_client_auth' }, label, never, p)), ['CLIENT_CERT_FILE: is required for tls_client_auth', 'CLIENT_KEY_FILE: is required for tls_client_auth']);
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c', authMethod: 'client_assertion_file' }, label, never, p)), ['CLIENT_ASSERTION_FILE: is required for client_assertion_file']);
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c', authMethod: 'none' }, label, never, p)), [], 'a public client needs only its id');
});

t.test('a setting that already has a line of its own is not also "required"', async (t) => {
  const failed = (suffix: string) => suffix === 'SECRET';
  t.same(lines((p) => checkClientMethod({ ...NO_CLIENT, id: 'c' }, label, failed, p)), []);
  t.same(lines((p) => checkClientMethod(NO_CLIENT, label, failed, p)), ['CLIENT_ID: is required'], 'only the one that failed is spared');
});

t.test('the actor source needs its own setting and no other', async (t) => {
  const name = (spec: { env: string }) => spec.env;
  type Actor = Parameters<typeof checkActor>[0];
  const actor = (values: Partial<Actor>) => lines((p) => checkActor({ actorSource: 'none', actorHeader: undefined, actorToken: undefined, tokenHeader: 'authorization', ...values }, name, p));
  t.same(actor({}), []);
  t.same(actor({ actorSource: 'header' }), ['EXCHANGE_ACTOR_HEADER: is required when the actor source is header']);
  t.same(actor({ actorSource: 'header', actorHeader: 'authorization' }), ['EXCHANGE_ACTOR_HEADER: must differ from authorization and from EXCHANGE_TOKEN_HEADER']);
  t.same(actor({ actorSource: 'header', actorHeader: 'x-up', tokenHeader: 'x-up' }), ['EXCHANGE_ACTOR_HEADER: must differ from authorization and from EXCHANGE_TOKEN_HEADER']);
  t.same(actor({ actorSource: 'static' }), ['EXCHANGE_ACTOR_TOKEN: is required when the actor source is static']);
  t.same(actor({ actorHeader: 'x-agent' }), ['EXCHANGE_ACTOR_HEADER: is only used with the actor source header']);
  t.same(actor({ actorToken: 'tok' }), ['EXCHANGE_ACTOR_TOKEN: is only used with the actor source static']);
});

t.test('names and issuers once each; DEFAULT_TARGET names a target', async (t) => {
  const named = (...values: unknown[]) => values.map((value, i) => ({ value, at: `f.yaml:${i + 1}: targets[${i}].name` }));
  t.same(lines((p) => checkTargetsAndIssuers(named('a', 'b'), [{ value: 'https://as', at: 'i0' }], 'b', p)), []);
  t.same(lines((p) => checkTargetsAndIssuers(named('a', 'a'), [], undefined, p)), ['f.yaml:2: targets[1].name: target name "a" is used twice']);
  t.same(lines((p) => checkTargetsAndIssuers(named('a'), [{ value: 'https://as', at: 'i0' }, { value: 'https://as', at: 'i1' }], undefined, p)), ['i1: issuer "https://as" is listed twice']);
  t.same(lines((p) => checkTargetsAndIssuers(named('a', 7), [], 'c', p)), ['DEFAULT_TARGET: "c" is not one of the targets (a)'], 'a name that is not a string is not listed');
});

t.test('REDIS_URL and CACHE_KEYS_FILE go together; REDIS_PASSWORD only with REDIS_URL', async (t) => {
  const cache = (values: { redisUrl?: string; cacheKeysFile?: string; redisPassword?: string }, urlFailed = false) =>
    lines((p) => checkSharedCache({ redisUrl: undefined, cacheKeysFile: undefined, redisPassword: undefined, ...values }, urlFailed, p));
  t.same(cache({}), []);
  t.same(cache({ redisUrl: 'redis://r', cacheKeysFile: '/k' }), []);
  t.same(cache({ redisUrl: 'redis://r' }), ['CACHE_KEYS_FILE: is required with REDIS_URL']);
  t.same(cache({ cacheKeysFile: '/k' }), ['CACHE_KEYS_FILE: is only used with REDIS_URL']);
  t.same(cache({ cacheKeysFile: '/k' }, true), [], 'a REDIS_URL that was given but is bad has its own line');
  t.same(cache({ redisPassword: 'pw' }), ['REDIS_PASSWORD: is only used with REDIS_URL']);
});

t.test('one whole gRPC request fits in the pending bytes', async (t) => {
  t.same(lines((p) => checkGrpcBounds({ grpcMaxPendingBytes: 1024, grpcMaxMessageBytes: 1024 }, p)), []);
  t.same(lines((p) => checkGrpcBounds({ grpcMaxPendingBytes: 1023, grpcMaxMessageBytes: 1024 }, p)), ['GRPC_MAX_PENDING_BYTES: 1023 is less than GRPC_MAX_MESSAGE_BYTES (1024); one whole request must fit']);
});
