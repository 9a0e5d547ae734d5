#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by
// package / area.   node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top 20]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where a frame's code lives, for the "by area" table. */
export function areaOf(callFrame) {
  const { functionName, url } = callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return '(program): native / unattributed';
    if (functionName === '(root)') return 'root';
    if (functionName.startsWith('RegExp:')) return 'regular expressions';
    // protobufjs compiles codecs with new Function(): `CheckRequest$decode`, `Struct$fromObject`, constructors.
    if (functionName.includes('$') || /^[A-Z][A-Za-z0-9]*$/.test(functionName)) return 'protobufjs (generated codecs)';
    return 'native (C++ bindings, builtins)';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/dist/')) return 'service code (dist/)';
  if (url.includes('/bench/')) return 'bench code';
  if (url.startsWith('node:internal/http2') || url.startsWith('node:http2')) return 'node:http2';
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'node:streams';
  if (url.startsWith('node:internal/crypto') || url.startsWith('node:crypto')) return 'node:crypto';
  if (url.startsWith('node:')) return 'node internals (other)';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg) return pkg[1];
  const dist = /\/(dist\/.+)$/.exec(url);
  if (dist) return dist[1];
  return url.replace(/^file:\/\//, '');
}

/**
 * Self time by function and by area. `skipMs`: ignore the first milliseconds
 * of the profile (start-up, module loading, warm-up) so the summary covers the load.
 */
export function summariseProfile(profile, { top = 20, skipMs = 0 } = {}) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  // Sample i covers the time until the next sample (timeDeltas[i + 1]).
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    const delta = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, delta));
  }
  const functions = new Map();
  const areas = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    totalUs += us;
    const area = areaOf(callFrame);
    if (area === 'idle') idleUs += us;
    areas.set(area, (areas.get(area) ?? 0) + us);
    const key = `${callFrame.functionName || '(anonymous)'} ${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`;
    const entry = functions.get(key) ?? { name: callFrame.functionName || '(anonymous)', location: callFrame.url ? `${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : '', area, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us, of) => (of > 0 ? (100 * us) / of : 0);
  return {
    skippedMs: skipMs,
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    idlePct: pct(idleUs, totalUs),
    topFunctions: [...functions.values()]
      .filter((entry) => entry.area !== 'idle')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ ...entry, ms: entry.us / 1000, busyPct: pct(entry.us, busyUs) })),
    ownFunctions: [...functions.values()]
      .filter((entry) => entry.area === 'service code (dist/)')
      .sort((a, b) => b.us - a.us)
      .slice(0, 10)
      .map((entry) => ({ ...entry, ms: entry.us / 1000, busyPct: pct(entry.us, busyUs) })),
    areas: [...areas.entries()]
      .filter(([area]) => area !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: us / 1000, busyPct: pct(us, busyUs) })),
  };
}

export function summariseProfileFile(file, options) {
  return summariseProfile(JSON.parse(readFileSync(file, 'utf8')), options);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const option = (name, fallback) => (process.argv.indexOf(name) > 0 ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
  const summary = summariseProfileFile(file, { top: option('--top', 20), skipMs: option('--skip-ms', 0) });
  console.log(`total ${summary.totalMs.toFixed(0)} ms, busy ${summary.busyMs.toFixed(0)} ms (idle ${summary.idlePct.toFixed(1)} %)\n`);
  console.log('self time by area (% of busy):');
  for (const { area, ms, busyPct } of summary.areas) console.log(`  ${busyPct.toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(7)} ms  ${area}`);
  console.log('\ntop functions by self time (% of busy):');
  for (const entry of summary.topFunctions) console.log(`  ${entry.busyPct.toFixed(1).padStart(5)} %  ${entry.ms.toFixed(0).padStart(7)} ms  ${entry.name}  ${entry.location}`);
}
