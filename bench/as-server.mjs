#!/usr/bin/env node
// The bench's authorization server process: the project's real oidc-provider
// server (test/fixtures/authorization-server/, built into dist-dev/) plus a small control API on
// another loopback port, so the bench can mint tokens in this process (RS256
// signing runs on libuv's thread pool, so parallel batches use both cores),
// set `exchangeDelayMs`, and read how many exchanges reached the grant handler.
//
// It also serves a bench-only RFC 8693 endpoint (`POST /fast/token`) that
// answers in microseconds with a unique token of a real exchanged token's
// length; the memory scenario points TOKEN_EXCHANGE_ENDPOINT_URL at it, because
// oidc-provider does ~500 exchanges/s here and 100,000 would take minutes.
//
// And a bench-only RFC 7662 endpoint (`POST /fast/introspect`): oidc-provider
// refuses to introspect JWT access tokens ("unsupported_token_type"), so the
// introspection scenario points INTROSPECTION_ENDPOINT_URL here; it verifies
// the token against the server's own JWKS and answers with its claims.
//
// Prints `READY {"issuer":…,"control":…,…}`; on SIGTERM prints
// `EXCHANGES <n> FAST <m> INTROSPECTIONS <k>` and exits.
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { parseArgs } from 'node:util';
import { EXCHANGE_CLIENT, RESOURCE, UPSTREAM } from './lib/constants.mjs';
import { fromDevDist } from './lib/dist.mjs';

const { startAuthorizationServer, TOKEN_EXCHANGE_GRANT } = await fromDevDist('test/fixtures/authorization-server/index.js');

const { values } = parseArgs({ options: { 'token-ttl': { type: 'string', default: '7200' } } });
const ttl = Number(values['token-ttl']);

const as = await startAuthorizationServer({
  resource: RESOURCE,
  exchangeClients: [EXCHANGE_CLIENT],
  exchangeTargets: [UPSTREAM],
  accessTokenTtl: ttl,
  exchangedTokenTtl: ttl,
});

/** One real exchange, to learn how long an exchanged token is (the null server and the fast endpoint copy it). */
async function realExchange(subjectToken) {
  const response = await fetch(as.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${EXCHANGE_CLIENT.id}:${EXCHANGE_CLIENT.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: UPSTREAM,
      subject_token: subjectToken,
    }),
  });
  const body = await response.json();
  if (typeof body.access_token !== 'string') throw new Error(`exchange failed: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}
const sample = await realExchange(await as.mintAccessToken({ sub: 'length-probe' }));
const segmentLengths = sample.split('.').map((part) => part.length);
as.exchanges.length = 0; // the probe does not count

let fastExchanges = 0;
let introspections = 0;
const jwks = createLocalJWKSet(await (await fetch(as.jwksUri)).json());

/** RFC 7662 §2.2 answer for a JWT this server signed: its claims when valid, else inactive. */
async function introspect(token) {
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer: as.issuer });
    return { active: true, token_type: 'Bearer', ...payload };
  } catch {
    return { active: false };
  }
}
/**
 * A random segment of `chars` characters, encoded as a real JWT's segments are
 * (RFC 7515 §2: unpadded base64url of whole bytes, so the last character
 * carries no stray bits): the base64url text of floor(chars × 3/4) bytes,
 * which is `chars` long for every length an encoding can have (not 4n+1).
 */
const b64 = (chars) => {
  const text = randomBytes(Math.floor((chars * 3) / 4)).toString('base64url');
  if (text.length !== chars) throw new Error(`no base64url text is ${chars} characters long`);
  return text;
};

async function mint({ count, prefix, file, concurrency = 256 }) {
  const started = performance.now();
  const tokens = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        tokens[i] = await as.mintAccessToken({ sub: `${prefix}-${i}` });
      }
    }),
  );
  writeFileSync(file, tokens.join('\n') + '\n');
  return { count, file, ms: performance.now() - started };
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => {
      body += chunk;
      if (body.length > 1_000_000) request.destroy();
    });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

const send = (response, status, body) => {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
};

// The authorization server's own time per exchange: from the request reaching
// its HTTP server to the last byte of the answer, measured in this process
// (node:http diagnostics channels), so the cold scenario can subtract exactly
// what the server spent from what a Check took.
const tokenEndpointPath = new URL(as.tokenEndpoint).pathname;
const tokenStarts = new WeakMap();
let tokenTimesMs = [];
diagnosticsChannel.subscribe('http.server.request.start', ({ request }) => {
  if (request.method === 'POST' && request.url === tokenEndpointPath) tokenStarts.set(request, performance.now());
});
diagnosticsChannel.subscribe('http.server.response.finish', ({ request }) => {
  const started = tokenStarts.get(request);
  if (started !== undefined && tokenTimesMs.length < 1_000_000) tokenTimesMs.push(performance.now() - started);
});

const control = createServer(async (request, response) => {
  try {
    const url = new URL(request.url, 'http://127.0.0.1');
    if (request.method === 'POST' && url.pathname === '/fast/token') {
      const form = new URLSearchParams(await readBody(request));
      if (form.get('grant_type') !== TOKEN_EXCHANGE_GRANT || !form.get('subject_token')) return send(response, 400, { error: 'invalid_request' });
      fastExchanges++;
      return send(response, 200, {
        access_token: segmentLengths.map(b64).join('.'),
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: ttl,
      });
    }
    if (request.method === 'POST' && url.pathname === '/fast/introspect') {
      const token = new URLSearchParams(await readBody(request)).get('token');
      if (!token) return send(response, 400, { error: 'invalid_request' });
      introspections++;
      return send(response, 200, await introspect(token));
    }
    if (request.method === 'GET' && url.pathname === '/state') {
      return send(response, 200, { exchanges: as.exchanges.length, fastExchanges, introspections, exchangeDelayMs: as.exchangeDelayMs });
    }
    if (request.method === 'POST' && url.pathname === '/token-times') {
      // Returns the token endpoint's own times (ms) since the last call, and starts a new window.
      const times = tokenTimesMs;
      tokenTimesMs = [];
      return send(response, 200, { times });
    }
    if (request.method === 'POST' && url.pathname === '/delay') {
      as.exchangeDelayMs = Number(url.searchParams.get('ms') ?? 0);
      return send(response, 200, { exchangeDelayMs: as.exchangeDelayMs });
    }
    if (request.method === 'POST' && url.pathname === '/mint') {
      const { count, prefix, file } = JSON.parse(await readBody(request));
      if (!(count > 0 && count <= 200_000) || typeof prefix !== 'string' || typeof file !== 'string') return send(response, 400, { error: 'bad mint request' });
      return send(response, 200, await mint({ count, prefix, file }));
    }
    if (request.method === 'POST' && url.pathname === '/client-credentials') {
      return send(response, 200, { token: await as.clientCredentialsToken() });
    }
    return send(response, 404, { error: 'not found' });
  } catch (error) {
    return send(response, 500, { error: String(error?.message ?? error) });
  }
});
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve));

const stop = async () => {
  console.log(`EXCHANGES ${as.exchanges.length} FAST ${fastExchanges} INTROSPECTIONS ${introspections}`);
  control.closeAllConnections();
  control.close();
  await as.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(
  `READY ${JSON.stringify({
    issuer: as.issuer,
    tokenEndpoint: as.tokenEndpoint,
    introspectionEndpoint: as.introspectionEndpoint,
    control: `http://127.0.0.1:${control.address().port}`,
    exchangedTokenLength: sample.length,
  })}`,
);
