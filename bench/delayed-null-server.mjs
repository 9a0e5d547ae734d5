#!/usr/bin/env node
// The cold scenario's null ext_authz server: bench/null-server.mjs's stack
// (@grpc/grpc-js + @grpc/proto-loader, Envoy's official protos, the same OK
// answer), but each Check is answered after a settable delay, as the service
// answers after its exchange. Driven by the same loader as the service, it
// measures what a Check that sleeps costs on this machine with no service work:
// the gRPC round trip plus the wake-ups of a process that was idle.
//
//   node bench/delayed-null-server.mjs [--token-length 770]
// Prints `READY {"port":…,"control":…}`. Control API (HTTP, loopback):
//   POST /delay?ms=N   sets the delay (0: answer at once, as null-server.mjs)
//   POST /times        the handler's own times (ms, Check received → answer
//                      handed to grpc-js) since the last call
// SIGTERM exits.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const { values } = parseArgs({ options: { 'token-length': { type: 'string', default: '770' } } });

const deps = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
  includeDirs: ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((name) => join(deps, name)),
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const RESPONSE = {
  status: { code: 0 },
  ok_response: {
    headers: [{ header: { key: 'authorization', value: `Bearer ${'x'.repeat(Number(values['token-length']))}` }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  },
  dynamic_metadata: { fields: { scope: { stringValue: 'mcp:tools' }, sub: { stringValue: 'user-0' }, client_id: { stringValue: 'demo-app' } } },
};

let delayMs = 0;
let times = [];
const server = new grpc.Server();
server.addService(definition['envoy.service.auth.v3.Authorization'], {
  Check: (_call, callback) => {
    const started = performance.now();
    const answer = () => {
      if (times.length < 1_000_000) times.push(performance.now() - started);
      callback(null, RESPONSE);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  },
});
const port = await new Promise((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);

const control = createServer((request, response) => {
  const url = new URL(request.url, 'http://127.0.0.1');
  let body;
  if (request.method === 'POST' && url.pathname === '/delay') body = { delayMs: (delayMs = Number(url.searchParams.get('ms') ?? 0)) };
  else if (request.method === 'POST' && url.pathname === '/times') [body, times] = [{ times }, []];
  response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body ?? { error: 'not found' }));
});
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve));

const stop = () => {
  control.close();
  server.tryShutdown(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`READY ${JSON.stringify({ port, control: `http://127.0.0.1:${control.address().port}` })}`);
