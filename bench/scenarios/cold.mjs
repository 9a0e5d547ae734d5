// Cold path: every token new, the authorization server slowed by a fixed
// exchangeDelayMs. (1) its direct exchange latency (a sequential undici
// client, as the service uses), (2) the service at c=1 → median overhead,
// (3) a herd: each new token sent by 200 concurrent streams, (4) distinct new
// tokens (each twice in a row) at 200 concurrent streams. Exchanges are
// counted by the authorization server's grant handler.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { EXCHANGE_CLIENT, UPSTREAM } from '../lib/constants.mjs';
import { LatencyRecorder } from '../lib/histogram.mjs';
import { grpcRun } from '../lib/runs.mjs';
import { metricSum } from '../lib/servers.mjs';
import { mean, median } from '../lib/stats.mjs';

export async function cold(ctx) {
  const { opts, log, outDir, control } = ctx;
  const files = {};
  for (const [name, count] of [
    ['direct', opts.coldDirect],
    ['c1', opts.coldC1],
    ['herd', opts.coldHerdTokens],
    ['distinct', opts.coldDistinct],
  ]) {
    files[name] = join(outDir, `tokens-cold-${name}.txt`);
    await control.mint(count, `cold-${name}`, files[name]);
  }
  await control.setDelay(opts.coldDelayMs);
  try {
    const result = { delayMs: opts.coldDelayMs };
    await control.tokenTimes(); // start a window
    result.direct = await directExchanges(ctx.as.tokenEndpoint, readFileSync(files.direct, 'utf8').split('\n').filter(Boolean));
    result.direct.asOwnP50Ms = median(await control.tokenTimes());
    log(`cold: direct exchange p50 ${result.direct.latencyMs.p50.toFixed(2)} ms`);

    const counted = async (config) => {
      const before = await control.state();
      const metricsBefore = metricSum(await ctx.service.metrics(), 'authz_exchange_calls_total');
      const run = await grpcRun(ctx.service, { mode: 'closed', connections: 1, order: 'once', durationS: 300, warmupS: 0, deadlineMs: 30_000, ...config });
      const exchanges = (await control.state()).exchanges - before.exchanges;
      const serviceExchangeCalls = metricSum(await ctx.service.metrics(), 'authz_exchange_calls_total') - metricsBefore;
      return { ...run, exchanges, serviceExchangeCalls };
    };
    await control.tokenTimes();
    const sums = async () => {
      const metrics = await ctx.service.metrics();
      return Object.fromEntries(['grpc_server_handling_seconds_sum', 'grpc_server_handling_seconds_count', 'authz_exchange_duration_seconds_sum', 'authz_exchange_duration_seconds_count'].map((name) => [name, metricSum(metrics, name)]));
    };
    const sumsBefore = await sums();
    result.c1 = { tokens: opts.coldC1, ...(await counted({ concurrency: 1, tokensFile: files.c1 })) };
    // The authorization server's own time for these exchanges, measured in its process.
    const asTimes = await control.tokenTimes();
    result.c1.asOwnP50Ms = median(asTimes);
    result.c1.asOwnMeanMs = mean(asTimes);
    // Where the service's time goes, from its own metrics (means over the run).
    const sumsAfter = await sums();
    const meanMs = (name) => (1000 * (sumsAfter[`${name}_sum`] - sumsBefore[`${name}_sum`])) / (sumsAfter[`${name}_count`] - sumsBefore[`${name}_count`]);
    result.c1.serviceCheckMeanMs = meanMs('grpc_server_handling_seconds');
    result.c1.serviceExchangeMeanMs = meanMs('authz_exchange_duration_seconds');
    log(`cold: c=1 p50 ${result.c1.latencyMs.p50.toFixed(2)} ms, ${result.c1.exchanges} exchanges for ${opts.coldC1} tokens`);
    result.herd = { tokens: opts.coldHerdTokens, perToken: 200, ...(await counted({ concurrency: 200, repeat: 200, tokensFile: files.herd })) };
    log(`cold: herd ${result.herd.exchanges} exchanges for ${opts.coldHerdTokens} tokens × 200 streams`);
    result.distinct = { tokens: opts.coldDistinct, perToken: 2, ...(await counted({ concurrency: 200, repeat: 2, tokensFile: files.distinct })) };
    log(`cold: distinct ${result.distinct.exchanges} exchanges for ${opts.coldDistinct} tokens at c=200`);
    return result;
  } finally {
    await control.setDelay(0);
  }
}

/** Sequential RFC 8693 exchanges straight at the token endpoint, one keep-alive connection. */
async function directExchanges(tokenEndpoint, tokens) {
  const agent = new Agent({ connections: 1 });
  const recorder = new LatencyRecorder(tokens.length);
  const authorization = `Basic ${Buffer.from(`${EXCHANGE_CLIENT.id}:${EXCHANGE_CLIENT.secret}`).toString('base64')}`;
  let failures = 0;
  try {
    for (const token of tokens) {
      const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: UPSTREAM,
        subject_token: token,
      }).toString();
      const started = performance.now();
      const response = await request(tokenEndpoint, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const json = await response.body.json();
      recorder.record(performance.now() - started);
      if (response.statusCode !== 200 || typeof json.access_token !== 'string') failures++;
    }
  } finally {
    await agent.close();
  }
  return { calls: tokens.length, failures, latencyMs: recorder.summary() };
}
