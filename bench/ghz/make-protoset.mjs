#!/usr/bin/env node
// Regenerates bench/ghz/ext_authz.protoset: a FileDescriptorSet of Envoy's
// official envoy/service/auth/v3/external_auth.proto and every file it imports
// (from @grpc/grpc-js-xds/deps, the same protos the project's tests use), for
// ghz, which cannot resolve Envoy's imports by itself.
//
//   node bench/ghz/make-protoset.mjs
//
// Needs protoc: `apt-get install -y protobuf-compiler` (Debian; its
// google/protobuf/*.proto come with it). protobufjs' descriptor extension was
// tried and not kept: it writes one file per package with relative type names
// and no dependency lists, which a strict descriptor linker such as ghz's rejects.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const OUT = fileURLToPath(new URL('./ext_authz.protoset', import.meta.url));
const FILE = 'envoy/service/auth/v3/external_auth.proto';
const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((name) => join(deps, name));

try {
  execFileSync('protoc', ['--include_imports', `--descriptor_set_out=${OUT}`, ...includeDirs.map((dir) => `-I${dir}`), FILE], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
  console.error('protoc not found: apt-get update && apt-get install -y protobuf-compiler');
  process.exit(1);
}

// Check: the set decodes, and every file's dependencies are in it.
const protobuf = require('protobufjs');
require('protobufjs/ext/descriptor');
const set = protobuf.descriptor.FileDescriptorSet.decode(readFileSync(OUT));
const names = new Set(set.file.map((file) => file.name));
for (const file of set.file) for (const dependency of file.dependency) if (!names.has(dependency)) throw new Error(`${file.name} imports ${dependency}, which is not in the set`);
const root = protobuf.Root.fromDescriptor(set);
root.lookupService('envoy.service.auth.v3.Authorization');
root.lookupType('envoy.service.auth.v3.CheckRequest');
console.log(`wrote ${OUT}: ${set.file.length} files (${FILE} and its imports)`);
