// Child processes for the bench: each in its own process group (detached), so
// a stop kills the whole group; a registry kills whatever is left on exit.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const live = new Map(); // pid -> handle

/**
 * Starts `command args` in its own process group, with stdout and stderr
 * appended to `logFile`. When `readyPattern` is given, `ready` resolves with
 * the first stdout line matching it (or rejects on exit / timeout).
 */
export function startProcess({ name, command = process.execPath, args = [], env, cwd, logFile, readyPattern, readyTimeoutMs = 60_000 }) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  const tail = []; // last lines of output, for error messages
  const remember = (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  let exitInfo;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child.pid);
      resolve(exitInfo);
    });
    child.on('error', (error) => {
      exitInfo = { code: null, signal: null, error: error.message };
      live.delete(child.pid);
      resolve(exitInfo);
    });
  });

  let onLine = () => {};
  const ready = readyPattern
    ? new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${readyTimeoutMs} ms\n${tail.join('\n')}`)), readyTimeoutMs);
        onLine = (line) => {
          const match = readyPattern.exec(line);
          if (!match) return;
          clearTimeout(timer);
          onLine = () => {};
          resolve(match);
        };
        exited.then((info) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited before it was ready (${JSON.stringify(info)}):\n${tail.join('\n')}`));
        });
      })
    : Promise.resolve(null);
  ready.catch(() => {}); // observed by the caller when it awaits

  for (const [stream, label] of [
    [child.stdout, 'out'],
    [child.stderr, 'err'],
  ]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      log?.write(chunk);
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        remember(`[${label}] ${line}`);
        if (label === 'out') onLine(line);
      }
      if (buffered.length > 65_536) buffered = buffered.slice(-65_536);
    });
  }

  const handle = {
    name,
    pid: child.pid,
    spawnedAt: performance.now(),
    child,
    ready,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    tail: () => tail.join('\n'),
    /** Sends `signal` to the group, waits up to `timeoutMs`, then SIGKILLs the group. */
    async stop({ signal = 'SIGTERM', timeoutMs = 10_000 } = {}) {
      if (exitInfo) return exitInfo;
      signalGroup(child.pid, signal);
      let timer;
      const timedOut = await Promise.race([exited.then(() => false), new Promise((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))]);
      clearTimeout(timer);
      if (timedOut) {
        signalGroup(child.pid, 'SIGKILL');
        await exited;
      }
      // Any grandchild (cluster workers) that outlived its parent.
      signalGroup(child.pid, 'SIGKILL');
      await new Promise((resolve) => log ? log.end(resolve) : resolve());
      return exitInfo;
    },
  };
  if (child.pid) live.set(child.pid, handle);
  return handle;
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Synchronous last resort (process 'exit' handler): SIGKILL every group still registered. */
export function killAllSync() {
  for (const pid of live.keys()) signalGroup(pid, 'SIGKILL');
  live.clear();
}

/** Stops every registered process (SIGTERM, then SIGKILL). */
export async function stopAll() {
  await Promise.all([...live.values()].map((handle) => handle.stop({ timeoutMs: 5_000 })));
}

/** Runs a command to completion with a time limit; resolves { code, signal, stdout, stderr, timedOut }. */
export function runToCompletion(command, args, { timeoutMs, env, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.set(child.pid, { stop: async () => signalGroup(child.pid, 'SIGKILL') });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout = (stdout + chunk).slice(-4_000_000)));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-1_000_000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid, 'SIGKILL');
    }, timeoutMs ?? 120_000);
    const finish = (code, signal, error) => {
      clearTimeout(timer);
      live.delete(child.pid);
      resolve({ code, signal, stdout, stderr: error ? `${stderr}${error.message}` : stderr, timedOut });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (code, signal) => finish(code, signal)); // after the pipes drained
  });
}
