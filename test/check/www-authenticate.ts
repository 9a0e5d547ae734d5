import t from 'tap';
import { OUTCOMES } from '../../src/check/outcomes.js';
import { wwwAuthenticate } from '../../src/check/www-authenticate.js';

const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

t.test('no challenge for the outcomes that carry none', async (t) => {
  for (const code of ['exchange_refused', 'misconfigured', 'unavailable', 'not_http', 'no_target', 'internal', 'resource_metadata', 'deadline', 'headers_too_large'] as const) {
    t.equal(wwwAuthenticate(OUTCOMES[code], METADATA, ['read']), undefined, code);
  }
});

t.test('a request without a token: a bare challenge, no error code (RFC 6750 §3.1), and the metadata (RFC 9728 §5.1)', async (t) => {
  t.equal(wwwAuthenticate(OUTCOMES.missing_token, METADATA, []), `Bearer resource_metadata="${METADATA}"`);
});

t.test('invalid_request and invalid_token name their error code and the metadata', async (t) => {
  t.equal(wwwAuthenticate(OUTCOMES.invalid_request, METADATA, []), `Bearer error="invalid_request", resource_metadata="${METADATA}"`);
  t.equal(wwwAuthenticate(OUTCOMES.invalid_token, METADATA, ['ignored']), `Bearer error="invalid_token", resource_metadata="${METADATA}"`);
});

t.test('insufficient_scope names every required scope (RFC 6750 §3)', async (t) => {
  t.equal(wwwAuthenticate(OUTCOMES.insufficient_scope, METADATA, ['orders:read', 'orders:write']), 'Bearer error="insufficient_scope", scope="orders:read orders:write"');
  t.equal(wwwAuthenticate(OUTCOMES.insufficient_scope, METADATA, ['one']), 'Bearer error="insufficient_scope", scope="one"');
});
