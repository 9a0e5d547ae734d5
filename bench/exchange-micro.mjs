// Micro-benchmark: what one token exchange costs the service's process
// (TokenExchanger.exchange: request building, client authentication, the HTTP
// client, response processing), in CPU and wall time, for one or more builds
// of the service side by side. The token endpoint is a minimal node:http
// server in another process that answers at once, so nearly all that remains
// is the client's work and the loopback. Builds run in alternating rounds in
// one process, so a busy machine weighs on all of them alike.
//   npm run build && node bench/exchange-micro.mjs [label=DIST_DIR ...]
//   e.g. node bench/exchange-micro.mjs now=dist old=/tmp/old/dist   (AUTH=client_secret_post to change the method)
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { median } from './lib/stats.mjs';

const ROUNDS = 12;
const CALLS = 1000;
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const builds = (process.argv.length > 2 ? process.argv.slice(2) : ['now=dist']).map((arg) => {
  const [label, dir] = arg.includes('=') ? arg.split('=') : [arg, arg];
  return { label, dir: resolve(dir) };
});

const server = spawn(
  process.execPath,
  [
    '-e',
    `const body = JSON.stringify({ access_token: 'x'.repeat(770), token_type: 'Bearer', issued_token_type: '${ACCESS_TOKEN}', expires_in: 300 });
     const server = require('node:http').createServer((request, response) => {
       request.resume();
       request.on('end', () => { response.writeHead(200, { 'content-type': 'application/json' }); response.end(body); });
     });
     server.listen(0, '127.0.0.1', () => console.log(server.address().port));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((done) => server.stdout.once('data', (data) => done(Number(String(data).trim()))));
const endpoint = `http://127.0.0.1:${port}/token`;
const client = { id: 'mcp-gateway', authMethod: process.env.AUTH ?? 'client_secret_basic', secret: 'mcp-gateway-secret', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const target = {
  name: 'default', issuer: `http://127.0.0.1:${port}`, tokenEndpoint: endpoint, client, profile: 'rfc8693', audience: [], resource: ['https://upstream.example.com/api'],
  scope: undefined, requestedTokenType: undefined, subjectTokenType: ACCESS_TOKEN, actor: { source: 'none', header: undefined, token: undefined, tokenType: ACCESS_TOKEN },
  extraParams: [], requiredScopes: [], header: { name: 'authorization', prefix: 'Bearer ', remove: [] }, match: { context: ['default'], hosts: [], pathPrefixes: [], destinationPrincipals: [] },
};
// An RS256 JWT's length: only its characters matter to the request.
const subjectToken = `eyJ${'a'.repeat(97)}.${'b'.repeat(400)}.${'c'.repeat(342)}`;

for (const build of builds) {
  const { TokenExchanger } = await import(`${build.dir}/exchange/token-exchange.js`);
  const { HttpClient } = await import(`${build.dir}/oauth/http.js`);
  const { clientAuthentication } = await import(`${build.dir}/oauth/client-auth.js`);
  const { Metrics } = await import(`${build.dir}/ops/metrics.js`);
  build.http = new HttpClient({ timeoutMs: 5000, maxResponseBytes: 262144 });
  build.exchanger = new TokenExchanger(target, build.http, async () => endpoint, clientAuthentication(client, target.issuer, Date.now), new Metrics({ version: 'bench', nodeVersion: process.version }), Date.now);
  build.rounds = [];
  for (let i = 0; i < CALLS / 2; i++) await build.exchanger.exchange(subjectToken); // JIT warm-up
}
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < builds.length; i++) {
    const build = builds[(i + round) % builds.length];
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let call = 0; call < CALLS; call++) await build.exchanger.exchange(subjectToken);
    const used = process.cpuUsage(cpu);
    build.rounds.push({ cpuUs: (used.user + used.system) / CALLS, wallUs: ((performance.now() - started) * 1000) / CALLS });
  }
}
console.log(`per exchange (${client.authMethod}), median of ${ROUNDS} rounds of ${CALLS}:`);
for (const build of builds) {
  console.log(`  ${build.label.padEnd(12)} CPU ${median(build.rounds.map((r) => r.cpuUs)).toFixed(0).padStart(4)} µs   wall ${median(build.rounds.map((r) => r.wallUs)).toFixed(0).padStart(4)} µs   (${build.dir})`);
  await build.http.close();
}
server.kill();
