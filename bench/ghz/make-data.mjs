#!/usr/bin/env node
// Writes the CheckRequest ghz sends, as Envoy would fill it for
// `Authorization: Bearer <token>` (test/fixtures/envoy-client.ts built into dist-dev/, official schema):
//   <out>.json  protojson, for ghz's `data-file`
//   <out>.bin   the serialized message, for ghz's `binary-file`
//
//   node bench/ghz/make-data.mjs --token-file FILE [--out bench/ghz/check-request]
//   node bench/ghz/make-data.mjs --token TOKEN [--out …]
// (`npm run build:dev` first.)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { envoyCheckRequest, officialTypes } from '../../dist-dev/test/fixtures/envoy-client.js';

const { values } = parseArgs({
  options: {
    token: { type: 'string' },
    'token-file': { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('./check-request', import.meta.url)) },
  },
});
const token = values.token ?? (values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : undefined);
if (!token) {
  console.error('usage: node bench/ghz/make-data.mjs --token-file FILE | --token TOKEN [--out PREFIX]');
  process.exit(2);
}

export function ghzData(request) {
  // protojson writes google.protobuf.Timestamp as an RFC 3339 string.
  const copy = structuredClone(request);
  const time = copy.attributes?.request?.time;
  if (time) copy.attributes.request.time = new Date(Number(time.seconds) * 1000 + Math.floor(time.nanos / 1e6)).toISOString();
  return copy;
}

const request = envoyCheckRequest({ headers: { authorization: `Bearer ${token}` } });
const { CheckRequest } = officialTypes();
writeFileSync(`${values.out}.json`, `${JSON.stringify(ghzData(request), null, 2)}\n`);
writeFileSync(`${values.out}.bin`, CheckRequest.encode(CheckRequest.fromObject(request)).finish());
console.log(`wrote ${values.out}.json and ${values.out}.bin`);
