// 6. Scale-out: the e2e run with 1 worker + 1 API and with 2 workers + 2 APIs, at the default client-side
// rate limit (K8S_QPS) and with the limit raised out of the way: throughput, and where K8S_QPS binds.

import { cpus } from 'node:os';
import type { BenchContext, E2EResult } from './lib/context.js';
import { settings } from './lib/env.js';
import { e2eOnce, runE2E } from './lib/onboard.js';
import { ratio, type Section } from './lib/report.js';
import { renderCpuShares } from './lib/rss.js';
import { sumCpu } from './e2e.js';

export const name = 'scaleout';

/**
 * The runs with K8S_QPS raised out of the way (BENCH_SCALEOUT_HIGH_QPS): 1 and 2 workers at WORKER_CONCURRENCY,
 * and 1 worker with more requests in flight (BENCH_SCALEOUT_HIGH_CONCURRENCY), what a bulk migration would raise
 * next. Bench 3 compares the fastest with the kubectl loop; whichever bench runs first records them.
 */
export async function raisedRuns(ctx: BenchContext, n: number): Promise<E2EResult[]> {
  const qps = settings.scaleoutHighQps;
  const raised = { n, qps, burst: Math.max(settings.k8sBurst, qps * 2), bench: 'scaleout', tag: 's' };
  const runs: E2EResult[] = [];
  for (const workers of [1, 2]) runs.push(await e2eOnce(ctx, { ...raised, workers, apis: workers }));
  runs.push(await e2eOnce(ctx, { ...raised, concurrency: settings.scaleoutHighConcurrency }));
  return runs;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const n = settings.scaleoutN;
  const rows: E2EResult[] = [];
  for (const workers of [1, 2]) {
    rows.push(await e2eOnce(ctx, { n, workers, apis: workers, bench: 'scaleout', tag: 's' }));
  }
  rows.push(...(await raisedRuns(ctx, n)));
  const wide = settings.scaleoutHighConcurrency;
  // A remote API server (50 ms per call), the limit out of the way: one worker's WORKER_CONCURRENCY ×
  // latency binds, not the CPU, so this is where a second worker process pays off.
  const slowMs = settings.scaleoutSlowLatencyMs;
  for (const workers of [1, 2]) {
    const qps = settings.scaleoutHighQps;
    rows.push(
      await runE2E(ctx, {
        n,
        workers,
        apis: workers,
        qps,
        burst: Math.max(settings.k8sBurst, qps * 2),
        latencyMs: slowMs,
        bench: 'scaleout',
        tag: 's',
        record: false,
      }),
    );
  }
  const at = (qps: number, w: number, latency = settings.latencyMs) =>
    rows.find(
      (r) =>
        r.qps === qps && r.workers === w && r.latencyMs === latency && r.concurrency === w * settings.workerConcurrency,
    )!;
  const bound = (r: E2EResult) => {
    const rate = r.calls / r.wallS;
    const allowed = r.qps;
    if (rate >= 0.8 * allowed || r.lowerBoundQpsS >= 0.8 * r.wallS)
      return `K8S_QPS (${Math.round((100 * rate) / allowed)}% of ${allowed}/s)`;
    if (r.lowerBoundConcS >= 0.8 * r.wallS) return 'concurrency × latency';
    if (r.machineBusy >= 0.9) return `CPU (machine ${Math.round(100 * r.machineBusy)}% busy)`;
    return 'per-request latency';
  };
  const lo = settings.k8sQps;
  const hi = settings.scaleoutHighQps;
  const speedLo = at(lo, 2).throughput / at(lo, 1).throughput;
  const speedHi = at(hi, 2).throughput / at(hi, 1).throughput;
  const speedSlow = at(hi, 2, slowMs).throughput / at(hi, 1, slowMs).throughput;
  const wideRow = rows.find((r) => r.workers === 1 && r.concurrency === wide)!;
  return {
    name,
    title: `6. Scale-out: ${n} namespaces with 1 and 2 worker processes`,
    intro:
      `Same run as bench 2 (2 Deployments per namespace, ${settings.latencyMs} ms per API call, ` +
      `WORKER_CONCURRENCY=${settings.workerConcurrency} per worker), ` +
      `submitted round-robin to 1 or 2 API instances. K8S_QPS/K8S_BURST is one budget per cluster, shared by every ` +
      `API and worker process through Redis ` +
      `(K8S_RATE_LIMIT_SCOPE=cluster, the default), so adding workers cannot push a cluster past K8S_QPS.`,
    tables: [
      {
        headers: [
          'K8S_QPS',
          'API latency ms',
          'workers + APIs',
          'WORKER_CONCURRENCY',
          'wall s',
          'ns/s',
          'speed-up',
          'calls/s (avg)',
          'peak calls/s',
          'allowed calls/s',
          'LB s',
          'wall ÷ LB',
          'queue s avg',
          'run s avg',
          'worker CPU s',
          'machine busy',
          "machine's CPU by process",
          'binds',
        ],
        rows: rows.map((r) => [
          r.qps,
          r.latencyMs,
          `${r.workers} + ${r.apis}`,
          r.concurrency / r.workers,
          r.wallS.toFixed(2),
          r.throughput.toFixed(1),
          r === at(r.qps, 1, r.latencyMs) ? '1.00×' : ratio(r.throughput, at(r.qps, 1, r.latencyMs).throughput),
          Math.round(r.calls / r.wallS),
          r.peakCallsPerS,
          r.qps,
          r.lowerBoundS.toFixed(2),
          ratio(r.wallS, r.lowerBoundS),
          r.queueWaitS.toFixed(2),
          r.runS.toFixed(2),
          sumCpu(r, 'worker').toFixed(1),
          `${Math.round(100 * r.machineBusy)}%`,
          renderCpuShares(r.cpuByRole),
          bound(r),
        ]),
      },
    ],
    notes: [
      `${slowMs} ms per call, K8S_QPS=${hi}: 1 worker ${at(hi, 1, slowMs).throughput.toFixed(1)} ns/s, 2 workers ` +
        `${at(hi, 2, slowMs).throughput.toFixed(1)} ns/s (${speedSlow.toFixed(2)}×): ` +
        `each worker keeps WORKER_CONCURRENCY=${settings.workerConcurrency} requests in flight, so with a slow API ` +
        `server the calls in flight bind and a second process ` +
        `(or a higher WORKER_CONCURRENCY) adds throughput, up to K8S_QPS.`,
      `K8S_QPS=${lo}: 1 worker runs at ${Math.round(at(lo, 1).calls / at(lo, 1).wallS)} calls/s and 2 workers at ` +
        `${Math.round(at(lo, 2).calls / at(lo, 2).wallS)} calls/s (${speedLo.toFixed(2)}× the namespaces/s): the ` +
        `shared budget binds, so a second worker ` +
        `adds nothing here; it is where K8S_QPS must be raised (as far as the API server allows) to go faster.`,
      `K8S_QPS=${hi}: 1 worker ${at(hi, 1).throughput.toFixed(1)} ns/s, 2 workers ` +
        `${at(hi, 2).throughput.toFixed(1)} ns/s (${speedHi.toFixed(2)}×) with the machine ` +
        `${Math.round(100 * at(hi, 2).machineBusy)}% busy: worker CPU per namespace ` +
        `(${Math.round((1000 * sumCpu(at(hi, 1), 'worker')) / at(hi, 1).n)} ms) × N exceeds what ${cpus().length} ` +
        `cores give next to Postgres and the emulator, so the limit ` +
        `of this machine binds before K8S_QPS; the lower bound from ${settings.latencyMs} ms × calls ÷ concurrency ` +
        `is ${at(hi, 1).lowerBoundConcS.toFixed(2)} s.`,
      `K8S_QPS=${hi}, 1 worker with WORKER_CONCURRENCY=${wide}: ${wideRow.throughput.toFixed(1)} ns/s ` +
        `(${ratio(wideRow.throughput, at(hi, 1).throughput)} one worker at ${settings.workerConcurrency}, ` +
        `${ratio(wideRow.throughput, at(hi, 2).throughput)} two): once the limit is out of the way, more requests in ` +
        `flight in one process cost the machine less than a second process (its CPU: ` +
        `${sumCpu(wideRow, 'worker').toFixed(1)} s against ${sumCpu(at(hi, 2), 'worker').toFixed(1)} s for two).`,
    ],
    targets: [
      {
        bench: name,
        target: 'throughput grows with workers until K8S_QPS binds',
        measured:
          `2 workers ÷ 1: ${speedSlow.toFixed(2)}× with ${slowMs} ms per call (concurrency binds); ` +
          `${speedHi.toFixed(2)}× with ${settings.latencyMs} ms (this machine's CPU binds); ${speedLo.toFixed(2)}× ` +
          `at K8S_QPS=${lo} (the limit binds)`,
        // Below the limit a second worker must help where one worker's concurrency binds; at the limit it cannot.
        met: speedSlow > 1.1 && speedLo < 1.1,
      },
    ],
  };
}
