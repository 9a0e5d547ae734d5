import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { summarize } from '../fixtures/envoy-client.js';
import { metadataUrls } from '../../src/oauth/discovery.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';

t.test('OIDC Discovery §4 first, then RFC 8414 §3.1', async (t) => {
  t.same(metadataUrls('https://as.example.com'), ['https://as.example.com/.well-known/openid-configuration', 'https://as.example.com/.well-known/oauth-authorization-server']);
  t.same(metadataUrls('https://as.example.com/realms/mesh/'), [
    'https://as.example.com/realms/mesh/.well-known/openid-configuration',
    'https://as.example.com/.well-known/oauth-authorization-server/realms/mesh',
  ]);
});

t.test('discovered from the real authorization server', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  t.equal(service.app.isReady(), true, 'endpoints discovered and keys loaded');
});

/** A FAKE metadata host: serves one document at one path, 404 elsewhere. */
async function metadataHost(t: Test, path: string, document: (issuer: string) => unknown): Promise<string> {
  const server = createServer((request, response) => {
    const body = request.url === path ? JSON.stringify(document(issuer)) : undefined;
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    response.end(body ?? '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tenant`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return issuer;
}

t.test('RFC 8414 location is used when the OIDC one is missing', async (t) => {
  const as = await authorizationServer(t);
  const issuer = await metadataHost(t, '/.well-known/oauth-authorization-server/tenant', (issuer) => ({ issuer, token_endpoint: as.tokenEndpoint, jwks_uri: as.jwksUri }));
  const service = await startService(t, serviceEnv({ issuer }));
  t.equal(service.app.isReady(), true);
  // The token's iss must be this issuer for validation; the keys are the real server's.
  const token = await as.mintAccessToken({ sub: 'alice', iss: issuer });
  const result = summarize(await service.client.check({ headers: { authorization: `Bearer ${token}` } }));
  t.equal(as.exchanges.length, 1, 'validated against the discovered JWKS, then sent to the discovered token endpoint');
  // That server only exchanges tokens it issued itself (iss = its own URL), so it refuses this one.
  t.same([result.httpStatus, result.grpcCode], [403, 7]);
});

t.test('an issuer mismatch in the metadata is a misconfiguration', async (t) => {
  const as = await authorizationServer(t);
  const issuer = await metadataHost(t, '/tenant/.well-known/openid-configuration', () => ({ issuer: 'https://elsewhere.example.com', token_endpoint: as.tokenEndpoint, jwks_uri: as.jwksUri }));
  const service = await startService(t, serviceEnv({ issuer }), { waitReady: false });
  const token = await as.mintAccessToken({ sub: 'alice', iss: issuer });
  const result = summarize(await service.client.check({ headers: { authorization: `Bearer ${token}` } }));
  t.same([result.httpStatus, result.grpcCode], [500, 13]);
  t.equal(service.app.isReady(), false);
  t.ok(service.logs.some((line) => line.level === 'error' && line.outcome === 'misconfigured'));
});

t.test('discovered endpoints over plain http off loopback are refused', async (t) => {
  const as = await authorizationServer(t);
  const issuer = await metadataHost(t, '/tenant/.well-known/openid-configuration', (issuer) => ({ issuer, token_endpoint: 'http://as.example.com/token', jwks_uri: as.jwksUri }));
  const service = await startService(t, serviceEnv({ issuer }), { waitReady: false });
  const result = summarize(await service.client.check({ headers: { authorization: `Bearer ${await as.mintAccessToken({ sub: 'a', iss: issuer })}` } }));
  t.same([result.httpStatus, result.grpcCode], [500, 13]);
});
