// The local authorization server over HTTPS with a generated CA (test/fixtures/pki.ts):
// tls_client_auth (RFC 8705 §2) and mtls_endpoint_aliases (RFC 8705 §5), on 127.0.0.1 only.
import t from 'tap';
import { decodeJwt } from 'jose';
import { fetch } from 'undici';
import {
  ACCESS_TOKEN_TYPE,
  startAuthorizationServer,
  TOKEN_EXCHANGE_GRANT,
  type AuthorizationServer,
} from '../fixtures/authorization-server/index.js';
import { closeAgents, getJson, postForm, type CallingClient } from '../fixtures/as-client.js';
import { createPki, issueClientCertificate } from '../fixtures/pki.js';

const RESOURCE = 'https://mcp.example.com/mcp';
const UPSTREAM = 'https://upstream.example.com';

const pki = await createPki();
t.teardown(() => pki.remove());
t.teardown(closeAgents);

const tlsClient: CallingClient = { id: 'mcp-gateway', authMethod: 'tls_client_auth' };
const otherDnClient: CallingClient = { id: 'other-dn', authMethod: 'tls_client_auth' };
const basic: CallingClient = { id: 'gw-basic', authMethod: 'client_secret_basic', secret: 'basic-secret' };
const registrations = [
  { id: tlsClient.id, authMethod: 'tls_client_auth' as const, tlsSubjectDn: pki.client.subjectDn },
  { id: otherDnClient.id, authMethod: 'tls_client_auth' as const, tlsSubjectDn: 'CN=someone-else,O=token-exchange-authz test' },
  { id: basic.id, authMethod: basic.authMethod, secret: basic.secret },
];

/** TLS settings of a caller: trusts the test CA; presents `cert` when given. */
const trusting = { ca: pki.ca.cert };
const withCert = { ...trusting, cert: pki.client.cert, key: pki.client.key };
const withUntrustedCert = { ...trusting, cert: pki.untrustedClient.cert, key: pki.untrustedClient.key };

async function start(extra: { mtlsAlias?: boolean; ca?: boolean } = {}): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer({
    resource: RESOURCE,
    exchangeClients: registrations,
    exchangeTargets: [UPSTREAM],
    tls: { key: pki.server.key, cert: pki.server.cert, ...(extra.ca === false ? {} : { ca: pki.ca.cert }) },
    ...(extra.mtlsAlias ? { mtlsAlias: true } : {}),
  });
  t.teardown(() => as.close());
  return as;
}

const exchangeForm = async (as: AuthorizationServer): Promise<Array<[string, string]>> => [
  ['grant_type', TOKEN_EXCHANGE_GRANT],
  ['subject_token', await as.mintAccessToken({ sub: 'alice' })],
  ['subject_token_type', ACCESS_TOKEN_TYPE],
  ['audience', UPSTREAM],
];

t.test('the generated PKI', async (t) => {
  const { X509Certificate } = await import('node:crypto');
  const ca = new X509Certificate(pki.ca.cert);
  const server = new X509Certificate(pki.server.cert);
  t.ok(ca.ca);
  t.ok(server.checkIssued(ca));
  t.match(server.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.match(server.subjectAltName, /DNS:localhost/);
  t.ok(new X509Certificate(pki.client.cert).checkIssued(ca));
  t.notOk(new X509Certificate(pki.untrustedClient.cert).checkIssued(ca), 'the untrusted client is signed by another CA');
  t.equal(pki.client.subjectDn, 'CN=mcp-gateway,O=token-exchange-authz test');
  t.ok(pki.dir.length > 0);
});

t.test('HTTPS: issuer, discovery and JWKS through a custom CA', async (t) => {
  const as = await start();
  t.match(as.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
  const metadata = await getJson(`${as.issuer}/.well-known/openid-configuration`, trusting);
  t.equal(metadata.issuer, as.issuer);
  t.equal(metadata.token_endpoint, `${as.issuer}/token`);
  t.ok((metadata.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
  t.equal(metadata.tls_client_certificate_bound_access_tokens, false);
  t.ok(((await getJson(as.jwksUri, trusting)).keys as unknown[]).length > 0);
  // The certificate is valid for the host name 'localhost' too.
  t.ok(((await getJson(as.jwksUri, { ...trusting, servername: 'localhost' })).keys as unknown[]).length > 0);
  // Without the CA the certificate is not trusted.
  await t.rejects(fetch(as.jwksUri), 'default trust store refuses the test CA');
  // clientCredentialsToken works over HTTPS too.
  t.equal(decodeJwt(await as.clientCredentialsToken()).aud, RESOURCE);
});

t.test('tls_client_auth on the main listener (tls.ca given, no alias)', async (t) => {
  const as = await start();

  const ok = await postForm(as.tokenEndpoint, await exchangeForm(as), tlsClient, { tls: withCert });
  t.equal(ok.status, 200, 'a certificate from the trusted CA with the registered subject');
  t.equal(decodeJwt(ok.body.access_token as string).client_id, tlsClient.id);
  t.equal(as.exchanges.at(-1)?.clientId, tlsClient.id);

  const before = as.exchanges.length;
  const cases = {
    'no certificate': trusting,
    'a certificate from an untrusted CA': withUntrustedCert,
  };
  for (const [name, tls] of Object.entries(cases)) {
    const { status, body } = await postForm(as.tokenEndpoint, await exchangeForm(as), tlsClient, { tls });
    t.equal(status, 401, name);
    t.equal(body.error, 'invalid_client', name);
  }
  const wrongDn = await postForm(as.tokenEndpoint, await exchangeForm(as), otherDnClient, { tls: withCert });
  t.equal(wrongDn.status, 401, 'a trusted certificate whose subject is not the registered one');
  t.equal(wrongDn.body.error, 'invalid_client');
  t.equal(as.exchanges.length, before);

  // Clients that do not use certificates connect without one (certificates are requested, not required).
  const secret = await postForm(as.tokenEndpoint, await exchangeForm(as), basic, { tls: trusting });
  t.equal(secret.status, 200, 'client_secret_basic without a certificate');

  // Introspection authenticates with tls_client_auth too.
  const opaque = await as.mintOpaqueToken({ sub: 'alice' });
  const introspected = await postForm(as.introspectionEndpoint, [['token', opaque]], tlsClient, { tls: withCert });
  t.equal(introspected.status, 200);
  t.match(introspected.body, { active: true, sub: 'alice', iss: as.issuer });
  const refused = await postForm(as.introspectionEndpoint, [['token', opaque]], tlsClient, { tls: trusting });
  t.equal(refused.status, 401);
});

t.test('HTTPS without tls.ca: no client certificates, so tls_client_auth always fails', async (t) => {
  const as = await start({ ca: false });
  const { status, body } = await postForm(as.tokenEndpoint, await exchangeForm(as), tlsClient, { tls: withCert });
  t.equal(status, 401);
  t.equal(body.error, 'invalid_client');
  const secret = await postForm(as.tokenEndpoint, await exchangeForm(as), basic, { tls: trusting });
  t.equal(secret.status, 200);
});

t.test('mtls_endpoint_aliases: published, tls_client_auth only there, other methods only at the main endpoints', async (t) => {
  const as = await start({ mtlsAlias: true });
  t.match(as.mtlsTokenEndpoint, /^https:\/\/127\.0\.0\.1:\d+\/token$/);
  t.not(new URL(as.mtlsTokenEndpoint!).port, new URL(as.issuer).port, 'a separate origin');
  const metadata = await getJson(`${as.issuer}/.well-known/openid-configuration`, trusting);
  t.same(metadata.mtls_endpoint_aliases, { token_endpoint: as.mtlsTokenEndpoint, introspection_endpoint: as.mtlsIntrospectionEndpoint });
  t.equal(metadata.token_endpoint, as.tokenEndpoint, 'the conventional endpoint stays the main one');

  const atAlias = await postForm(as.mtlsTokenEndpoint!, await exchangeForm(as), tlsClient, { tls: withCert });
  t.equal(atAlias.status, 200, 'tls_client_auth at the alias');
  t.equal(as.exchanges.at(-1)?.clientId, tlsClient.id);
  t.equal(decodeJwt(atAlias.body.access_token as string).iss, as.issuer, 'same issuer behind the alias');

  const atMain = await postForm(as.tokenEndpoint, await exchangeForm(as), tlsClient, { tls: withCert });
  t.equal(atMain.status, 401, 'tls_client_auth at the main endpoint: no certificate is requested there');
  t.equal(atMain.body.error, 'invalid_client');

  for (const [name, tls] of Object.entries({ 'no certificate': trusting, 'untrusted certificate': withUntrustedCert })) {
    const { status, body } = await postForm(as.mtlsTokenEndpoint!, await exchangeForm(as), tlsClient, { tls });
    t.equal(status, 401, name);
    t.equal(body.error, 'invalid_client', name);
  }

  const secretAtAlias = await postForm(as.mtlsTokenEndpoint!, await exchangeForm(as), basic, { tls: trusting });
  t.equal(secretAtAlias.status, 401, 'client_secret_basic at the alias');
  t.match(secretAtAlias.body.error_description, /tls_client_auth clients only/);
  const secretAtMain = await postForm(as.tokenEndpoint, await exchangeForm(as), basic, { tls: trusting });
  t.equal(secretAtMain.status, 200, 'client_secret_basic at the main endpoint');

  // The aliased introspection endpoint shares the server's tokens and counts its calls.
  const before = as.introspections;
  const opaque = await as.mintOpaqueToken({ sub: 'bob' });
  const introspected = await postForm(as.mtlsIntrospectionEndpoint!, [['token', opaque]], tlsClient, { tls: withCert });
  t.match(introspected.body, { active: true, sub: 'bob' });
  t.equal(as.introspections, before + 1);

  // Key rotation rebuilds both listeners' providers.
  await as.rotateKey();
  const afterRotation = await postForm(as.mtlsTokenEndpoint!, await exchangeForm(as), tlsClient, { tls: withCert });
  t.equal(afterRotation.status, 200);
});

t.test('tls_client_auth_subject_dn: RFC 4514 matching (escapes, multi-valued RDNs, attribute order)', async (t) => {
  // Subject, most significant first: C=US / O="Acme, Inc" + OU="R&D" / CN='gw "x"'.
  const quirky = await issueClientCertificate(pki, 'quirky', '/C=US/O=Acme, Inc+OU=R&D/CN=gw "x"');
  const matching = [
    'CN=gw \\"x\\",O=Acme\\, Inc+OU=R&D,C=US',
    'cn=gw \\22x\\22,ou=R&D+o=Acme\\2C Inc,c=US',
  ];
  const notMatching = [
    'C=US,O=Acme\\, Inc+OU=R&D,CN=gw \\"x\\"', // reversed RDN order
    'CN=gw \\"x\\",O=Acme\\, Inc,C=US', // an attribute missing
    'CN=gw "y",O=Acme\\, Inc+OU=R&D,C=US',
  ];
  const dns = [...matching, ...notMatching];
  const as = await startAuthorizationServer({
    resource: RESOURCE,
    exchangeClients: dns.map((dn, i) => ({ id: `dn-${i}`, authMethod: 'tls_client_auth' as const, tlsSubjectDn: dn })),
    exchangeTargets: [UPSTREAM],
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert },
  });
  t.teardown(() => as.close());
  for (const [i, dn] of dns.entries()) {
    const { status } = await postForm(as.tokenEndpoint, await exchangeForm(as), { id: `dn-${i}`, authMethod: 'tls_client_auth' }, { tls: { ...trusting, cert: quirky.cert, key: quirky.key } });
    t.equal(status, i < matching.length ? 200 : 401, dn);
  }
});
