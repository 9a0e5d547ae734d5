// How busy the machine is apart from the bench's own processes: /proc/stat's
// system-wide busy CPU time, less the CPU of the processes a run accounts for.
// Other engineers' test runs share these cores; runs they disturbed are flagged.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const CLK_TCK = 100; // USER_HZ, fixed at 100 on Linux for /proc/stat

/** Busy CPU seconds of the whole machine since boot (every CPU; idle and iowait excluded). */
export function systemBusyS() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLK_TCK;
}

/** Runs above this many cores of other load are reported as contended. */
export const CONTENDED_CORES = 0.25;

/**
 * Before a measured pair: while the machine (bench idle) is busier than
 * `thresholdCores`, wait, at most `maxWaitS` here and `budget.remainingS` in
 * total over the whole bench. Returns { waitedS, otherCores }.
 */
export async function quietGate({ thresholdCores = 0.3, sampleMs = 500, maxWaitS = 10, budget }) {
  let waitedS = 0;
  for (;;) {
    const before = systemBusyS();
    const self = process.cpuUsage();
    await sleep(sampleMs);
    const selfS = (process.cpuUsage(self).user + process.cpuUsage(self).system) / 1e6;
    const otherCores = Math.max(0, systemBusyS() - before - selfS) / (sampleMs / 1000);
    if (otherCores <= thresholdCores || waitedS >= maxWaitS || budget.remainingS <= 0) return { waitedS, otherCores };
    waitedS += sampleMs / 1000;
    budget.remainingS -= sampleMs / 1000;
  }
}
