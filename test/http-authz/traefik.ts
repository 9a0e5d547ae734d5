/**
 * envoy/traefik/dynamic.yaml. Traefik is not packaged for Debian or npm, so it is
 * not run here. What is checked instead:
 *
 * 1. every key is a field of Traefik's dynamic configuration (the yaml tags of
 *    `pkg/config/dynamic` Router, Service, ServersLoadBalancer, Server, Middleware,
 *    ForwardAuth in traefik/traefik, v2.x–v3.x), so a misspelling fails;
 * 2. the semantics the deployment relies on;
 * 3. a MODEL of forwardAuth (`pkg/middlewares/auth/forward.go`: GET to `address`
 *    without body; request headers filtered by `authRequestHeaders`; X-Forwarded-*
 *    set from the request unless `trustForwardHeader`; non-2xx relayed with headers
 *    and body; on 2xx each `authResponseHeaders` entry deleted from the request and
 *    set from the answer), driven by this file, in front of the real endpoint and a
 *    real authorization server. It is a model of that source, not Traefik.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { clone, parseYaml, readRepoFile, type Doc } from '../deploy/fixtures/repo.js';
import { authorizationServer, serviceEnv, UPSTREAM } from '../fixtures/service.js';
import { startMisbehavingServer } from '../fixtures/misbehaving-server.js';
import { startHttpAuthz } from './fixtures/service.js';

const yaml = parseYaml(readRepoFile('envoy', 'traefik', 'dynamic.yaml'), 'envoy/traefik/dynamic.yaml');
const AUTHZ_HTTP_PORT = 9003;
const OPS_PORT = 9002;
const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

/** Field names per type, from the yaml tags of traefik/traefik pkg/config/dynamic (only the types this file uses are opened). */
const FIELDS: Record<string, readonly string[]> = {
  root: ['http', 'tcp', 'udp', 'tls'],
  http: ['routers', 'services', 'middlewares', 'models', 'serversTransports'],
  router: ['entryPoints', 'middlewares', 'service', 'rule', 'ruleSyntax', 'priority', 'tls', 'observability'],
  service: ['loadBalancer', 'weighted', 'mirroring', 'failover'],
  loadBalancer: ['sticky', 'servers', 'strategy', 'healthCheck', 'passHostHeader', 'responseForwarding', 'serversTransport'],
  server: ['url', 'weight', 'preservePath'],
  middleware: ['addPrefix', 'stripPrefix', 'stripPrefixRegex', 'replacePath', 'replacePathRegex', 'chain', 'ipAllowList', 'ipWhiteList', 'headers', 'errors', 'rateLimit', 'redirectRegex', 'redirectScheme', 'basicAuth', 'digestAuth', 'forwardAuth', 'inFlightReq', 'buffering', 'circuitBreaker', 'compress', 'passTLSClientCert', 'retry', 'contentType', 'grpcWeb', 'plugin'],
  forwardAuth: ['address', 'tls', 'trustForwardHeader', 'authResponseHeaders', 'authResponseHeadersRegex', 'authRequestHeaders', 'addAuthCookiesToResponse', 'headerField', 'forwardBody', 'maxBodySize', 'preserveLocationHeader', 'preserveRequestMethod'],
};

function unknownKeys(doc: Doc): string[] {
  const out: string[] = [];
  const check = (value: Doc | undefined, type: string, path: string) => {
    for (const key of Object.keys(value ?? {})) if (!FIELDS[type]!.includes(key)) out.push(`${path}.${key} is not a field of ${type}`);
  };
  check(doc, 'root', '');
  check(doc.http, 'http', 'http');
  for (const [name, router] of Object.entries<Doc>(doc.http?.routers ?? {})) check(router, 'router', `http.routers.${name}`);
  for (const [name, service] of Object.entries<Doc>(doc.http?.services ?? {})) {
    check(service, 'service', `http.services.${name}`);
    check(service.loadBalancer, 'loadBalancer', `http.services.${name}.loadBalancer`);
    for (const [i, server] of (service.loadBalancer?.servers ?? []).entries()) check(server, 'server', `http.services.${name}.loadBalancer.servers[${i}]`);
  }
  for (const [name, middleware] of Object.entries<Doc>(doc.http?.middlewares ?? {})) {
    check(middleware, 'middleware', `http.middlewares.${name}`);
    check(middleware.forwardAuth, 'forwardAuth', `http.middlewares.${name}.forwardAuth`);
  }
  return out;
}

const portOf = (url: string) => Number(new URL(url).port || 80);

function problems(doc: Doc): string[] {
  const out = unknownKeys(doc);
  const { routers = {}, middlewares = {}, services = {} } = doc.http ?? {};
  const auth = Object.entries<Doc>(middlewares).filter(([, m]) => m.forwardAuth);
  if (auth.length !== 1) return [...out, `expected one forwardAuth middleware, found ${auth.length}`];
  const [authName, { forwardAuth }] = auth[0]!;
  if (portOf(forwardAuth.address) !== AUTHZ_HTTP_PORT) out.push(`forwardAuth.address ${forwardAuth.address} is not the HTTP authorization port ${AUTHZ_HTTP_PORT}`);
  if (forwardAuth.trustForwardHeader !== false) out.push('trustForwardHeader is not false: clients could pick the exchange target');
  const lower = (list: unknown) => (Array.isArray(list) ? list.map((h) => String(h).toLowerCase()) : []);
  if (!lower(forwardAuth.authResponseHeaders).includes('authorization')) out.push('authResponseHeaders lacks Authorization: the inbound token would go upstream');
  if (forwardAuth.authRequestHeaders !== undefined && !lower(forwardAuth.authRequestHeaders).includes('authorization')) out.push('authRequestHeaders drops Authorization');
  if (forwardAuth.forwardBody === true) out.push('forwardBody is true: the service never reads a body');
  for (const [name, router] of Object.entries<Doc>(routers)) {
    const guarded = (router.middlewares ?? []).includes(authName);
    const metadata = /PathPrefix\(`\/\.well-known\/oauth-protected-resource`\)/.test(router.rule ?? '');
    const target = services[router.service]?.loadBalancer?.servers ?? [];
    if (!services[router.service]) out.push(`router ${name}: undefined service ${router.service}`);
    if (metadata) {
      if (guarded) out.push(`router ${name}: RFC 9728 metadata must not be behind forwardAuth`);
      if (target.length === 0 || target.some((s: Doc) => portOf(s.url) !== OPS_PORT)) out.push(`router ${name}: RFC 9728 metadata must go to the ops port ${OPS_PORT}`);
      if (!(router.priority > Math.max(...Object.values<Doc>(routers).filter((r) => r !== router).map((r) => r.priority ?? 0)))) out.push(`router ${name}: needs the highest priority`);
    } else if (!guarded) out.push(`router ${name}: not behind forwardAuth`);
  }
  return out;
}

t.test('dynamic.yaml uses Traefik field names only and means what the deployment needs', async (t) => {
  t.same(problems(yaml), []);
  const mutate = (change: (doc: Doc) => void) => {
    const copy = clone(yaml);
    change(copy);
    return problems(copy).join('\n');
  };
  const fa = (d: Doc) => d.http.middlewares['token-exchange'].forwardAuth;
  const cases: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['misspelled authResponseHeaders', (d) => { fa(d).authResponseHeader = fa(d).authResponseHeaders; delete fa(d).authResponseHeaders; }, /authResponseHeader is not a field of forwardAuth/],
    ['snake_case field', (d) => { fa(d).trust_forward_header = false; }, /trust_forward_header is not a field/],
    ['misspelled router field', (d) => { d.http.routers.mcp.middleware = d.http.routers.mcp.middlewares; }, /routers\.mcp\.middleware is not a field of router/],
    ['trusting client X-Forwarded-*', (d) => (fa(d).trustForwardHeader = true), /trustForwardHeader is not false/],
    ['token not copied upstream', (d) => (fa(d).authResponseHeaders = ['X-Auth-User']), /lacks Authorization/],
    ['Authorization not sent to the service', (d) => (fa(d).authRequestHeaders = ['Cookie']), /drops Authorization/],
    ['the wrong port', (d) => (fa(d).address = 'http://token-exchange-authz:9001/'), /not the HTTP authorization port/],
    ['an unguarded router', (d) => (d.http.routers.mcp.middlewares = []), /router mcp: not behind forwardAuth/],
    ['metadata behind forwardAuth', (d) => (d.http.routers['mcp-metadata'].middlewares = ['token-exchange']), /must not be behind forwardAuth/],
    ['metadata below the catch-all', (d) => (d.http.routers['mcp-metadata'].priority = 0), /needs the highest priority/],
    ['body forwarded', (d) => (fa(d).forwardBody = true), /forwardBody/],
  ];
  for (const [name, change, pattern] of cases) t.match(mutate(change), pattern, name);
});

// ---------------------------------------------------------------------------------------------
// The forwardAuth model.

interface ClientRequest {
  method: string;
  host: string;
  uri: string;
  /** a list value is sent as that many header lines */
  headers: Record<string, string | string[]>;
}
interface Outcome {
  /** what the client got */
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** the request headers that went upstream (2xx only) */
  upstream?: Record<string, string | string[]>;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailers', 'transfer-encoding', 'upgrade'];

function get(url: string, headers: Record<string, string | string[]>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'GET', headers, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** forward.go's ServeHTTP for one request, per the middleware config in dynamic.yaml, with the address pointed at `authzUrl`. */
async function forwardAuth(config: Doc, authzUrl: string, client: ClientRequest): Promise<Outcome> {
  // writeHeader: copy (filtered by authRequestHeaders), drop hop-by-hop, then X-Forwarded-*.
  const allowed: string[] | undefined = config.authRequestHeaders?.length ? config.authRequestHeaders.map((h: string) => h.toLowerCase()) : undefined;
  const toAuth: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(client.headers)) {
    const key = name.toLowerCase();
    if (HOP_BY_HOP.includes(key)) continue;
    if (allowed && !allowed.includes(key)) continue;
    toAuth[key] = value;
  }
  const trust = config.trustForwardHeader === true;
  const fromClient = (name: string) => (trust ? [client.headers[name]].flat()[0] : undefined);
  toAuth['x-forwarded-for'] = '203.0.113.7';
  toAuth['x-forwarded-method'] = fromClient('x-forwarded-method') ?? client.method;
  toAuth['x-forwarded-proto'] = fromClient('x-forwarded-proto') ?? 'http';
  toAuth['x-forwarded-host'] = fromClient('x-forwarded-host') ?? client.host;
  toAuth['x-forwarded-uri'] = fromClient('x-forwarded-uri') ?? client.uri;
  toAuth.host = new URL(authzUrl).host;

  const answer = await get(authzUrl, toAuth);
  if (answer.status < 200 || answer.status >= 300) return { status: answer.status, headers: answer.headers, body: answer.body };

  const upstream: Record<string, string | string[]> = { ...client.headers };
  for (const name of config.authResponseHeaders ?? []) {
    const key = String(name).toLowerCase();
    delete upstream[key];
    for (const existing of Object.keys(upstream)) if (existing.toLowerCase() === key) delete upstream[existing];
    if (answer.headers[key] !== undefined) upstream[key] = answer.headers[key]!;
  }
  return { status: 200, headers: {}, body: '', upstream };
}

t.test('the forwardAuth model with this file, against the real endpoint', async (t) => {
  const config = yaml.http.middlewares['token-exchange'].forwardAuth;
  const as = await authorizationServer(t);
  const fake = await startMisbehavingServer(t);
  const service = await startHttpAuthz(t, serviceEnv(as, { REQUIRED_SCOPES: 'mcp:tools', TOKEN_EXCHANGE_ENDPOINT_URL: fake.url, AUTHORIZATION_SERVER_TIMEOUT_MS: '500' }));
  const authzUrl = `${service.url}${new URL(config.address).pathname}`;
  const alice = await as.mintAccessToken({ sub: 'alice', scope: 'mcp:tools' });
  const call = (headers: Record<string, string | string[]>, uri = '/mcp') => forwardAuth(config, authzUrl, { method: 'POST', host: 'mcp.example.com', uri, headers });

  const ok = await call({ authorization: `Bearer ${alice}`, cookie: 'session=1' });
  t.equal(ok.status, 200);
  t.match(ok.upstream?.authorization, /^Bearer exchanged-\d+$/, 'the upstream gets the exchanged token');
  t.equal(JSON.stringify(ok.upstream).includes(alice), false, 'and never the inbound one');

  const none = await call({});
  t.equal(none.status, 401);
  t.equal(none.headers['www-authenticate'], `Bearer resource_metadata="${METADATA}"`, 'the challenge reaches the client');
  t.match(JSON.parse(none.body), { error: 'missing_token' }, 'and the JSON body');

  const two = await call({ authorization: [`Bearer ${alice}`, `Bearer ${alice}`] });
  t.equal(two.status, 400, 'two Authorization lines survive authRequestHeaders → 400');
  t.equal(two.headers['www-authenticate'], `Bearer error="invalid_request", resource_metadata="${METADATA}"`);

  const scope = await call({ authorization: `Bearer ${await as.mintAccessToken({ sub: 'carol', scope: 'mcp:read' })}` });
  t.equal(scope.status, 403);
  t.equal(scope.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="mcp:tools"');

  await fake.down();
  const down = await call({ authorization: `Bearer ${await as.mintAccessToken({ sub: 'dave', scope: 'mcp:tools' })}` });
  t.equal(down.status, 503, '5xx is relayed as it is');
  t.equal(down.headers['retry-after'], '1');
  t.match(JSON.parse(down.body), { error: 'temporarily_unavailable' });
  await fake.up();

  for (const outcome of [none, two, scope, down]) t.equal(JSON.stringify(outcome).includes(alice), false);
});

t.test('the forwardAuth model: X-Forwarded-* from the client are not trusted; a second token header is handled', async (t) => {
  const config = yaml.http.middlewares['token-exchange'].forwardAuth;
  const as = await authorizationServer(t, { exchangeTargets: [UPSTREAM, 'https://search.example.com/'] });
  const path = join(mkdtempSync(join(tmpdir(), 'traefik-model-')), 'config.yaml');
  const base = serviceEnv(as);
  writeFileSync(
    path,
    stringify({
      mcp_resource_url: base.MCP_RESOURCE_URL,
      authorization_server_url: as.issuer,
      client_id: base.CLIENT_ID,
      client_secret: base.CLIENT_SECRET,
      listen_address: '127.0.0.1',
      grpc_port: 0,
      http_port: 0,
      targets: [
        { name: 'mcp', exchange_resource: UPSTREAM, match: { path_prefixes: ['/mcp'] } },
        { name: 'search', exchange_resource: 'https://search.example.com/', exchange_token_header: 'x-upstream-token', exchange_token_prefix: 'none', match: { path_prefixes: ['/search'] } },
      ],
    }),
  );
  const service = await startHttpAuthz(t, { CONFIG_FILE: path });
  const authzUrl = `${service.url}/`;
  const alice = await as.mintAccessToken({ sub: 'alice' });

  const steered = await forwardAuth(config, authzUrl, { method: 'GET', host: 'mcp.example.com', uri: '/mcp', headers: { authorization: `Bearer ${alice}`, 'x-forwarded-uri': '/search' } });
  t.equal(decodeJwt(String(steered.upstream?.authorization).replace(/^Bearer /, '')).aud, UPSTREAM, "the client's X-Forwarded-Uri does not pick the target");

  const withHeader = { ...config, authResponseHeaders: ['Authorization', 'X-Upstream-Token'] };
  const search = await forwardAuth(withHeader, authzUrl, { method: 'GET', host: 'mcp.example.com', uri: '/search?q=1', headers: { authorization: `Bearer ${alice}` } });
  t.equal(search.status, 200);
  t.equal(search.upstream?.authorization, undefined, 'listing both headers removes the inbound Authorization');
  t.equal(decodeJwt(String(search.upstream?.['x-upstream-token'])).aud, 'https://search.example.com/');

  const onlyAuthorization = await forwardAuth(config, authzUrl, { method: 'GET', host: 'mcp.example.com', uri: '/search', headers: { authorization: `Bearer ${alice}` } });
  t.equal(onlyAuthorization.upstream?.authorization, undefined, 'with Authorization listed alone, the inbound token is still removed (the answer has none)');
  t.equal(onlyAuthorization.upstream?.['x-upstream-token'], undefined, '… but the exchanged token is not copied: list its header too');
});
