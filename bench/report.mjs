#!/usr/bin/env node
// Renders bench/RESULTS.md from the results JSON the bench run writes.
//   node bench/report.mjs [bench/out/results.json]
// Every ratio is service ÷ null server, paired by repetition (the two runs of a
// pair are adjacent in time), and the median of those per-pair ratios.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { modelCheck } from './lib/capacity.mjs';
import { int, mean, median, num, ratio } from './lib/stats.mjs';

const BENCH = fileURLToPath(new URL('./', import.meta.url));

/**
 * { null, service, ratio, ratios, contended, quietRatio } of `metric` over
 * interleaved runs: the median of per-rep ratios; `contended` counts pairs in
 * which either run had other load above the threshold; `quietRatio` is the
 * median over the other pairs.
 */
export function paired(runs, metric) {
  if (!Array.isArray(runs) || runs.length === 0) return undefined;
  const reps = [...new Set(runs.map((run) => run.rep))];
  const of = (target, rep) => runs.find((run) => run.target === target && run.rep === rep);
  const pairs = reps.map((rep) => ({ n: of('null', rep), s: of('service', rep) })).filter(({ n, s }) => n && s);
  const ratios = pairs.map(({ n, s }) => ratio(metric(s), metric(n)));
  const quiet = pairs.map(({ n, s }, i) => (!n.contended && !s.contended ? ratios[i] : NaN)).filter(Number.isFinite);
  return {
    null: median(runs.filter((run) => run.target === 'null').map(metric)),
    service: median(runs.filter((run) => run.target === 'service').map(metric)),
    ratio: median(ratios),
    ratios,
    pairs: pairs.length,
    contended: pairs.filter(({ n, s }) => n.contended || s.contended).length,
    quietRatio: median(quiet),
  };
}

/** `paired` of the service against the null server labelled `nullLabel` (runs of other targets left out). */
export function pairedAgainst(runs, nullLabel, metric) {
  if (!Array.isArray(runs)) return undefined;
  const two = runs.filter((run) => run.target === nullLabel || run.target === 'service').map((run) => (run.target === nullLabel ? { ...run, target: 'null' } : run));
  return paired(two, metric);
}

/** The same runs with the minimal null server standing in as "null". */
const againstMinimal = (runs) => (Array.isArray(runs) ? runs.filter((run) => run.target !== 'null').map((run) => (run.target === 'null-minimal' ? { ...run, target: 'null' } : run)) : runs);

/** Two replicas with and without the shared tier (bench/scenarios/replicas.mjs). */
export function replicasSection(r) {
  let md = `## Replicas and the shared cache (REDIS_URL)\n\n`;
  if (r?.error) return `${md}_failed: ${r.error}_\n\n`;
  if (!r?.measured) return `${md}${r?.reason ?? 'not measured'}\n\n`;
  md += `Two service processes, each with its own local cache, against one real \`redis-server\` (no persistence, loopback); the same pair without \`REDIS_URL\` for comparison. Every token is checked once on each replica (20 streams per replica): one replica after the other, or both at once.\n\n`;
  md += `| shared tier | order | tokens | Checks allowed | exchanges at the AS | exchanges per token | shared-tier errors (replica A; B) |\n| --- | --- | --- | --- | --- | --- | --- |\n`;
  const errors = (byReplica) => (byReplica ? Object.values(byReplica).map((reasons) => Object.entries(reasons).map(([reason, n]) => `${reason} ${int(n)}`).join(', ') || 'none').join('; ') : '—');
  for (const [key, e] of Object.entries(r.exchangesPerToken)) {
    const [mode, order] = key.split('-');
    md += `| ${mode} | ${order} | ${int(r.tokens)} | ${int(e.ok)} of ${int(e.checks)} | ${int(e.exchanges)} | **${num(e.perToken)}** | ${errors(e.sharedErrors)} |\n`;
  }
  md += `\nError counts are cumulative per replica process (the concurrent row includes the sequential one's). "Concurrent" sends every token to both replicas at the same moment: both miss in Redis before either has written, and each exchanges (coalescing is per process, SPEC §4b), so it is the worst case of a round-robin spread rather than its usual one.\n`;
  md += `\nA local cache hit with the tier off and on (one cached token, grpc-js loader, closed loop, 50 streams; each ratio against the null server, interleaved null / off / on):\n\n`;
  md += pairedLine('tier off', r.hit.runs.filter((run) => run.target !== 'on').map((run) => (run.target === 'off' ? { ...run, target: 'service' } : run)));
  md += pairedLine('tier on', r.hit.runs.filter((run) => run.target !== 'off').map((run) => (run.target === 'on' ? { ...run, target: 'service' } : run)));
  const l = r.latency;
  md += `\nShared hit against local hit, 1 stream, ${int(l.tokens)} tokens exchanged through replica A, then checked on replica B twice: the first pass finds each in Redis (${int(l.sharedHitsCounted)} shared hits counted by B, ${int(l.exchangesDuringSharedRun)} exchanges), the second in B's own cache.\n\n`;
  md += `| Check on replica B | p50 ms | p90 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |\n`;
  for (const [label, lat] of [['shared hit (new to B: validation, Redis GET, unseal, local fill)', l.shared], ['local hit', l.local]]) md += `| ${label} | ${num(lat.p50)} | ${num(lat.p90)} | ${num(lat.p99)} | ${num(lat.max)} |\n`;
  md += `\nThe Redis lookup itself (service \`authz_shared_cache_duration_seconds\`, mean over the shared-hit pass): ${num(l.redisLookupMeanMs, 3)} ms.\n\n`;
  if (r.cpu) md += `CPU of replica B per Check, ${int(r.cpu.tokens)} tokens exchanged through replica A, then checked on B twice at ${r.cpu.concurrency} streams: **${num(r.cpu.sharedUsPerCall, 0)} µs per shared hit** (validation of a token new to B, Redis MGET, unseal, local fill), **${num(r.cpu.localUsPerCall, 0)} µs per local hit** (${int(r.cpu.ok)} OK of ${int(2 * r.cpu.tokens)}).\n\n`;
  md += `${runTable(r.hit.runs)}\n`;
  return md;
}

/** "2 of 3 pairs contended (uncontended: 0.95×)" or ''. */
function contentionNote(p) {
  if (!p?.contended) return '';
  return `${p.contended} of ${p.pairs} pairs ran while other processes used > ${CONTENDED} cores${Number.isFinite(p.quietRatio) ? ` (uncontended pairs only: ${num(p.quietRatio)}×)` : ''}`;
}
let CONTENDED = 0.25;

const rps = (run) => run.rps;
const p99 = (run) => run.latencyMs?.p99;
const cpuPerCall = (run) => run.serverCpuUsPerCall;
/** Event-loop delay p99 less the monitor's timer resolution (the histogram records whole intervals). */
export const eldP99 = (eld) => (eld ? Math.max(0, eld.p99Ms - eld.resolutionMs) : NaN);

function verdict(measured, target, direction) {
  if (!Number.isFinite(measured)) return 'not measured';
  if (direction === '>=') return measured >= target ? '**met**' : `**missed** by ${num(target - measured, 2)} (${num((100 * (target - measured)) / target, 0)} % short)`;
  if (direction === '<=') return measured <= target ? '**met**' : `**missed** by ${num(measured - target, 2)} (${num((100 * (measured - target)) / target, 0)} % over)`;
  return measured === target ? '**met**' : '**missed**';
}

/** The targets of the issue, each { name, measured (text), value, target (text), verdict }. */
export function targets(results) {
  CONTENDED = results.contendedCores ?? CONTENDED;
  const s = results.scenarios ?? {};
  const rows = [];
  const ch = s.cacheHit;
  const add = (name, value, unit, target, direction, note = '') =>
    rows.push({ name, measured: Number.isFinite(value) ? `${num(value, 2)}${unit}` : 'not measured', target: `${direction === '>=' ? '≥' : '≤'} ${target}${unit}`, verdict: verdict(value, target, direction), note });

  const h50 = paired(ch?.h2load?.c50, rps);
  const g50 = paired(ch?.grpc?.c50, rps);
  const h1 = paired(ch?.h2load?.c1, rps);
  const g1 = paired(ch?.grpc?.c1, rps);
  const detail = (p, text) => [text, contentionNote(p)].filter(Boolean).join('; ');
  add('Cache-hit throughput, 50 streams, h2load', h50?.ratio, '×', 1.0, '>=', h50 ? detail(h50, `${int(h50.service)} vs ${int(h50.null)} rps`) : ch?.h2load?.skipped ?? '');
  add('Cache-hit throughput, 50 streams, grpc-js loader', g50?.ratio, '×', 1.0, '>=', g50 ? detail(g50, `${int(g50.service)} vs ${int(g50.null)} rps`) : '');
  add('Cache-hit throughput, 1 stream, h2load', h1?.ratio, '×', 1.0, '>=', h1 ? detail(h1, `${int(h1.service)} vs ${int(h1.null)} rps`) : ch?.h2load?.skipped ?? '');
  add('Cache-hit throughput, 1 stream, grpc-js loader', g1?.ratio, '×', 1.0, '>=', g1 ? detail(g1, `${int(g1.service)} vs ${int(g1.null)} rps`) : '');
  const p = paired(ch?.grpc?.c50, p99);
  add('p99 at 50 streams (grpc-js closed loop)', p?.ratio, '×', 1.2, '<=', p ? detail(p, `${num(p.service, 2)} vs ${num(p.null, 2)} ms`) : '');

  const cold = s.cold;
  const overhead = cold?.c1 ? cold.c1.latencyMs.p50 - cold.c1.asOwnP50Ms : NaN;
  add(
    'Cold path median overhead over the authorization server\'s own time (c=1: service p50 − token endpoint p50 measured in its process)',
    overhead,
    ' ms',
    1,
    '<=',
    cold?.direct ? `${num(cold.c1.latencyMs.p50, 2)} − ${num(cold.c1.asOwnP50Ms, 2)} ms; a direct undici exchange costs ${num(cold.direct.latencyMs.p50 - cold.direct.asOwnP50Ms, 2)} ms over the same server time; p50 − exchangeDelayMs ${cold.delayMs} ms = ${num(cold.c1.latencyMs.p50 - cold.delayMs, 2)} ms` : '',
  );
  if (cold?.herd && cold?.distinct) {
    const herdPer = cold.herd.exchanges / cold.herd.tokens;
    const distinctPer = cold.distinct.exchanges / cold.distinct.tokens;
    const exact = cold.herd.exchanges === cold.herd.tokens && cold.distinct.exchanges === cold.distinct.tokens;
    rows.push({
      name: 'Exchanges per distinct token at 200 concurrent streams',
      measured: `${num(herdPer, 3)} (herd), ${num(distinctPer, 3)} (distinct)`,
      target: 'exactly 1',
      verdict: exact ? '**met**' : `**missed** (${cold.herd.exchanges}/${cold.herd.tokens} herd, ${cold.distinct.exchanges}/${cold.distinct.tokens} distinct)`,
      note: `herd: ${cold.herd.tokens} tokens × 200 streams; distinct: ${cold.distinct.tokens} tokens × 2`,
    });
  } else rows.push({ name: 'Exchanges per distinct token at 200 concurrent streams', measured: 'not measured', target: 'exactly 1', verdict: 'not measured', note: cold?.error ? 'scenario failed' : '' });

  const mem = s.memory;
  const rssMB = mem?.rssMiBAt100k !== undefined ? (mem.rssMiBAt100k * 1024 * 1024) / 1e6 : NaN;
  add(`RSS with 100,000 cached exchanges${mem?.extrapolated ? ' (extrapolated)' : ''}`, rssMB, ' MB', 250, '<=', mem?.after ? `${num(mem.rssMiBAt100k, 1)} MiB; idle ${num((mem.baseline.rssKiB * 1024) / 1e6, 1)} MB; ${num(mem.perEntryBytes, 0)} B per cached token` : '');

  const eldRuns = (ch?.h2load?.c50?.length ? ch.h2load.c50 : ch?.grpc?.c50 ?? []).filter((run) => run.target === 'service' && run.eld);
  const eld = median(eldRuns.map((run) => eldP99(run.eld)));
  add('Event-loop delay p99 under cache-hit load', eld, ' ms', 10, '<=', eldRuns.length ? `${eldRuns[0].loader} c=50; raw histogram p99 ${num(median(eldRuns.map((run) => run.eld.p99Ms)), 2)} ms at ${eldRuns[0].eld.resolutionMs} ms resolution` : '');

  const w = s.workers;
  if (w?.measured) {
    const wr = paired(w.h2load?.c50?.length ? w.h2load.c50 : w.grpc?.c50, rps);
    const single = w.serviceProcesses < 2 ? '; the service ran as ONE process (WORKERS had no effect)' : '';
    add(`WORKERS=2 cache-hit throughput vs 2-worker null (${w.h2load?.c50?.length ? 'h2load' : 'grpc-js'})`, wr?.ratio, '×', 1.0, '>=', wr ? `${int(wr.service)} vs ${int(wr.null)} rps${single}` : '');
  } else rows.push({ name: 'WORKERS=2 throughput vs 2-worker null', measured: w?.reason ?? 'not measured', target: '≥ 1.00×', verdict: 'not measured', note: '' });
  const rep = s.replicas;
  if (rep?.measured) add('Exchanges per token, 2 replicas sharing Redis (one after the other)', rep.exchangesPerToken['on-sequential']?.perToken, '', 1.0, '<=', `without the shared tier: ${num(rep.exchangesPerToken['off-sequential']?.perToken)}`);
  const i = s.introspection;
  if (i?.measured) {
    const ir = paired(i.runs, rps);
    add(`Introspection path, cache-hit throughput (${i.loader} c=50)`, ir?.ratio, '×', 1.0, '>=', ir ? `${int(ir.service)} vs ${int(ir.null)} rps (bench introspection endpoint)` : '');
  } else rows.push({ name: 'Introspection path', measured: i?.reason ?? 'not measured', target: '—', verdict: 'not measured', note: i?.output ?? '' });
  return rows;
}

/**
 * The many-users targets, in the order and with the names of the issue's target
 * table: { name, now, measured, target, verdict, note }.
 */
export function issueTargets(results) {
  CONTENDED = results.contendedCores ?? CONTENDED;
  const s = results.scenarios ?? {};
  const rows = [];
  const add = (name, now, value, unit, target, direction, note = '') =>
    rows.push({ name, now, measured: Number.isFinite(value) ? `${num(value, 2)}${unit}` : 'not measured', target: `${direction === '>=' ? '≥' : '≤'} ${target}${unit}`, verdict: verdict(value, target, direction), note });
  const detail = (p, text) => [text, contentionNote(p)].filter(Boolean).join('; ');
  const rpsLine = (p) => (p ? detail(p, `${int(p.service)} vs ${int(p.null)} rps, per-pair ${p.ratios.map((x) => num(x)).join(', ')}`) : '');

  const mu = s.manyUsers;
  const muNull = pairedAgainst(mu?.runs, 'null', rps);
  const muMin = pairedAgainst(mu?.runs, 'null-minimal', rps);
  add(`cache hit, ${int(mu?.count ?? 10_000)} distinct users, 50 streams, grpc-js loader — against the null server`, '0.65×', muNull?.ratio, '×', 0.95, '>=', rpsLine(muNull));
  add(`cache hit, ${int(mu?.count ?? 10_000)} distinct users, 50 streams, grpc-js loader — against the minimal null server`, '0.88×', muMin?.ratio, '×', 0.95, '>=', rpsLine(muMin));
  const big = s.users100k;
  const bigNull = pairedAgainst(big?.runs, 'null', rps);
  const bigMin = pairedAgainst(big?.runs, 'null-minimal', rps);
  const bigNote = (p) => [rpsLine(p), big ? `${big.missesDuring} cache misses during the runs` : ''].filter(Boolean).join('; ');
  add(`cache hit, ${int(big?.count ?? 100_000)} distinct users — against the null server`, '—', bigNull?.ratio, '×', 0.9, '>=', bigNote(bigNull));
  add(`cache hit, ${int(big?.count ?? 100_000)} distinct users — against the minimal null server`, '—', bigMin?.ratio, '×', 0.9, '>=', bigNote(bigMin));
  const open = mu?.openLoop;
  const openP99 = pairedAgainst(open?.runs, 'null', p99);
  const openP50 = pairedAgainst(open?.runs, 'null', (run) => run.latencyMs?.p50);
  add(
    `open loop at ${open?.fraction ?? 0.9}× the null server's rate: p99`,
    'saturated',
    openP99?.ratio,
    '×',
    1.2,
    '<=',
    openP99 ? detail(openP99, `${int(open.rate)}/s, ${int(mu.count)} users; p99 ${num(openP99.service)} vs ${num(openP99.null)} ms, p50 ${num(openP50.service)} vs ${num(openP50.null)} ms`) : '',
  );
  const w = s.workers;
  const wr = w?.measured ? paired(w.h2load?.c50?.length ? w.h2load.c50 : w.grpc?.c50, rps) : undefined;
  add('`WORKERS=2` against a two-worker null server', '0.88×', wr?.ratio, '×', 1.0, '>=', wr ? `${w.h2load?.c50?.length ? 'h2load' : 'grpc-js'}: ${int(wr.service)} vs ${int(wr.null)} rps` : w?.reason ?? '');
  const mem = s.memory;
  const rssMB = mem?.rssMiBAt100k !== undefined ? (mem.rssMiBAt100k * 1024 * 1024) / 1e6 : NaN;
  add(`RSS with 100,000 cached exchanges${mem?.extrapolated ? ' (extrapolated)' : ''}`, '319 MB', rssMB, ' MB', 250, '<=', mem?.after ? `${num(mem.perEntryBytes, 0)} B per cached token; idle ${num((mem.baseline.rssKiB * 1024) / 1e6, 1)} MB` : '');
  // The cold row is the main table's (the cold scenario's own figure).
  const cold = targets(results).find((row) => row.name.startsWith('Cold path'));
  rows.push({ name: "cold Check over the authorization server's own time, 1 stream", now: '2.81 ms', measured: cold?.measured ?? 'not measured', target: '≤ 1 ms', verdict: cold?.verdict ?? 'not measured', note: cold ? 'as in the Targets table above: includes the gRPC round trip any ext_authz server pays' : '' });
  // The same overhead paired against a null ext_authz server that waits as long (the split's rounds), as every other row is paired.
  const split = s.cold?.split;
  const delay = split?.delays?.[0];
  const net = split ? split.table.service[delay].overhead - split.table.null[delay].overhead : NaN;
  add(
    "cold Check over the authorization server's own time, 1 stream — less the null ext_authz server's round trip at the same delay",
    '—',
    net,
    ' ms',
    1,
    '<=',
    split ? `"The overhead at 1 stream, taken apart": service chain ${num(split.table.service[delay].overhead)} − null chain ${num(split.table.null[delay].overhead)} ms at ${delay} ms (medians over ${split.rounds} alternating rounds)` : '',
  );
  const ch = s.cacheHit;
  const h = pairedAgainst(againstMinimal(ch?.h2load?.c50), 'null', rps);
  const g = pairedAgainst(againstMinimal(ch?.grpc?.c50), 'null', rps);
  add("one token, 50 streams, against a minimal-answer null server with Node's default window — h2load", '0.79×', h?.ratio, '×', 0.95, '>=', h ? rpsLine(h) : ch?.h2load?.skipped ?? '');
  add("one token, 50 streams, against a minimal-answer null server with Node's default window — grpc-js loader", '—', g?.ratio, '×', 0.95, '>=', rpsLine(g));
  return rows;
}

function runTable(runs, { showEld = false } = {}) {
  if (!runs?.length) return '_no runs_\n';
  const header = ['rep', 'target', 'loader', 'rps', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU µs/call', 'loader CPU µs/call', 'not OK', 'errors', 'other load (cores)'];
  if (showEld) header.push('ELD p99 ms (raw)');
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const run of runs) {
    const isH2 = run.loader === 'h2load';
    const l = run.latencyMs ?? {};
    const notOk = isH2 ? '—' : Object.values(run.notOk ?? {}).reduce((a, b) => a + b, 0);
    const errors = isH2 ? run.failed + run.errored + run.timeout : Object.values(run.errors ?? {}).reduce((a, b) => a + b, 0) + (run.unfinished ?? 0) + (run.dropped ?? 0);
    const cells = [
      run.rep ?? '',
      run.target,
      `${run.loader}${run.mode === 'open' ? ` open ${int(run.rate)}/s` : ` c=${run.concurrency ?? ''}`}`,
      int(run.rps),
      isH2 ? `mean ${num(l.mean)}` : num(l.p50),
      isH2 ? '—' : num(l.p90),
      isH2 ? '—' : num(l.p99),
      num(l.max),
      `${isH2 ? '≈' : ''}${num(run.serverCpuUsPerCall, 0)}`,
      Number.isFinite(run.loaderCpuUsPerCall) ? num(run.loaderCpuUsPerCall, 0) : '—',
      notOk,
      errors,
      `${num(run.otherCores, 2)}${run.contended ? ' ⚠' : ''}`,
    ];
    if (showEld) cells.push(run.eld ? `${num(eldP99(run.eld))} (${num(run.eld.p99Ms)})` : '—');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

function pairedLine(label, runs) {
  const r = paired(runs, rps);
  const l = paired(runs, p99);
  const c = paired(runs, cpuPerCall);
  if (!r) return '';
  const parts = [`rps ${int(r.service)} / ${int(r.null)} = **${num(r.ratio)}×** (per-pair ${r.ratios.map((x) => num(x)).join(', ')}${r.contended ? `; ${contentionNote(r)}` : ''})`];
  if (Number.isFinite(l?.ratio)) parts.push(`p99 ${num(l.service)} / ${num(l.null)} ms = **${num(l.ratio)}×**`);
  if (Number.isFinite(c?.ratio)) parts.push(`server CPU per call ${num(c.service, 0)} / ${num(c.null, 0)} µs = **${num(c.ratio)}×**`);
  return `- ${label}: ${parts.join('; ')}\n`;
}

/** {@link pairedLine} against the minimal null server, when the runs have one. */
function minimalLine(label, runs) {
  return runs?.some((run) => run.target === 'null-minimal') ? pairedLine(label, againstMinimal(runs)) : '';
}

function verificationTable(verification) {
  if (!verification) return '';
  const lines = ['| target | HTTP status | grpc-status | decoded CheckResponse (official schema) | request / response bytes |', '| --- | --- | --- | --- | --- |'];
  for (const [target, v] of Object.entries(verification)) {
    const c = v.check;
    const decoded = c ? `status.code ${c.grpcCode}, ${c.allowed ? 'OK' : 'denied'}; headers: ${c.headerNames.join(', ') || '—'} (authorization: ${c.authorizationHeader ? 'Bearer …' : 'absent'}, ${c.authorizationAppendAction ?? 'no append_action'}); dynamic_metadata: ${c.dynamicMetadataKeys.join(', ') || '—'}` : v.decodeError ?? 'not decoded';
    lines.push(`| ${target} | ${v.httpStatus} | ${v.grpcStatus} | ${decoded} | ${v.requestBytes} / ${v.responseBytes} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** What the profile and the other sections say about the misses, with this run's figures. */
function missesSection(results) {
  const s = results.scenarios;
  const area = (side, name) => s.profile?.[side]?.summary?.areas?.find((a) => a.area === name)?.busyPct;
  const lines = [];
  if (s.profile?.service?.summary && s.profile?.null?.summary) {
    const protobuf = (area('null', 'protobufjs (generated codecs)') ?? 0) + (area('null', 'protobufjs') ?? 0);
    lines.push(
      `- **Throughput.** In the CPU profile of the cache-hit path (below) the service spent ${num(area('service', 'service code (dist/)'), 1)} % of its busy time in its own code, ${num(area('service', 'node:crypto'), 1)} % hashing the token (the cache key) and ${num(area('service', 'GC'), 1)} % in GC; the null server spent ${num(protobuf, 1)} % in protobufjs and ${num(area('null', 'GC'), 1)} % in GC. Both spend most of their time in node:http2 and grpc-js (service ${num((area('service', 'node:http2') ?? 0) + (area('service', '@grpc/grpc-js') ?? 0), 1)} %, null ${num((area('null', 'node:http2') ?? 0) + (area('null', '@grpc/grpc-js') ?? 0), 1)} %). CPU per call in the profile: service ${num(s.profile.service.run?.serverCpuUsPerCall, 0)} µs, null ${num(s.profile.null.run?.serverCpuUsPerCall, 0)} µs. Where a rate ratio is below 1 while the CPU-per-call ratio is near 1, the service did not do more work per call; the HTTP/2 window section measures how much of the gap at 50 streams the 4 MiB window accounts for.`,
    );
  }
  const one = s.profile?.oneTokenGrpc?.service ?? s.profile?.service;
  const many = s.profile?.manyUsers?.service;
  if (one?.summary && many?.summary) {
    // µs per call of each area in each profile (share of busy time × the run's CPU per call), largest growth first.
    const perArea = (k) => new Map(k.summary.areas.map((a) => [a.area, (a.busyPct / 100) * k.run.serverCpuUsPerCall]));
    const [a1, aN] = [perArea(one), perArea(many)];
    const growth = [...new Set([...a1.keys(), ...aN.keys()])].map((area) => ({ area, us: (aN.get(area) ?? 0) - (a1.get(area) ?? 0) })).sort((x, y) => y.us - x.us);
    const nullMany = s.profile.manyUsers.null?.run?.serverCpuUsPerCall;
    lines.push(
      `- **Many users.** Server CPU per call in the profiles: one token ${num(one.run.serverCpuUsPerCall, 0)} µs, ${int(s.profile.manyUsers.users)} users ${num(many.run.serverCpuUsPerCall, 0)} µs${Number.isFinite(nullMany) ? ` (null server under the same many-users load: ${num(nullMany, 0)} µs)` : ''}; the areas that grew most from one token to many users: ${growth.slice(0, 4).map((g) => `${g.area} ${g.us >= 0 ? '+' : ''}${num(g.us, 1)} µs`).join(', ')} (section "CPU profiles side by side").`,
    );
  }
  if (s.memory?.after) {
    const { baseline, after, count } = s.memory;
    const answerBytes = after.heap && baseline.heap ? (after.heap.external - baseline.heap.external) / count : NaN;
    lines.push(`- **Memory.** The "Memory" section gives the split: the idle process, V8's heap, and ${Number.isFinite(answerBytes) ? `about ${num(answerBytes, 0)} bytes` : 'the bytes'} per token of exchanged token and answer (V8's external memory, where the slabs are, grew by that much).`);
  }
  if (s.cold?.c1?.serviceCheckMeanMs) lines.push('- **Cold path.** The "Cold path" section splits the overhead into the gRPC round trip, the service\'s own work around the exchange and its HTTP client.');
  return lines.length ? `### Where the misses come from\n\n${lines.join('\n')}\n\n` : '';
}

/** The cold overhead taken apart (bench/scenarios/cold.mjs `split`). */
function coldSplitSection(split) {
  const t = split.table;
  const [d, zero] = split.delays;
  let md = `### The overhead at 1 stream, taken apart\n\n`;
  md += `Three chains, ${split.calls} sequential calls each, at exchangeDelayMs ${d} ms and 0 ms, in ${split.rounds} round${split.rounds === 1 ? '' : 's'} that alternate chains and delays (so the machine's drifting load falls on all alike); each figure is the median over the rounds of (the chain's p50 − its server's own p50, measured inside that server's process). The null chain is the same grpc-js loader against a null ext_authz server (\`bench/delayed-null-server.mjs\`) that answers after the same delay, with no service work.\n\n`;
  md += `| chain | overhead at ${d} ms, ms | per round | overhead at ${zero} ms, ms | per round | server CPU µs per call, pooled (${d} ms / ${zero} ms) |\n| --- | --- | --- | --- | --- | --- |\n`;
  const rounds = (cell) => cell.overheads.map((value) => num(value)).join(', ');
  for (const [chain, label] of [
    ['direct', 'undici client → token endpoint (HTTP client and loopback)'],
    ['null', 'loader → null ext_authz server (gRPC round trip, no service work)'],
    ['service', 'loader → service → token endpoint (everything)'],
  ]) {
    const cpu = chain === 'direct' ? '—' : `${num(t[chain][d].cpuUsPerCall, 0)} / ${num(t[chain][zero].cpuUsPerCall, 0)}`;
    md += `| ${label} | ${num(t[chain][d].overhead)} | ${rounds(t[chain][d])} | ${num(t[chain][zero].overhead)} | ${rounds(t[chain][zero])} | ${cpu} |\n`;
  }
  const own = (delay) => t.service[delay].overhead - t.null[delay].overhead - t.direct[delay].overhead;
  const spread = (cell) => Math.max(...cell.overheads) - Math.min(...cell.overheads);
  const remainder = (delay) => `${num(own(delay))} ms${Math.abs(own(delay)) < spread(t.service[delay]) ? ` (within the service chain's spread over the rounds, ${num(spread(t.service[delay]))} ms)` : ''}`;
  md += `\nRead as: at ${d} ms the service chain's ${num(t.service[d].overhead)} ms less the gRPC round trip and loader (the null chain, ${num(t.null[d].overhead)} ms) and the HTTP client and loopback (the direct chain, ${num(t.direct[d].overhead)} ms) leaves the service's own work: ${remainder(d)}. `;
  md += `At ${zero} ms: ${num(t.service[zero].overhead)} − ${num(t.null[zero].overhead)} − ${num(t.direct[zero].overhead)} = ${remainder(zero)}. `;
  md += `What a chain pays at ${d} ms and not at ${zero} ms (service ${num(t.service[d].overhead - t.service[zero].overhead)} ms, null ${num(t.null[d].overhead - t.null[zero].overhead)} ms, direct ${num(t.direct[d].overhead - t.direct[zero].overhead)} ms) is the cost of waking processes that slept through the delay: the machine's, not work of the code. `;
  md += `Failed calls: ${['direct', 'null', 'service'].map((chain) => t[chain][d].failures + t[chain][zero].failures).reduce((a, b) => a + b, 0)}. Other load on the machine during the loader runs: ${num(split.otherCores, 2)} cores (median; a run above ${CONTENDED} cores counts as contended).\n\n`;
  return md;
}

/** Where a cold Check's CPU goes in the service (bench/scenarios/cold.mjs `profileCold`). */
function coldProfileSection(p) {
  if (p.error) return `### CPU profile of a cold Check\n\n_failed: ${p.error}_\n\n`;
  let md = `### CPU profile of a cold Check\n\nA fresh service with \`--cpu-prof\`, ${int(p.checks)} Checks at 1 stream with a new token each (${int(p.ok)} OK, p50 ${num(p.p50)} ms), exchangeDelayMs as above, after a first run of as many new tokens that warms the JIT; only the second run's samples count. ${num(p.cpuUsPerCall, 0)} µs of CPU per Check (from /proc, over the same run: every thread, so also the profiler's sampling thread and libuv's pool, where WebCrypto checks the RS256 signature; the table counts the main thread only). Each sample goes to the frame nearest the leaf that belongs to one of these owners, so undici's socket writes count as undici and the RS256 verification called by jose as JWT validation:\n\n`;
  md += `| owner | main-thread µs per Check (sampled) |\n| --- | --- |\n`;
  for (const { owner, usPerCheck } of p.owners) md += `| ${owner} | ${num(usPerCheck, 0)} |\n`;
  md += `\nTop functions by self time: ${p.summary.topFunctions.slice(0, 8).map((f) => `\`${f.name || '(anonymous)'}\` ${num(f.busyPct, 1)} %`).join(', ')}. Profile: \`${p.file.replace(/^.*\/bench\//, 'bench/')}\`.\n\n`;
  return md;
}

function profileSection(p) {
  if (!p) return '_not run_\n';
  if (p.error) return `_failed: ${p.error}_\n`;
  let out = `Load: ${p.loader}, ${p.seconds} s after a 1 s warm-up; samples before the load (start-up, module loading, first exchange, warm-up) are left out. Summaries by \`bench/cpuprofile-summary.mjs\`; profiles in \`bench/out/prof/\`.\n\n`;
  for (const kind of ['service', 'null']) {
    const k = p[kind];
    if (!k?.summary) {
      out += `**${kind}**: ${k?.error ?? 'no profile'}\n\n`;
      continue;
    }
    const sm = k.summary;
    out += `**${kind === 'service' ? 'Service' : 'Null server'}** (${int(k.run.rps)} rps during the profile, ≈${num(k.run.serverCpuUsPerCall, 0)} µs CPU per call; busy ${int(sm.busyMs)} ms of ${int(sm.totalMs)} ms, idle ${num(sm.idlePct, 1)} %)\n\n`;
    out += '| self time by area | % of busy |\n| --- | --- |\n';
    for (const area of sm.areas.slice(0, 12)) out += `| ${area.area} | ${num(area.busyPct, 1)} |\n`;
    out += '\n| top functions by self time | where | % of busy |\n| --- | --- | --- |\n';
    for (const f of sm.topFunctions.slice(0, 15)) out += `| \`${f.name}\` | ${f.location || '(native / generated)'} | ${num(f.busyPct, 1)} |\n`;
    if (kind === 'service' && sm.ownFunctions?.length) {
      out += '\n| the service\'s own functions (dist/) by self time | where | % of busy |\n| --- | --- | --- |\n';
      for (const f of sm.ownFunctions) out += `| \`${f.name}\` | ${f.location} | ${num(f.busyPct, 1)} |\n`;
    }
    out += '\n';
  }
  return out;
}

/** Open loop at a fraction of the null server's closed-loop rate, many users (bench/scenarios/many-users.mjs). */
/** The many-users runs again with the 50 streams over two loader processes (not an issue row: the rows keep the issue's one loader). */
function twoLoadersSection(runs) {
  let md = `### The same 50 streams over two loader processes\n\nTwo grpc-js loader processes at once, 25 streams each, each on its own HTTP/2 connection, cycling through the same tokens. Rates and calls add up; each latency percentile is the higher of the two loaders'. One loader process holds every stream on one connection and is itself one Node process on the same two cores: these runs show what the servers sustain when it is not the loader that sets the rate.\n\n`;
  md += pairedLine('grpc-js loader ×2, closed loop, 2 × 25 streams', runs);
  md += minimalLine('the same, against the minimal null server', runs);
  return `${md}\n${runTable(runs)}\n`;
}

function openLoopSection(mu) {
  const o = mu.openLoop;
  let md = `### Open loop at ${o.fraction}× the null server's closed-loop rate\n\n${int(o.rate)} Checks/s on a fixed schedule (${o.fraction} × the null server's median ${int(o.nullRps)} rps above), cycling through the same ${int(mu.count)} tokens; latency from the scheduled send time, so a target that falls behind shows its queue. Null, minimal null and service in one rotation.\n\n`;
  for (const label of ['null', 'null-minimal']) {
    const l = pairedAgainst(o.runs, label, p99);
    const m = pairedAgainst(o.runs, label, (run) => run.latencyMs?.p50);
    if (l) md += `- against the ${label === 'null' ? 'null server' : 'minimal null server'}: p99 ${num(l.service)} / ${num(l.null)} ms = **${num(l.ratio)}×** (per-pair ${l.ratios.map((x) => num(x)).join(', ')}); p50 ${num(m.service)} / ${num(m.null)} ms = **${num(m.ratio)}×**\n`;
  }
  // A latency tail no longer than the loader's own lateness in sending is the loader's, not the target's.
  const lagged = o.runs.filter((run) => run.sendLagMs);
  if (lagged.length) md += `- the loader's own lateness in sending (send time − scheduled time), p99 per run: ${lagged.map((run) => `${run.target} ${num(run.sendLagMs.p99)} ms`).join(', ')}\n`;
  return `${md}\n${runTable(o.runs)}\n`;
}

/** 100,000 distinct cached users (bench/scenarios/users-100k.mjs). */
function users100kSection(big) {
  let md = `## ${int(big?.count ?? 100_000)} distinct users\n\n`;
  if (big?.error) return `${md}_failed: ${big.error}_\n\n`;
  if (!big) return `${md}not run\n\n`;
  md += `A service of its own (as shipped, LOG_LEVEL=info, EXCHANGE_CACHE_MAX=${int(big.cacheMax)}) was filled with ${int(big.count)} distinct real RS256 tokens through the bench's fast exchange endpoint (as in the memory scenario): ${int(big.warm.ok)} OK in ${num(big.warm.seconds, 1)} s, ${int(big.warm.exchanges)} exchanges, ${num(big.warm.serverCpuUsPerCall, 0)} µs of service CPU per Check (each a new token: validation, exchange, cache fill); VmRSS after the runs ${num((big.rssKiBAfter * 1024) / 1e6, 1)} MB. Then closed loop, 50 streams, cycling through every token; the null servers got the same ${int(big.count)} request bodies. Cache misses during the measured runs (service /metrics): **${big.missesDuring}**.\n\n`;
  md += pairedLine('against the null server', big.runs);
  md += minimalLine('against the minimal null server', big.runs);
  return `${md}\n${runTable(big.runs)}\n`;
}

/** The capacity model (docs/capacity.md) against the replicas scenario's measured point, from this run's figures. */
function capacitySection(results) {
  let md = `## Capacity model check\n\n`;
  const check = modelCheck(results);
  if (!check) return `${md}not measured (the replicas scenario did not run its capacity point)\n\n`;
  const { point: pt, coefficients: c, rows } = check;
  md += `The model of [\`docs/capacity.md\`](../docs/capacity.md) with this run's coefficients, against one measured point: ${pt.replicas} fresh replicas sharing one redis-server, warmed (the cache-hit token for 2 s, then 100 other new tokens through both), each driven by its own grpc-js loader (closed loop, 25 streams) for ${num(pt.windowS, 1)} s through the same ${int(pt.users)} new tokens (replica B starting half-way through the list). Inputs to the model: R = ${pt.replicas}, U = ${int(pt.users)}, Q = the measured ${int(pt.checksPerS)} checks/s, L = the window (each token is new when it opens). Measured from outside the service: Checks answered by the loaders (${int(pt.ok)} OK of ${int(pt.checks)}), CPU of both replica processes from /proc, Redis \`INFO commandstats\` / \`total_commands_processed\` (${int(pt.redis.mget)} MGET, ${int(pt.redis.set)} SET, ${int(pt.redis.total)} commands), exchanges counted by the authorization server, VmRSS at the end; the replicas counted ${int(pt.localMisses)} local misses and ${int(pt.sharedHits)} shared hits.\n\n`;
  md += '| coefficient | value | from (section of this file) |\n| --- | --- | --- |\n';
  const fmt = { hitUs: [0, 'µs'], missUs: [0, 'µs'], sharedExtraUs: [0, 'µs'], sharedExtraMs: [2, 'ms'], exchangesPerToken: [2, ''], bytesPerUser: [0, 'B'], heapBytesPerUser: [0, 'B'], idleHeapBytes: [1, 'MB'], heapFloorBytes: [1, 'MB'], redisBytesPerUser: [0, 'B'], idleRssBytes: [1, 'MB'], replicaIdleRssBytes: [1, 'MB'] };
  for (const [key, coefficient] of Object.entries(c)) {
    const [digits, unit] = fmt[key];
    const value = unit === 'MB' ? coefficient.value / 1e6 : coefficient.value;
    md += `| \`${key}\` | ${num(value, digits)} ${unit} | ${coefficient.from} |\n`;
  }
  md += '\n| quantity | predicted | measured | measured ÷ predicted | coefficients used |\n| --- | --- | --- | --- | --- |\n';
  for (const row of rows) md += `| ${row.name} | ${num(row.predicted, row.predicted < 10 ? 2 : 0)} | ${num(row.measured, row.measured < 10 ? 2 : 0)} | **${num(ratio(row.measured, row.predicted))}** | ${row.uses.map((u) => `\`${u}\``).join(', ') || 'none (R × U / L)'} |\n`;
  md += `\nThe point is small next to a mesh (a few thousand users, one machine whose 2 cores also run the loaders, Redis and the authorization server), so its exchanges/s are bounded by the authorization server; what it checks is the model's arithmetic and its accounting of local hits, shared hits and exchanges.\n\n${runTable(pt.runs)}\n`;
  return md;
}

/** The one-token and many-users profiles in columns: CPU µs per call by area and by function. */
function sideBySideSection(p) {
  if (!p?.manyUsers) return 'not run\n\n';
  // The one-token profiles under the grpc-js loader, like the many-users ones (older results: the h2load ones).
  const one = p.oneTokenGrpc ?? { service: p.service, null: p.null, loader: p.loader };
  const columns = [
    ['service, one token', one.service],
    [`service, ${int(p.manyUsers.users)} users`, p.manyUsers.service],
    ['null, one token', one.null],
    [`null, ${int(p.manyUsers.users)} users`, p.manyUsers.null],
    [`minimal null, ${int(p.manyUsers.users)} users`, p.manyUsers['null-minimal']],
  ].filter(([, k]) => k?.summary);
  if (!columns.length) return 'no profiles\n\n';
  // A share of the profile's busy time × the run's CPU per call (from /proc, which also counts V8's helper threads).
  const us = (k, busyPct) => (busyPct / 100) * k.run.serverCpuUsPerCall;
  let md = `CPU µs per call: each area's (or function's) share of the profile's busy time × the run's server CPU µs per call (from /proc). One-token load: ${one.loader}; many-users load: ${p.manyUsers.loader}. ${p.seconds} s each, fresh processes, after a warm-up (the many-users service filled its cache through the bench's fast exchange endpoint).\n\n`;
  md += `| | ${columns.map(([name]) => name).join(' | ')} |\n| --- |${columns.map(() => ' --- |').join('')}\n`;
  md += `| rps during the profile | ${columns.map(([, k]) => int(k.run.rps)).join(' | ')} |\n`;
  md += `| **server CPU µs per call** | ${columns.map(([, k]) => `**${num(k.run.serverCpuUsPerCall, 0)}**`).join(' | ')} |\n`;
  const areas = [...new Set(columns.flatMap(([, k]) => k.summary.areas.slice(0, 12).map((a) => a.area)))];
  for (const area of areas) md += `| ${area} | ${columns.map(([, k]) => num(us(k, k.summary.areas.find((a) => a.area === area)?.busyPct ?? 0), 1)).join(' | ')} |\n`;
  const key = (f) => `${f.name} ${f.location}`;
  const fnUs = (k, f) => {
    const found = k.summary.topFunctions.find((g) => key(g) === key(f));
    return found ? num(us(k, found.busyPct), 1) : '·';
  };
  const many = p.manyUsers.service?.summary ? p.manyUsers.service : columns[0][1];
  const fns = [...many.summary.topFunctions.slice(0, 20)];
  for (const f of one.service?.summary?.topFunctions?.slice(0, 10) ?? []) if (!fns.some((g) => key(g) === key(f))) fns.push(f);
  md += `\n| top functions by self time (the many-users service's top 20, then the one-token service's) | where | ${columns.map(([name]) => name).join(' | ')} |\n| --- | --- |${columns.map(() => ' --- |').join('')}\n`;
  for (const f of fns) md += `| \`${f.name}\` | ${f.location || '(native / generated)'} | ${columns.map(([, k]) => fnUs(k, f)).join(' | ')} |\n`;
  md += `\n"·": not among that profile's top 40 functions.\n\n`;
  const own = p.manyUsers.service?.summary?.ownFunctions;
  if (own?.length) {
    md += `| the service's own functions (dist/), ${int(p.manyUsers.users)} users | where | CPU µs per call |\n| --- | --- | --- |\n`;
    for (const f of own) md += `| \`${f.name}\` | ${f.location} | ${num(us(p.manyUsers.service, f.busyPct), 1)} |\n`;
    md += '\n';
  }
  return md;
}

export function renderReport(results) {
  const m = results.machine;
  const s = results.scenarios ?? {};
  const o = results.options;
  let md = `# Benchmark results\n\n`;
  md += `Generated by \`npm run bench\` (\`node bench/run.mjs${results.argv?.length ? ` ${results.argv.join(' ')}` : ''}\`) on ${m.date}; the run took ${num(results.wallS / 60, 1)} min. `;
  md += `Every figure below was measured in this run; ratios are service ÷ null server measured in the same run (paired, interleaved null / service runs; the median of the per-pair ratios).\n\n`;
  md += `## Machine\n\n| | |\n| --- | --- |\n`;
  md += `| nproc | ${m.nproc} |\n| CPU | ${m.cpuModel} |\n| memory | ${num(m.memTotalGiB, 1)} GiB |\n| node | ${m.node} |\n| OS / kernel | ${m.os ?? '?'} / ${m.kernel} |\n`;
  md += `| commit | ${m.commit ?? '?'}${m.srcDirty ? ' + uncommitted changes in src/ (other engineers at work)' : ''} |\n| h2load | ${results.h2load ?? `not installed (${results.h2loadHint})`} |\n`;
  md += `| load average at start / end | ${m.loadAtStart?.one ?? '?'} / ${results.loadAtEnd?.one ?? '?'} (1 min) |\n`;
  md += `| build measured | \`dist/\` as built at ${results.build?.distMtime ?? '?'}, copied to \`${results.build?.snapshot ?? '?'}\` at the start (JS hash ${results.build?.hash ?? '?'})${results.build?.distChangedDuringRun ? '; **dist/ was rebuilt by someone during the run** — every process here still ran the snapshot' : ''} |\n\n`;
  md += `The load generator and the server share the same ${m.nproc} cores, and other engineers may have been running tests at the same time: figures are noisy, which is why every comparison is paired within this run. Each run records the machine's **other load** (busy CPU from /proc/stat less the CPU of the server, the load generator and the bench itself, in cores); runs above ${results.contendedCores ?? 0.25} cores are marked ⚠ and pairs containing one are counted as contended. Before each pair the bench waited (at most ${results.gate?.perPairS ?? '?'} s per pair, ${results.gate?.budgetS ?? '?'} s in all) while other processes used more than ${results.gate?.thresholdCores ?? '?'} cores; it waited ${num(results.gateWaitedS ?? 0, 1)} s in this run.\n\n`;

  md += `## Targets\n\n| target | measured | target | verdict | detail |\n| --- | --- | --- | --- | --- |\n`;
  for (const row of targets(results)) md += `| ${row.name} | ${row.measured} | ${row.target} | ${row.verdict} | ${row.note} |\n`;
  md += '\n';
  md += `## Targets: many users, in less memory\n\nThe issue's target table with this run's figures ("now" is the issue's starting point; ratios against each null server are paired within this run).\n\n| scenario | now | measured | target | verdict | detail |\n| --- | --- | --- | --- | --- | --- |\n`;
  for (const row of issueTargets(results)) md += `| ${row.name} | ${row.now} | ${row.measured} | ${row.target} | ${row.verdict} | ${row.note} |\n`;
  md += '\n';
  md += missesSection(results);

  md += `## Set-up\n\n`;
  md += `- **Null server** (\`bench/null-server.mjs\`): \`@grpc/grpc-js\` + \`@grpc/proto-loader\` loading Envoy's official ext_authz v3 protos from \`@grpc/grpc-js-xds/deps\` (full decode of every CheckRequest), answering a constant OK CheckResponse shaped like the service's allow answer (an \`authorization\` header with a ${results.exchangedTokenLength ?? '?'}-character token, sub / client_id / scope metadata). Own process.\n`;
  md += `- **Minimal null server** (\`bench/null-server.mjs --minimal\`): the same stack and full decode, answering only \`status.code 0\` (no headers, no metadata): the stricter baseline. Both null servers keep grpc-js's HTTP/2 settings (grpc-js sets no window: Node's default 65,535 bytes); the service ships a 4 MiB connection window. Own process; it runs in the same rotation as the null server and the service (null, null-minimal, service) in the 50-stream cache-hit, many-users and 100,000-user runs.\n`;
  md += `- **Service**: \`${s.cacheHit?.serviceCommand ?? results.serviceCommand ?? 'node dist/main.js'}\` (own process), LOG_LEVEL=info, EXCHANGE_CACHE_MAX=20000 (the default 10,000 would evict part of the 10,000-user set), in front of the bench authorization server (\`bench/as-server.mjs\`: the project's oidc-provider server, own process). The \`--import\` preload only measures event-loop delay.\n`;
  md += `- **Load**: h2load (\`-c 1 -m 50 -t 1\` or \`-m 1\`; one pre-encoded, length-prefixed CheckRequest from the official schema, verified once per target below) and \`bench/grpc-loader.mjs\` (@grpc/grpc-js, one HTTP/2 connection, pre-encoded requests, latency per call from the send time, or from the scheduled time in open loop). Each their own process.\n`;
  md += `- **Repetitions**: ${o.reps} pairs for 50-stream runs, ${o.lightReps} for 1-stream and many-user runs; ${o.durationS} s measured after ${o.warmupS} s warm-up (${o.c1DurationS} s at 1 stream).\n`;
  md += `- "server CPU µs/call" is the target process's user + system CPU time (from /proc) over the run divided by the calls it answered; for h2load it is approximate (≈), as h2load does not count warm-up calls. "loader CPU µs/call" is the grpc-js loader's own CPU (\`process.cpuUsage()\`, every thread of its process) from the end of its warm-up on, divided by the calls answered in that time: its start-up and the pre-encoding of the requests are left out. Where it is near 1,000,000 ÷ rps, the loader, one Node process, is what set the rate.\n\n`;

  const ch = s.cacheHit;
  md += `## Cache hit (one token)\n\n`;
  if (ch?.error) md += `_failed: ${ch.error}_\n\n`;
  else if (ch) {
    md += `### h2load body verification\n\nThe exact bytes h2load sends (${ch.verification?.null?.requestBytes ?? '?'} bytes: 1 byte flag 0, 4 bytes big-endian length, the CheckRequest) were sent once to each target with \`node:http2\` and the answer decoded with the official schema:\n\n${verificationTable(ch.verification)}\n`;
    md += `### Ratios\n\n`;
    md += pairedLine('h2load, 50 streams', ch.h2load?.c50);
    md += pairedLine('h2load, 1 stream', ch.h2load?.c1);
    md += pairedLine('grpc-js loader, closed loop, 50 streams', ch.grpc?.c50);
    md += pairedLine('grpc-js loader, closed loop, 1 stream', ch.grpc?.c1);
    md += minimalLine('h2load, 50 streams, against the minimal null server', ch.h2load?.c50);
    md += minimalLine('grpc-js loader, closed loop, 50 streams, against the minimal null server', ch.grpc?.c50);
    if (ch.h2load?.skipped) md += `- h2load rows skipped: ${ch.h2load.skipped}\n`;
    md += `\n### Runs\n\n${runTable([...(ch.h2load?.c50 ?? []), ...(ch.h2load?.c1 ?? [])], { showEld: true })}\n${runTable([...(ch.grpc?.c50 ?? []), ...(ch.grpc?.c1 ?? [])], { showEld: true })}\n`;
    md += `h2load reports min / mean / max per request, not percentiles; p99 figures come from the grpc-js loader. ELD = event-loop delay p99 of the service during that run, less the 10 ms timer resolution (raw histogram value in brackets).\n\n`;
    if (ch.grpc?.sweep?.length) {
      md += `### Open loop (grpc-js loader, fixed arrival rate, latency from the scheduled send time)\n\nRates are fractions of the null server's closed-loop 50-stream rate in this run. The grpc-js loader shares the 2 cores and needs a good part of one at these rates, so the knee is that of the loader and the server together; the comparison is between the two targets.${results.plot ? ` Plot: [\`${results.plot}\`](${results.plot}).` : ''}\n\n`;
      md += '| fraction | rate /s | target | achieved rps | p50 ms | p99 ms | max ms | not OK | errors / dropped / unfinished | other load (cores) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n';
      for (const run of ch.grpc.sweep) {
        const errors = Object.values(run.errors ?? {}).reduce((a, b) => a + b, 0);
        md += `| ${run.fraction} | ${int(run.rate)} | ${run.target} | ${int(run.rps)} | ${num(run.latencyMs.p50)} | ${num(run.latencyMs.p99)} | ${num(run.latencyMs.max)} | ${Object.values(run.notOk ?? {}).reduce((a, b) => a + b, 0)} | ${errors} / ${run.dropped} / ${run.unfinished} | ${num(run.otherCores, 2)}${run.contended ? ' ⚠' : ''} |\n`;
      }
      md += '\n';
    }
  }

  const mu = s.manyUsers;
  md += `## Many users (${int(mu?.count)} distinct valid tokens, all cached first)\n\n`;
  if (mu?.error) md += `_failed: ${mu.error}_\n\n`;
  else if (mu) {
    md += `Warm-up through the real authorization server: ${int(mu.warm.ok)} OK Checks in ${num(mu.warm.seconds, 1)} s, ${int(mu.warm.exchanges)} exchanges. Cache misses during the measured runs (service /metrics): **${mu.missesDuring}**.\n\n`;
    md += pairedLine('grpc-js loader, closed loop, 50 streams, cycling through all tokens', mu.runs);
    md += minimalLine('the same, against the minimal null server', mu.runs);
    md += `\n${runTable(mu.runs)}\n`;
    if (mu.twoLoaders?.length) md += twoLoadersSection(mu.twoLoaders);
    if (mu.openLoop) md += openLoopSection(mu);
  }

  md += users100kSection(s.users100k);

  const cold = s.cold;
  md += `## Cold path (every token new; authorization server exchangeDelayMs = ${cold?.delayMs ?? '?'} ms)\n\n`;
  if (cold?.error) md += `_failed: ${cold.error}_\n\n`;
  else if (cold) {
    md += `| run | calls | OK | p50 ms | p90 ms | p99 ms | max ms | exchanges at the AS | exchange calls (service /metrics) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n`;
    md += `| direct exchange at the token endpoint (sequential, undici) | ${cold.direct.calls} | ${cold.direct.calls - cold.direct.failures} | ${num(cold.direct.latencyMs.p50)} | ${num(cold.direct.latencyMs.p90)} | ${num(cold.direct.latencyMs.p99)} | ${num(cold.direct.latencyMs.max)} | — | — |\n`;
    for (const [label, run] of [
      [`service, 1 stream, ${cold.c1.tokens} new tokens`, cold.c1],
      [`service, 200 streams, herd: ${cold.herd.tokens} new tokens × 200 concurrent Checks each`, cold.herd],
      [`service, 200 streams, ${cold.distinct.tokens} distinct new tokens × 2`, cold.distinct],
    ]) {
      md += `| ${label} | ${run.completed} | ${run.ok} | ${num(run.latencyMs.p50)} | ${num(run.latencyMs.p90)} | ${num(run.latencyMs.p99)} | ${num(run.latencyMs.max)} | ${run.exchanges} | ${run.serviceExchangeCalls} |\n`;
    }
    md += `\nMedian overhead at 1 stream: the service's p50 ${num(cold.c1.latencyMs.p50)} ms less the token endpoint's own p50 for the same exchanges, ${num(cold.c1.asOwnP50Ms)} ms, measured inside the authorization server process (request received to last byte sent, node:http diagnostics channels) = **${num(cold.c1.latencyMs.p50 - cold.c1.asOwnP50Ms)} ms**. That covers the gRPC round trip from the loader, the service's validation of the new subject token (RS256 against the cached JWKS) and its HTTP call to the token endpoint. For comparison, a bare sequential undici client pays ${num(cold.direct.latencyMs.p50 - cold.direct.asOwnP50Ms)} ms over the server's own ${num(cold.direct.asOwnP50Ms)} ms; and the server's own time is ${num(cold.c1.asOwnP50Ms - cold.delayMs)} ms more than the configured ${cold.delayMs} ms delay (oidc-provider client authentication, verifying the subject token, signing the new one).\n\n`;
    if (Number.isFinite(cold.c1.serviceCheckMeanMs)) {
      const c = cold.c1;
      md += `Where it goes (means over the same ${c.tokens} Checks; the service's figures from its own \`/metrics\`): the loader saw ${num(c.latencyMs.mean)} ms; the service's Check took ${num(c.serviceCheckMeanMs)} ms, of which its call to the token endpoint took ${num(c.serviceExchangeMeanMs)} ms and the server's own time was ${num(c.asOwnMeanMs)} ms. So: gRPC transport and the loader ${num(c.latencyMs.mean - c.serviceCheckMeanMs)} ms; the service's work outside the call (validating the new subject token against the cached JWKS, the cache, building the answer) ${num(c.serviceCheckMeanMs - c.serviceExchangeMeanMs)} ms; its HTTP client and the loopback ${num(c.serviceExchangeMeanMs - c.asOwnMeanMs)} ms.\n\n`;
    };
    md += `At 200 streams the latency is dominated by queueing at the authorization server (one process on the same cores), not by the service.\n\n`;
    if (cold.split) md += coldSplitSection(cold.split);
    if (cold.profile) md += coldProfileSection(cold.profile);
  }

  const mem = s.memory;
  md += `## Memory\n\n`;
  if (mem?.error) md += `_failed: ${mem.error}_\n\n`;
  else if (mem) {
    md += `A fresh service process (EXCHANGE_CACHE_MAX=${int(mem.cacheMax)}, LOG_LEVEL=warn so that per-Check log lines do not slow the warm-up) checked ${int(mem.count)} distinct tokens once each (grpc-js loader, 64 streams): ${int(mem.warm.ok)} OK in ${num(mem.warmS, 1)} s, ${int(mem.exchanges)} exchanges, ${int(mem.cacheMisses)} cache misses counted. Afterwards the oldest 1,000 tokens were checked again: ${mem.recheck.ok} OK, **${mem.recheck.misses} new misses** (so nothing had been evicted).\n\n`;
    md += `Method: the inbound tokens are real RS256 JWTs signed by the bench authorization server (${int(mem.count)} minted in ${num(mem.mintMs / 1000, 1)} s, in parallel in its process) and verified by the service against the server's JWKS. Only the **exchange** is answered by the bench's fast RFC 8693 endpoint (\`TOKEN_EXCHANGE_ENDPOINT_URL\` → \`bench/as-server.mjs\` \`/fast/token\`), which returns a unique token of a real exchanged token's length (${results.exchangedTokenLength ?? '?'} characters). oidc-provider does about 500 exchanges/s on this machine, so 100,000 real exchanges would take minutes.${mem.extrapolated ? ` **Extrapolated**: ${int(mem.count)} tokens were measured and the per-entry cost scaled linearly to 100,000.` : ''}\n\n`;
    const mb = (kib) => num((kib * 1024) / 1e6, 1);
    const hb = (bytes) => num(bytes / 1e6, 1);
    md += `| | VmRSS MB | VmHWM MB | V8 heap used MB | heap total MB | external MB |\n| --- | --- | --- | --- | --- | --- |\n`;
    md += `| after start + 1 Check | ${mb(mem.baseline.rssKiB)} | ${mb(mem.baseline.hwmKiB)} | ${hb(mem.baseline.heap.heapUsed)} | ${hb(mem.baseline.heap.heapTotal)} | ${hb(mem.baseline.heap.external)} |\n`;
    md += `| after ${int(mem.count)} cached exchanges (2 s after the last Check) | ${mb(mem.after.rssKiB)} | ${mb(mem.after.hwmKiB)} | ${hb(mem.after.heap.heapUsed)} | ${hb(mem.after.heap.heapTotal)} | ${hb(mem.after.heap.external)} |\n`;
    if (mem.after.heapAfterGc) {
      md += `| after start + 1 Check, then a forced full GC | ${mb(mem.baseline.rssAfterGcKiB)} | — | ${hb(mem.baseline.heapAfterGc.heapUsed)} | ${hb(mem.baseline.heapAfterGc.heapTotal)} | ${hb(mem.baseline.heapAfterGc.external)} |\n`;
      md += `| after ${int(mem.count)} cached exchanges, then a forced full GC | ${mb(mem.after.rssAfterGcKiB)} | — | ${hb(mem.after.heapAfterGc.heapUsed)} | ${hb(mem.after.heapAfterGc.heapTotal)} | ${hb(mem.after.heapAfterGc.external)} |\n`;
    }
    if (mem.after.rssAfterIdleKiB) md += `| after ${int(mem.count)} cached exchanges, 7 s idle (before the forced GC) | ${mb(mem.after.rssAfterIdleKiB)} | — | — | — | — |\n`;
    md += `\nThe target is judged on the first two rows (VmRSS as an operator sees it, no forced GC). Growth: ${num(mem.perEntryBytes, 0)} bytes of RSS per cached token${Number.isFinite(mem.perEntryHeapBytes) ? `, ${num(mem.perEntryHeapBytes, 0)} bytes of live V8 heap per cached token after a full GC` : ''} (each token holds a validated principal and its exchanged token of ${results.exchangedTokenLength ?? '?'} characters, kept as the encoded allowed CheckResponse in shared slabs, the token packed to the bytes its base64url segments encode). The forced GC needs \`--expose-gc\` on this service process only. MB = 10⁶ bytes.\n\n`;
    if (mem.v8Default && !mem.v8Default.error) {
      md += `The service ran as shipped: \`node ${(results.shipped?.nodeArgs ?? []).join(' ')}\` (package.json's \`npm start\`, the image's CMD), the image's environment (${Object.entries(results.shipped?.env ?? {}).map(([name, value]) => `\`${name}=${value}\``).join(', ')}) and its default heap sizing, \`HEAP_GROWING_PERCENT=${mem.heap?.growingPercent ?? 10}\` and \`HEAP_LIMIT_FLOOR_MB=${mem.heap?.limitFloorMb ?? 0}\` (V8's \`--heap-growing-percent\`, at least that percentage past the live heap and up to the floor; README "Memory"). A second fresh process filled with the same ${int(mem.count)} tokens and \`HEAP_GROWING_PERCENT=0\` (V8's own heap sizing) reached **${mb(mem.v8Default.afterRssKiB)} MB** VmRSS (V8 heap ${hb(mem.v8Default.heapUsed)} MB used of ${hb(mem.v8Default.heapTotal)} MB; idle ${mb(mem.v8Default.baselineRssKiB)} MB).\n\n`;
    }
    md += `Where a process's memory sits (a trial run on an earlier build, before the slabs, the packed tokens and the shipped node flags: \`/proc/<pid>/smaps\` of a service holding 50,000 cached exchanges, 220 MB RSS): 41 MB were the node binary's own file-backed pages, which every Node process carries; 60 MB the C heap (malloc), where the answers' bytes live (about 0.9 KB per token: the exchanged token and the CheckResponse around it); 113 MB anonymous mappings, mostly V8's heap.\n\n`;;
  }

  md += `## Event-loop delay\n\nMeasured from outside the service's code: \`node --import ./bench/lib/eld-preload.mjs dist/main.js\` runs \`perf_hooks.monitorEventLoopDelay\` (10 ms resolution) and writes the histogram on SIGUSR2; it is reset before each service run and read after it. Per-run values are in the ELD column of the cache-hit tables.\n\n`;

  md += `## Worker mode\n\n`;
  const w = s.workers;
  if (w?.measured) {
    md += `Processes: service ${w.serviceProcesses} (with WORKERS=2), null server ${w.nullProcesses} (primary + 2 workers), both measured over 2 HTTP/2 connections (node:cluster hands connections to workers round-robin).${w.serviceProcesses < 2 ? ' **The service ran as a single process**: WORKERS=2 had no effect.' : ''} CPU per call counts every process of each tree.\n\n`;
    md += pairedLine('h2load, 2 connections × 25 streams', w.h2load?.c50);
    const meanRps = (runs, target) => mean((runs ?? []).filter((run) => run.target === target).map((run) => run.rps));
    const single = s.cacheHit?.h2load?.c50;
    if (single?.length && w.h2load?.c50?.length) {
      const scale = (target) => `${int(meanRps(single, target))} → ${int(meanRps(w.h2load.c50, target))} rps (**${num(meanRps(w.h2load.c50, target) / meanRps(single, target))}×**)`;
      md += `- scaling from one process to two workers (h2load, 50 streams in all; the one-process figures are the cache-hit runs above, means over runs): service ${scale('service')}, null server ${scale('null')}. The load generator needs CPU from the same two cores.\n`;
    }
    md += pairedLine('grpc-js loader, 2 connections, 50 streams', w.grpc?.c50);
    md += `\n${verificationTable(w.verification)}\n${runTable([...(w.h2load?.c50 ?? []), ...(w.grpc?.c50 ?? [])])}\n`;
  } else md += `${w?.reason ?? 'not measured'}${w?.output ? ` (${w.output})` : ''}\n\n`;

  md += replicasSection(s.replicas);
  md += capacitySection(results);

  md += `## HTTP/2 window\n\n`;
  const win = s.window;
  if (win?.measured) {
    md += `The service as shipped (\`GRPC_CONNECTION_WINDOW_BYTES\` = 4 MiB) and a second service process with Node's default 65,535 bytes, each against the null server (Node's default window), one HTTP/2 connection, grpc-js loader, one cached token; all three interleaved.\n\n`;
    const only = (runs, label) => (runs ?? []).filter((run) => run.target === 'null' || run.target === label).map((run) => (run.target === label ? { ...run, target: 'service' } : run));
    for (const streams of [50, 200]) {
      md += pairedLine(`${streams} streams, 4 MiB window`, only(win[`c${streams}`], 'service'));
      md += pairedLine(`${streams} streams, 65,535-byte window`, only(win[`c${streams}`], 'service-65535'));
    }
    md += `\n${runTable([...(win.c50 ?? []), ...(win.c200 ?? [])])}\n`;
  } else md += `${win?.reason ?? 'not measured'}\n\n`;

  md += `## Introspection path\n\n`;
  const i = s.introspection;
  if (i?.measured) {
    md += `A service with \`INTROSPECTION_ENDPOINT_URL\` set to the bench authorization server's \`/fast/introspect\` (RFC 7662; it verifies the token against the real JWKS and answers with its claims; oidc-provider itself refuses to introspect JWT access tokens: \`unsupported_token_type\`). Exchanges still go to the real token endpoint. Introspection calls over the whole scenario: ${i.introspections} (the service caches the result).\n\n`;
    md += `${pairedLine(`${i.loader}, 50 streams, one token`, i.runs)}\n${runTable(i.runs)}\n`;
  }
  else md += `${i?.reason ?? 'not measured'}${i?.output ? `: \`${i.output}\`` : ''}\n\n`;

  md += `## CPU profile of the cache-hit path\n\n${profileSection(s.profile)}`;
  md += `## CPU profiles side by side: one token and many users\n\n${sideBySideSection(s.profile)}`;

  if (results.errors?.length) md += `## Errors during the run\n\n${results.errors.map((e) => `- ${e}`).join('\n')}\n\n`;
  md += `## Reproducing\n\n\`npm run bench\` (build, then \`node bench/run.mjs\`); \`node bench/run.mjs --help\` lists the options. Raw results: \`bench/out/results.json\`; logs of every process: \`bench/out/logs/\`. ghz: see \`bench/ghz/README.md\`.\n`;
  return md;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? `${BENCH}out/results.json`;
  const results = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(`${BENCH}RESULTS.md`, renderReport(results));
  console.log(`wrote ${BENCH}RESULTS.md`);
}
