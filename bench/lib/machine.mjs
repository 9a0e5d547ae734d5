// What the bench ran on: cores, CPU model, memory, node, kernel, commit.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { loadAverage } from './proc.mjs';

function tryExec(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...options }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(root) {
  let cpuModel;
  let memTotalKiB;
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  } catch {}
  try {
    memTotalKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
  } catch {}
  const dirty = tryExec('git', ['status', '--porcelain', '--', 'src', 'protos', 'package.json'], { cwd: root });
  return {
    date: new Date().toISOString(),
    nproc: tryExec('nproc', []) ?? String(os.availableParallelism()),
    cpuModel: cpuModel ?? 'unknown',
    memTotalGiB: memTotalKiB ? memTotalKiB / 1024 / 1024 : undefined,
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: /^PRETTY_NAME="?([^"\n]+)/m.exec(tryReadFile('/etc/os-release') ?? '')?.[1],
    commit: tryExec('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }),
    srcDirty: dirty === undefined ? undefined : dirty.length > 0,
    loadAtStart: loadAverage(),
  };
}

function tryReadFile(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
