/**
 * `npm run check`: send one Check, as Envoy would, and print what Envoy would do.
 *
 *   npm run check -- [--address 127.0.0.1:9001] [--raw] [--header 'name: value']... [--token <jwt> | --token-file <path>]
 *
 * Never prints the token passed in. Exit 0 on any CheckResponse, 1 on a
 * transport or usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { createEnvoyClient, summarize } from './envoy-client.js';

const USAGE = `usage: npm run check -- [--address 127.0.0.1:9001] [--raw] [--header 'name: value']... [--token <jwt> | --token-file <path>]
  --address     ext_authz gRPC listener (default 127.0.0.1:9001)
  --raw         send headers as Envoy does with encode_raw_headers (header_map, raw_value bytes)
  --header      a request header, repeatable; a repeated name is sent as a repeated header
  --token       adds "authorization: Bearer <token>"
  --token-file  same, reading the token from a file (one trailing newline stripped)
  --path, --method, --host   the request line (default GET mcp.example.com/mcp)`;

function usage(problem?: string): never {
  if (problem) process.stderr.write(`${problem}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(1);
}

function parse() {
  try {
    return parseArgs({
      options: {
        address: { type: 'string', default: '127.0.0.1:9001' },
        raw: { type: 'boolean', default: false },
        header: { type: 'string', multiple: true, default: [] },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        path: { type: 'string' },
        method: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (error) {
    return usage((error as Error).message);
  }
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) usage();
  if (args.token !== undefined && args['token-file'] !== undefined) usage('give --token or --token-file, not both');

  const headers: Record<string, string[]> = {};
  // Problems name the header by position only: its value may be a credential.
  for (const [index, line] of args.header.entries()) {
    const colon = line.indexOf(':', 1); // a leading ':' belongs to a pseudo-header name
    if (colon < 0) usage(`--header #${index + 1} is not 'name: value'`);
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === '') usage(`--header #${index + 1} has no name`);
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  let token = args.token;
  if (args['token-file'] !== undefined) {
    try {
      token = readFileSync(args['token-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      usage(`cannot read --token-file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (token !== undefined) (headers.authorization ??= []).push(`Bearer ${token.trim()}`);

  const client = createEnvoyClient(args.address);
  let response;
  try {
    response = await client.check({ headers, raw: args.raw, path: args.path, method: args.method, host: args.host });
  } catch (error) {
    const { code, details } = error as { code?: number; details?: string };
    process.stderr.write(`no CheckResponse from ${args.address}: gRPC ${code ?? '?'} ${details ?? (error as Error).message}\n`);
    process.exitCode = 1;
    return;
  } finally {
    client.close();
  }

  const result = summarize(response);
  // Belt and braces: the token passed in is never printed, even if a response were to echo it.
  const secret = token?.trim();
  const out = (line = '') => process.stdout.write(`${secret ? line.split(secret).join('<your token>') : line}\n`);
  out(result.allowed ? 'ALLOWED' : 'DENIED');
  out(`  HTTP status  ${result.httpStatus ?? '(none: Envoy forwards the request upstream)'}`);
  out(`  gRPC code    ${result.grpcCode}`);
  out(`  headers Envoy applies${result.allowed ? ' to the upstream request' : ' to the denial'}:`);
  for (const [name, value] of Object.entries(result.headers)) {
    const shown = result.allowed && name === 'authorization' ? 'Bearer <exchanged token>' : value;
    const action = result.appendActions[name];
    out(`    ${name}: ${shown}${action ? `   (${action}${result.appendSet ? ', append SET' : ''})` : ''}`);
  }
  if (!result.allowed && result.body !== undefined) out(`  body  ${result.body}`);
  if (result.allowed) {
    const exchanged = result.headers.authorization?.replace(/^Bearer\s+/i, '');
    if (!exchanged) {
      out('  (no authorization header in the response)');
    } else {
      try {
        const { sub, aud, act, client_id, scope, exp } = decodeJwt(exchanged);
        out('  exchanged token claims:');
        for (const [name, value] of Object.entries({ sub, aud, act, client_id, scope, exp })) {
          if (value !== undefined) out(`    ${name}: ${JSON.stringify(value)}${name === 'exp' ? `  (${new Date(Number(value) * 1000).toISOString()})` : ''}`);
        }
      } catch {
        out('  exchanged token is not a JWT (opaque); claims not shown');
      }
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`send-check failed: ${(error as Error).message}\n`);
  process.exit(1);
});
