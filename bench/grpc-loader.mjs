#!/usr/bin/env node
// @grpc/grpc-js load generator for ext_authz Check, run as its own process.
//
//   node bench/grpc-loader.mjs '<json config>'
//
// config: {
//   target: "127.0.0.1:PORT",
//   mode: "closed" | "open",
//   concurrency: C,            closed: C calls always in flight
//   rate: R,                   open: R calls per second on a fixed schedule; latency is
//                              measured from the SCHEDULED send time (no coordinated omission)
//   durationS, warmupS,        load for warmupS + durationS; only the last durationS is recorded
//   connections: K,            HTTP/2 connections (calls spread round-robin); default 1
//   tokensFile,                one token per line; request i uses token floor(i / repeat)
//   order: "cycle" | "once",   cycle: wrap around the tokens; once: stop after the last token
//   repeat: 1,                 consecutive requests per token
//   maxRequests,               hard bound on calls sent (default 5,000,000)
//   maxInFlight: 20000,        open loop: calls beyond this are dropped and counted
//   deadlineMs: 10000, drainS: 15
// }
// Prints one JSON line: counts, rps over the recorded window, latency
// percentiles (ms), errors by gRPC code, non-OK answers by status code, and the
// first answer decoded in full with the official schema.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { LatencyRecorder } from './lib/histogram.mjs';
import { CHECK_PATH, checkStatusOf, decodeCheckResponse, encodeCheckRequest } from './lib/grpc-wire.mjs';

const config = {
  mode: 'closed',
  concurrency: 1,
  rate: 100,
  durationS: 5,
  warmupS: 1,
  connections: 1,
  order: 'cycle',
  repeat: 1,
  maxRequests: 5_000_000,
  maxInFlight: 20_000,
  deadlineMs: 10_000,
  drainS: 15,
  ...JSON.parse(process.argv[2] ?? '{}'),
};

const tokens = readFileSync(config.tokensFile, 'utf8').split('\n').filter(Boolean);
if (tokens.length === 0) throw new Error(`no tokens in ${config.tokensFile}`);
const bodies = tokens.map(encodeCheckRequest); // one CheckRequest per token, encoded once
const limit = Math.min(config.maxRequests, config.order === 'once' ? tokens.length * config.repeat : Infinity);
const bodyOf = (i) => bodies[Math.floor(i / config.repeat) % bodies.length];

const identity = (value) => value;
const clients = Array.from(
  { length: config.connections },
  // A local subchannel pool per client gives each its own HTTP/2 connection.
  () => new grpc.Client(config.target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
);
await Promise.all(clients.map((client) => new Promise((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())))));

const recorder = new LatencyRecorder(1_000_000);
// Open loop: how late this process itself sent each recorded call (send time − scheduled time). A latency
// tail no larger than this is the loader's own, not the target's.
const sendLag = new LatencyRecorder(1_000_000);
const errors = {};
const errorSamples = [];
const notOk = {};
let sent = 0;
let completed = 0;
let ok = 0;
let dropped = 0;
let inFlight = 0;
let recordedCompletions = 0;
let firstAnswer;
let lastCompletion = 0;

const start = performance.now();
const warmEnd = start + config.warmupS * 1000;
const end = warmEnd + config.durationS * 1000;

// This process's own CPU from the end of the warm-up on, per call answered in that time: what the loader
// itself spends per call, with its start-up (modules, pre-encoding the requests) left out.
let windowOpened = { cpu: process.cpuUsage(), completed: 0 };
setTimeout(() => (windowOpened = { cpu: process.cpuUsage(), completed }), Math.max(0, warmEnd - performance.now())).unref();

/** One Check; `from` is when it should have been sent (closed loop: when it was). */
function call(i, from) {
  sent++;
  inFlight++;
  const client = clients[i % clients.length];
  return new Promise((resolve) => {
    client.makeUnaryRequest(CHECK_PATH, identity, identity, bodyOf(i), new grpc.Metadata(), { deadline: Date.now() + config.deadlineMs }, (error, response) => {
      const now = performance.now();
      inFlight--;
      completed++;
      lastCompletion = now;
      const recorded = from >= warmEnd;
      if (error) {
        errors[error.code] = (errors[error.code] ?? 0) + 1;
        if (errorSamples.length < 3) errorSamples.push(`${error.code} ${error.details ?? error.message}`);
      } else {
        if (firstAnswer === undefined) {
          try {
            firstAnswer = decodeCheckResponse(response);
          } catch (decodeError) {
            firstAnswer = { decodeError: decodeError.message };
          }
        }
        const status = checkStatusOf(response);
        if (status.code === 0 && !status.denied) ok++;
        else notOk[status.code] = (notOk[status.code] ?? 0) + 1;
      }
      if (recorded) {
        recordedCompletions++;
        recorder.record(now - from);
      }
      resolve();
    });
  });
}

let next = 0;
if (config.mode === 'closed') {
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (next < limit && performance.now() < end) {
        const i = next++;
        await call(i, performance.now());
      }
    }),
  );
} else {
  const interval = 1000 / config.rate;
  const pending = new Set();
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < limit) {
        const scheduled = start + next * interval;
        if (scheduled > now || scheduled >= end) break;
        const i = next++;
        if (inFlight >= config.maxInFlight) {
          dropped++;
          continue;
        }
        if (scheduled >= warmEnd) sendLag.record(now - scheduled);
        const promise = call(i, scheduled);
        pending.add(promise);
        promise.then(() => pending.delete(promise));
      }
      if (now >= end || next >= limit) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  // Drain, bounded: calls still open after drainS count as unfinished.
  await Promise.race([Promise.all(pending), new Promise((resolve) => setTimeout(resolve, config.drainS * 1000).unref())]);
}

// Closed loop: the window is warm-up end → last completion (≈ end, or earlier when the tokens ran out).
const windowMs = Math.max(1, (config.mode === 'closed' ? lastCompletion : end) - warmEnd);
const latency = recorder.summary();
const cpu = process.cpuUsage();
const windowCpu = process.cpuUsage(windowOpened.cpu);
const windowCalls = completed - windowOpened.completed;
console.log(
  JSON.stringify({
    mode: config.mode,
    concurrency: config.mode === 'closed' ? config.concurrency : undefined,
    rate: config.mode === 'open' ? config.rate : undefined,
    connections: config.connections,
    tokens: tokens.length,
    sent,
    completed,
    unfinished: sent - completed,
    ok,
    notOk,
    errors,
    errorSamples,
    dropped,
    recorded: recordedCompletions,
    windowS: windowMs / 1000,
    rps: recordedCompletions / (windowMs / 1000),
    latencyMs: latency,
    sendLagMs: config.mode === 'open' ? sendLag.summary() : undefined,
    firstAnswer,
    loaderCpuS: (cpu.user + cpu.system) / 1e6,
    loaderCpuUsPerCall: windowCalls > 0 ? (windowCpu.user + windowCpu.system) / windowCalls : null,
    loaderWallS: (performance.now() - start) / 1000,
  }),
);
for (const client of clients) client.close();
process.exit(0);
