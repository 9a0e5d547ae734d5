import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientConfig } from '../../src/config/model.js';
import { targetConfig } from '../fixtures/target.js';
import { AuthzError } from '../../src/errors.js';
import { TokenExchanger } from '../../src/exchange/token-exchange.js';
import type { ClientAuthentication } from '../../src/oauth/client-auth.js';
import { HttpClient } from '../../src/oauth/http.js';
import { Metrics } from '../../src/ops/metrics.js';
import { ManualClock } from '../fixtures/clock.js';

const CLIENT: ClientConfig = { id: 'gateway', authMethod: 'client_secret_post', secret: 's3cret', signingKey: undefined, assertionAudience: 'token_endpoint', assertionFile: undefined, tls: undefined };
const TARGET = targetConfig({ client: CLIENT, issuer: 'http://127.0.0.1' });

/** A real loopback token endpoint: answers `answer()`, keeps every form it got. */
async function tokenEndpoint(t: Test, answer: () => [number, unknown]) {
  const forms: URLSearchParams[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      forms.push(new URLSearchParams(body));
      const [status, json] = answer();
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, forms };
}

function exchanger(t: Test, endpoint: string, authenticate: ClientAuthentication, clock = new ManualClock()) {
  const http = new HttpClient({ timeoutMs: 2000, maxResponseBytes: 65536 });
  t.teardown(() => http.close());
  return new TokenExchanger(TARGET, http, async () => endpoint, authenticate, new Metrics({ version: 'test', nodeVersion: process.version }), clock.now);
}

const post: ClientAuthentication = (_as, client, body) => {
  body.set('client_id', client.client_id);
  body.set('client_secret', 's3cret');
};

t.test('the grant goes out built by oauth4webapi, through the client, and the answer is processed', async (t) => {
  const { url, forms } = await tokenEndpoint(t, () => [200, { access_token: 'exchanged', token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 60 }]);
  const result = await exchanger(t, url, post).exchange('subject-token', undefined);
  t.same(result, { accessToken: 'exchanged', expiresIn: 60 });
  t.same([...forms[0]!], [
    ['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    ['subject_token_type', 'urn:ietf:params:oauth:token-type:access_token'],
    ['audience', 'orders-api'],
    ['subject_token', 'subject-token'],
    ['client_id', 'gateway'],
    ['client_secret', 's3cret'],
  ]);
});

t.test('a failure of our own credentials is thrown before the call, and never through the breaker', async (t) => {
  const { url, forms } = await tokenEndpoint(t, () => [503, {}]);
  let ours = false;
  const authenticate: ClientAuthentication = (as, client, body, headers) => {
    if (ours) throw new AuthzError('misconfigured', 'the client assertion file cannot be read as a JWT');
    return post(as, client, body, headers);
  };
  const subject = exchanger(t, url, authenticate);
  for (let i = 0; i < 5; i++) await t.rejects(subject.exchange('tok', undefined), { code: 'unavailable' });
  t.equal(subject.breakerOpen, true, 'five server faults open the breaker');
  ours = true;
  await t.rejects(subject.exchange('tok', undefined), { code: 'misconfigured' }, 'reported as ours, not as the open breaker');
  t.equal(forms.length, 5, 'no call was made for it');
});
