// rps vs p99 (open loop, log-scale latency) for the null server and the
// service, as a PNG: node bench/plot.mjs [bench/out/results.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Raster } from './lib/png.mjs';

const COLORS = { null: [90, 90, 90], service: [200, 60, 30] };

/** Draws the sweep (runs with target, rps, latencyMs.p99) into `file`; returns true when written. */
export function plotSweep(sweep, file) {
  const series = {};
  for (const run of sweep) if (Number.isFinite(run.rps) && Number.isFinite(run.latencyMs?.p99) && run.latencyMs.p99 > 0) (series[run.target] ??= []).push([run.rps, run.latencyMs.p99]);
  const points = Object.values(series).flat();
  if (points.length < 2) return false;
  for (const list of Object.values(series)) list.sort((a, b) => a[0] - b[0]);

  const width = 900;
  const height = 560;
  const left = 110;
  const right = 30;
  const top = 50;
  const bottom = 80;
  const r = new Raster(width, height);
  const ink = [30, 30, 30];
  const grid = [225, 225, 225];

  const xMax = niceCeil(Math.max(...points.map((p) => p[0])) * 1.05);
  const yMinExp = Math.floor(Math.log10(Math.min(...points.map((p) => p[1]))));
  const yMaxExp = Math.ceil(Math.log10(Math.max(...points.map((p) => p[1]))));
  const yTop = yMaxExp === yMinExp ? yMaxExp + 1 : yMaxExp;
  const px = (x) => left + (x / xMax) * (width - left - right);
  const py = (y) => top + (1 - (Math.log10(y) - yMinExp) / (yTop - yMinExp)) * (height - top - bottom);

  // grid and ticks
  for (let e = yMinExp; e <= yTop; e++) {
    const y = py(10 ** e);
    r.line(left, y, width - right, y, grid);
    const label = 10 ** e >= 1 ? String(10 ** e) : (10 ** e).toFixed(-e);
    r.text(left - 12 - Raster.textWidth(label), y - 7, label, ink);
  }
  const xStep = xMax / 5;
  for (let i = 0; i <= 5; i++) {
    const x = px(i * xStep);
    r.line(x, top, x, height - bottom, grid);
    const label = String(Math.round(i * xStep));
    r.text(x - Raster.textWidth(label) / 2, height - bottom + 12, label, ink);
  }
  r.line(left, top, left, height - bottom, ink, 2);
  r.line(left, height - bottom, width - right, height - bottom, ink, 2);
  r.text(width / 2 - Raster.textWidth('achieved rps (open loop)') / 2, height - 40, 'achieved rps (open loop)', ink);
  r.text(10, 14, 'p99 ms (log)', ink);
  r.text(left + 200, 14, 'cache hit: open-loop p99 vs rps', ink);

  // series
  let legendY = top + 10;
  for (const [name, list] of Object.entries(series)) {
    const color = COLORS[name] ?? [30, 90, 200];
    for (let i = 1; i < list.length; i++) r.line(px(list[i - 1][0]), py(list[i - 1][1]), px(list[i][0]), py(list[i][1]), color, 3);
    for (const [x, y] of list) r.dot(px(x), py(y), 5, color);
    r.line(left + 20, legendY + 7, left + 50, legendY + 7, color, 3);
    r.text(left + 60, legendY, name, color);
    legendY += 24;
  }
  writeFileSync(file, r.png());
  return true;
}

function niceCeil(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? fileURLToPath(new URL('./out/results.json', import.meta.url));
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const target = fileURLToPath(new URL('./rps-vs-p99.png', import.meta.url));
  console.log(plotSweep(results.scenarios?.cacheHit?.grpc?.sweep ?? [], target) ? `wrote ${target}` : 'no sweep data');
}
