/** Several trusted issuers: each token is routed by `iss` to its own issuer's keys; an untrusted one is refused without a network call. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { summarize } from '../fixtures/envoy-client.js';
import { authorizationServer, bearer, EXCHANGE_CLIENT, RESOURCE, serviceEnv, startService, UPSTREAM } from '../fixtures/service.js';

t.test('two issuers side by side', async (t) => {
  const primary = await authorizationServer(t);
  const secondary = await authorizationServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'authz-issuers-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    stringify({
      mcp_resource_url: RESOURCE,
      exchange_client_id: EXCHANGE_CLIENT.id,
      exchange_client_secret: EXCHANGE_CLIENT.secret,
      exchange_resource: UPSTREAM,
      listen_address: '127.0.0.1',
      grpc_port: 0,
      http_port: 0,
      issuers: [
        { authorization_server_url: primary.issuer },
        // The second issuer accepts another audience, and its JWKS is configured rather than discovered.
        { authorization_server_url: secondary.issuer, jwks_uri: secondary.jwksUri, accepted_audiences: ['api://mcp'] },
      ],
    }),
  );
  const service = await startService(t, { CONFIG_FILE: path });

  const fromPrimary = summarize(await service.client.check(bearer(await primary.mintAccessToken({ sub: 'alice' }))));
  t.equal(fromPrimary.allowed, true, 'primary issuer token');
  // The exchange goes to the first issuer's token endpoint (the default target's issuer), whose server
  // exchanges only tokens it issued: the secondary token validates, then is refused there.
  const secondaryToken = await secondary.mintAccessToken({ sub: 'bob', aud: 'api://mcp' });
  const fromSecondary = summarize(await service.client.check(bearer(secondaryToken)));
  t.equal(primary.exchanges.at(-1)?.params.subject_token, secondaryToken, 'secondary token validated against its own keys, then sent for exchange');
  t.same([fromSecondary.httpStatus, fromSecondary.grpcCode], [403, 7]);
  const wrongAudience = summarize(await service.client.check(bearer(await secondary.mintAccessToken({ sub: 'bob' }))));
  t.same([wrongAudience.httpStatus, wrongAudience.grpcCode], [401, 16], 'each issuer has its own accepted audiences');
  const crossSigned = summarize(await service.client.check(bearer(await secondary.mintAccessToken({ sub: 'mallory', iss: primary.issuer }))));
  t.same([crossSigned.httpStatus, crossSigned.grpcCode], [401, 16], 'a token claiming the primary issuer but signed by the secondary is refused');
});

t.test('an untrusted issuer is refused without a network call', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as));
  const before = as.exchanges.length;
  // Nothing listens at this issuer: if the service tried to fetch its keys the answer would be 503, not 401.
  const result = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice', iss: 'http://127.0.0.1:9/untrusted' }))));
  t.same([result.httpStatus, result.grpcCode], [401, 16]);
  t.match(JSON.parse(result.body!), { error_description: /issuer is not trusted/ });
  t.equal(as.exchanges.length, before);
});

t.test('typ checking (RFC 9068 §4)', async (t) => {
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { ACCEPTED_TOKEN_TYPES: 'at+jwt' }));
  t.equal(summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'alice' }, { typ: 'at+jwt' })))).allowed, true, 'at+jwt');
  t.equal(summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'bob' }, { typ: 'application/AT+JWT' })))).allowed, true, 'media type form, any case');
  const plain = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'carol' }, { typ: 'JWT' }))));
  t.same([plain.httpStatus, plain.grpcCode], [401, 16], 'typ JWT refused');
  const none = summarize(await service.client.check(bearer(await as.mintAccessToken({ sub: 'dave' }, { typ: undefined }))));
  t.same([none.httpStatus, none.grpcCode], [401, 16], 'no typ refused');
});
