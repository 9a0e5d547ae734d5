// A real redis-server for the bench (Debian's package): 127.0.0.1, a free port,
// no persistence, its own process group like every other bench child.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.mjs';
import { startProcess } from './processes.mjs';

export const redisServerInstalled = () => spawnSync('redis-server', ['--version']).status === 0;

export async function startRedis(outDir, label = 'redis') {
  const port = await freePort();
  const handle = startProcess({
    name: label,
    command: 'redis-server',
    args: ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    logFile: join(outDir, 'logs', `${label}.log`),
    readyPattern: /Ready to accept connections/,
  });
  await handle.ready;
  return { handle, pid: handle.pid, port, url: `redis://127.0.0.1:${port}` };
}

/** A CACHE_KEYS_FILE with one fresh key. */
export function writeCacheKeys(outDir) {
  const file = join(outDir, 'cache-keys');
  writeFileSync(file, `bench:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return file;
}

/** One command over a fresh connection (RESP2); resolves the reply of a simple, error, integer or bulk string as text. */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks = [];
    const fail = (error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(5000, () => fail(new Error(`redis ${args[0]}: timed out`)));
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const reply = Buffer.concat(chunks);
      const lineEnd = reply.indexOf('\r\n');
      if (lineEnd < 0) return;
      const head = reply.subarray(0, lineEnd).toString();
      if (head[0] === '$') {
        const length = Number(head.slice(1));
        if (reply.length < lineEnd + 2 + length + 2) return; // more to come
        socket.end();
        resolve(reply.subarray(lineEnd + 2, lineEnd + 2 + length).toString());
      } else {
        socket.end();
        if (head[0] === '-') reject(new Error(`redis ${args[0]}: ${head.slice(1)}`));
        else resolve(head.slice(1));
      }
    });
    socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`).join('')}`);
  });
}

/**
 * Calls per command (`INFO commandstats`: { mget, set, … }), total_commands_processed
 * (`INFO stats`) and used_memory in bytes (`INFO memory`). Each INFO is itself counted.
 */
export async function redisCommandCounts(port) {
  const calls = {};
  for (const match of (await redisCommand(port, 'INFO', 'commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  const total = /^total_commands_processed:(\d+)/m.exec(await redisCommand(port, 'INFO', 'stats'));
  const used = /^used_memory:(\d+)/m.exec(await redisCommand(port, 'INFO', 'memory'));
  return { calls, total: Number(total?.[1] ?? NaN), usedMemory: Number(used?.[1] ?? NaN) };
}
