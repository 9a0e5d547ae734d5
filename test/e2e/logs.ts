/** SPEC §5: across every kind of decision, at the most verbose level, no token or secret reaches a log line. */
import t from 'tap';
import { startMisbehavingServer } from '../fixtures/misbehaving-server.js';
import { authorizationServer, bearer, EXCHANGE_CLIENT, serviceEnv, startService } from '../fixtures/service.js';

t.test('logs never contain a token or a secret', async (t) => {
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startService(t, serviceEnv(as, { LOG_LEVEL: 'trace', REQUIRED_SCOPES: 'mcp:tools' }));
  const viaFake = await startService(t, serviceEnv(as, { LOG_LEVEL: 'trace', TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '200' }));

  const tokens = [
    await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' }),
    await as.mintAccessToken({ sub: 'bob', scope: 'other' }),
    await as.mintAccessToken({ sub: 'blocked-user', scope: 'mcp:tools' }),
    await as.mintAccessToken({ sub: 'expired', exp: Math.floor(Date.now() / 1000) - 3600 }),
    await as.mintWithForeignKey({ sub: 'mallory' }),
    'opaque-but-secret-token-value',
  ];
  for (const token of tokens) await service.client.check(bearer(token));
  const exchanged: string[] = [];
  for (const behaviour of ['ok', 'truncated-json', 'html', 'invalid_client', 'slow'] as const) {
    fake.behaviour = behaviour;
    const response = await viaFake.client.check(bearer(await as.mintAccessToken({ sub: `user-${behaviour}` })));
    const header = response.ok_response?.headers?.[0]?.header?.value as string | undefined;
    if (header) exchanged.push(header.slice(7));
  }

  const logs = service.logText() + viaFake.logText();
  t.ok(logs.split('\n').length > 10, 'there are log lines to inspect');
  for (const token of tokens) t.equal(logs.includes(token), false, 'no inbound token');
  for (const token of exchanged) t.equal(logs.includes(token), false, 'no exchanged token');
  t.notMatch(logs, /eyJ[\w-]{10,}/, 'nothing that looks like a JWT');
  t.equal(logs.includes(EXCHANGE_CLIENT.secret), false, 'no client secret');
  t.equal(logs.includes(Buffer.from(`${EXCHANGE_CLIENT.id}:${EXCHANGE_CLIENT.secret}`).toString('base64')), false, 'no Basic credentials');
  t.ok(service.logs.some((line) => typeof line.fp === 'string' && (line.fp as string).length === 12), 'tokens are named by a short fingerprint');
});
