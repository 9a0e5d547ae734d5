import t from 'tap';
import { resourceMetadataPaths, resourceMetadataUrl } from '../../src/ops/resource-metadata.js';

t.test('RFC 9728 §3.1 metadata URL', async (t) => {
  t.equal(resourceMetadataUrl('https://api.example.com/mcp'), 'https://api.example.com/.well-known/oauth-protected-resource/mcp');
  t.equal(resourceMetadataUrl('https://api.example.com/'), 'https://api.example.com/.well-known/oauth-protected-resource');
  t.equal(resourceMetadataUrl('https://api.example.com:8443/a/b'), 'https://api.example.com:8443/.well-known/oauth-protected-resource/a/b');
  t.same(resourceMetadataPaths('https://api.example.com/mcp'), ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']);
  t.same(resourceMetadataPaths('https://api.example.com'), ['/.well-known/oauth-protected-resource']);
});
