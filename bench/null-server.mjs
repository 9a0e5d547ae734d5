#!/usr/bin/env node
// Null ext_authz server: the baseline. Same stack as the service (@grpc/grpc-js +
// @grpc/proto-loader), loading Envoy's OFFICIAL ext_authz v3 protos from
// @grpc/grpc-js-xds/deps (every CheckRequest is fully decoded, as a do-nothing
// proto-loader server would), answering every Check with one constant OK
// CheckResponse shaped like the service's own allow answer (an `authorization`
// header of an exchanged token's length, and sub / client_id / scope metadata).
// `--minimal` answers the smallest OK CheckResponse instead (`status.code 0`
// only): the stricter baseline. Either way the HTTP/2 settings are grpc-js's
// defaults (grpc-js 1.14 sets no window of its own: Node's 65,535 bytes).
//
//   node bench/null-server.mjs [--port 0] [--workers 1] [--token-length 770] [--minimal]
// Prints `READY {"port":…,"pids":[…]}` on stdout; SIGTERM exits.
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { freePort } from './lib/ports.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    workers: { type: 'string', default: '1' },
    'token-length': { type: 'string', default: '770' },
    minimal: { type: 'boolean', default: false },
  },
});
const workers = Math.max(1, Number(values.workers));

function officialIncludeDirs() {
  const deps = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((name) => join(deps, name));
}

const SHAPED = {
  status: { code: 0 },
  ok_response: {
    headers: [{ header: { key: 'authorization', value: `Bearer ${'x'.repeat(Number(values['token-length']))}` }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  },
  dynamic_metadata: { fields: { scope: { stringValue: 'mcp:tools' }, sub: { stringValue: 'user-0' }, client_id: { stringValue: 'demo-app' } } },
};
const MINIMAL = { status: { code: 0 } };
const RESPONSE = values.minimal ? MINIMAL : SHAPED;

function serve(port) {
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: officialIncludeDirs(),
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const server = new grpc.Server();
  server.addService(definition['envoy.service.auth.v3.Authorization'], {
    Check: (_call, callback) => callback(null, RESPONSE),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve({ server, bound }))),
  );
}

if (workers > 1 && cluster.isPrimary) {
  // node:cluster: the primary owns the listening socket and hands connections round-robin to the workers.
  const port = Number(values.port) || (await freePort());
  const pids = [];
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork({ NULL_SERVER_PORT: String(port) }); // workers parse the same argv (--minimal included)
    pids.push(worker.process.pid);
    worker.on('message', (message) => {
      if (message === 'listening' && ++listening === workers) console.log(`READY ${JSON.stringify({ port, pids, workers })}`);
    });
  }
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`null-server worker ${worker.process.pid} died (${code ?? signal})`);
      process.exit(1);
    }
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 500).unref();
    cluster.disconnect(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const port = cluster.isWorker ? Number(process.env.NULL_SERVER_PORT) : Number(values.port);
  const { server, bound } = await serve(port);
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (cluster.isWorker) process.send('listening');
  else console.log(`READY ${JSON.stringify({ port: bound, pids: [process.pid], workers: 1, minimal: values.minimal })}`);
}
