/**
 * `npm run demo`: the whole job on an embedded default. Starts a real local
 * authorization server (oidc-provider with an RFC 8693 grant), starts the
 * ext_authz service against it, sends Checks exactly as Envoy would, prints
 * each decision, then keeps serving. Dev tool: the service never loads it.
 *
 * DEMO_EXIT=1 exits after the checks (used by the test of this demo).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';
import { startAuthorizationServer } from './authorization-server.js';
import { createEnvoyClient, summarize, type EnvoyCheckInput } from './envoy-client.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const UPSTREAM = 'https://upstream.example.com/api';
const EXCHANGE_CLIENT = { id: 'mcp-gateway', secret: 'mcp-gateway-secret' };

const out = (line = '') => process.stdout.write(line + '\n');

async function main(): Promise<void> {
  const as = await startAuthorizationServer({ resource: RESOURCE, exchangeClients: [EXCHANGE_CLIENT], exchangeTargets: [UPSTREAM] });
  const env = {
    MCP_RESOURCE_URL: RESOURCE,
    AUTHORIZATION_SERVER_URL: as.issuer,
    CLIENT_ID: EXCHANGE_CLIENT.id,
    CLIENT_SECRET: EXCHANGE_CLIENT.secret,
    EXCHANGE_RESOURCE: UPSTREAM,
    REQUIRED_SCOPES: 'mcp:tools',
    LISTEN_ADDRESS: '127.0.0.1',
    GRPC_PORT: process.env.GRPC_PORT ?? '9001',
    HTTP_PORT: process.env.HTTP_PORT ?? '9002',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  const app = buildApp(loadConfig(env), { log: createLogger(env.LOG_LEVEL as 'warn', (line) => process.stderr.write(line)) });
  const { grpcPort, httpPort } = await app.start().catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot listen on 127.0.0.1:${env.GRPC_PORT} / :${env.HTTP_PORT} (${error.code ?? error.message}); set GRPC_PORT and HTTP_PORT to free ports`);
  });
  for (let i = 0; i < 100 && !app.isReady(); i++) await new Promise((resolve) => setTimeout(resolve, 50));

  out(`authorization server  ${as.issuer}  (oidc-provider, RFC 8693 grant, JWKS ${as.jwksUri})`);
  out(`ext_authz service     grpc 127.0.0.1:${grpcPort}   http http://127.0.0.1:${httpPort}/readyz`);
  out(`protected resource    ${RESOURCE}  →  exchanged for ${UPSTREAM}`);
  out();

  const client = createEnvoyClient(`127.0.0.1:${grpcPort}`);
  const now = Math.floor(Date.now() / 1000);
  const alice = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' });
  const expired = await as.mintAccessToken({ sub: 'bob', scope: 'mcp:tools', iat: now - 3600, exp: now - 600 });
  const noScope = await as.mintAccessToken({ sub: 'carol', scope: 'profile' });

  const cases: Array<[string, EnvoyCheckInput]> = [
    ['valid token (alice), headers map', { headers: { authorization: `Bearer ${alice}` } }],
    ['same token again, header_map raw bytes (cache hit)', { raw: true, headers: { authorization: `Bearer ${alice}` } }],
    ['no token', { headers: {} }],
    ['expired token (bob)', { headers: { authorization: `Bearer ${expired}` } }],
    ['token without the required scope (carol)', { headers: { authorization: `Bearer ${noScope}` } }],
  ];
  for (const [title, input] of cases) {
    const result = summarize(await client.check(input));
    out(`▶ ${title}`);
    out(`  ${result.allowed ? 'ALLOWED' : 'DENIED '}  http ${result.httpStatus ?? 200}  grpc ${result.grpcCode}`);
    if (result.allowed) {
      const claims = decodeJwt(result.headers.authorization!.replace(/^Bearer /, ''));
      out(`  upstream gets authorization: Bearer <exchanged token> (append_action ${result.appendActions.authorization})`);
      out(`  exchanged token claims: ${JSON.stringify({ sub: claims.sub, aud: claims.aud, act: claims.act, client_id: claims.client_id, scope: claims.scope })}`);
    } else {
      if (result.headers['www-authenticate']) out(`  www-authenticate: ${result.headers['www-authenticate']}`);
      out(`  body: ${result.body}`);
    }
    out();
  }
  const { metrics } = app;
  const [calls, hits, misses] = await Promise.all([
    metrics.value('authz_exchange_calls_total', { outcome: 'ok' }),
    metrics.value('authz_exchange_cache_hits_total'),
    metrics.value('authz_exchange_cache_misses_total'),
  ]);
  out(`token endpoint calls: ${calls}   cache hits: ${hits}   misses: ${misses}`);
  client.close();

  if (process.env.DEMO_EXIT === '1') {
    await app.close();
    await as.close();
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), 'token-exchange-authz-'));
  const tokenFile = join(dir, 'alice.jwt');
  writeFileSync(tokenFile, await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools', exp: now + 3600 }), { mode: 0o600 });
  out();
  out('Still serving. Send your own Check (another terminal, same folder):');
  out(`  npm run check -- --address 127.0.0.1:${grpcPort} --token-file ${tokenFile}`);
  out(`  npm run check -- --address 127.0.0.1:${grpcPort} --raw --header 'authorization: Bearer not-a-jwt'`);
  out('or get a real token from the authorization server first (client_credentials):');
  out(`  TOKEN=$(curl -s -u demo-app:demo-app-secret -d grant_type=client_credentials -d scope=mcp:tools \\`);
  out(`          --data-urlencode resource=${RESOURCE} ${as.tokenEndpoint} | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`);
  out(`  npm run check -- --address 127.0.0.1:${grpcPort} --token "$TOKEN"`);
  out(`Metrics: curl http://127.0.0.1:${httpPort}/metrics    Metadata: curl http://127.0.0.1:${httpPort}/.well-known/oauth-protected-resource/mcp`);
  out('Ctrl-C stops.');

  const stop = () => void app.close().then(() => as.close()).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
  else process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  process.exit(1);
});
