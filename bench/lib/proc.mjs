// Linux /proc readers: CPU time and resident memory of a process (and its descendants).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** `pid` and every live descendant (through /proc/<pid>/task/<tid>/children). */
export function processTree(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 1000) {
    const current = queue.shift();
    out.push(current);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${current}/task/${tid}/children`, 'utf8').trim();
        if (children) queue.push(...children.split(/\s+/).map(Number));
      } catch {
        // task gone
      }
    }
  }
  return out;
}

/** User + system CPU seconds used so far by `pid` and its live descendants. */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, 'utf8');
      // fields after "(comm)": state is field 3; utime 14, stime 15 (1-based)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / ticksPerSecond();
}

/** { rssKiB, hwmKiB } of one process from /proc/<pid>/status (VmRSS, VmHWM). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Sum of VmRSS over the process tree (for cluster mode). */
export function treeRssKiB(pid) {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += memoryOf(member).rssKiB;
    } catch {
      // gone
    }
  }
  return total;
}

/** 1-minute load average and the number of runnable tasks, from /proc/loadavg. */
export function loadAverage() {
  try {
    const [one, five, , running] = readFileSync('/proc/loadavg', 'utf8').split(' ');
    return { one: Number(one), five: Number(five), running };
  } catch {
    return undefined;
  }
}
