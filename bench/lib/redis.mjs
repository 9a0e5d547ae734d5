// A real redis-server for the bench (Debian's package): 127.0.0.1, a free port,
// no persistence, its own process group like every other bench child.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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
