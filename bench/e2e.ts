// 2. End to end: N namespaces × 2 Deployments onboarded ({restart: all, prerequisites off}) against
// the emulator with injected latency; wall time, API calls per namespace, and the ratio to the
// lower bound max(calls × latency ÷ concurrency, calls ÷ K8S_QPS).

import type { BenchContext, E2EResult } from './lib/context.js';
import { settings } from './lib/env.js';
import { runE2E } from './lib/onboard.js';
import { startPgCensus } from './lib/pg-proxy.js';
import { startRedisCensus } from './lib/redis-proxy.js';
import { fmt, ratio, type Section } from './lib/report.js';

export const name = 'e2e';

export function breakdownRows(r: E2EResult): (string | number)[][] {
  return Object.entries(r.callBreakdown)
    .sort((a, b) => b[1] - a[1])
    .map(([call, n]) => [call, n, (n / r.n).toFixed(2)]);
}

export const sumCpu = (r: E2EResult, prefix: string) =>
  Object.entries(r.cpuS)
    .filter(([k]) => k.startsWith(prefix))
    .reduce((a, [, v]) => a + v, 0);

export async function run(ctx: BenchContext): Promise<Section> {
  const results: E2EResult[] = [];
  for (const n of settings.e2eSizes) results.push(await runE2E(ctx, { n, bench: 'e2e', tag: 'e' }));
  // Census: the worker's Postgres round trips per namespace, counted by a proxy in a small separate run.
  // ... and its Redis commands by name, through a second proxy in the same run.
  const census = await startPgCensus();
  const redisCensus = await startRedisCensus();
  let censusRows: (string | number)[][];
  let censusPerNs: number;
  let redisRows: (string | number)[][];
  let redisPerNs: number;
  try {
    const n = 10;
    await runE2E(ctx, {
      n,
      bench: 'census',
      tag: 'c',
      record: false,
      workerEnv: (stack) => ({
        DATABASE_URL: census.url(stack.databaseUrl),
        REDIS_URL: redisCensus.url(settings.redisUrl),
      }),
    });
    censusPerNs = census.roundTrips() / n;
    censusRows = census
      .statements()
      .slice(0, 12)
      .map(([sql, count]) => [sql, (count / n).toFixed(2)]);
    redisPerNs = redisCensus.total() / n;
    redisRows = redisCensus
      .commands()
      .slice(0, 12)
      .map(([command, count]) => [command, (count / n).toFixed(2)]);
  } finally {
    await census.close();
    await redisCensus.close();
  }
  const main = results[0];
  const nsStep = (r: E2EResult) => r.stepCalls.namespace;
  const section: Section = {
    name,
    title: '2. End to end: onboarding N namespaces (2 Deployments each) against the emulator',
    intro:
      `Each request: \`{ restart: { mode: 'all' }, prerequisites: { enabled: false } }\` → steps mesh, namespace, ` +
      `restart, verify. ` +
      `Emulator latency ${settings.latencyMs} ms per API call; 1 API (ROLE=api) + 1 worker ` +
      `(WORKER_CONCURRENCY=${settings.workerConcurrency}, ` +
      `K8S_QPS=${settings.k8sQps}, K8S_BURST=${settings.k8sBurst}, POLL_MS=${settings.pollMs}, ` +
      `RESTART_SETTLE_MS=${settings.restartSettleMs}). ` +
      `Wall time = first POST → last request's finished_at. Lower bound = max(calls × latency ÷ (workers × ` +
      `WORKER_CONCURRENCY), ` +
      `(calls − burst) ÷ (K8S_QPS + burst/60)) — the budget is per cluster, shared by all processes through Redis.`,
    tables: [
      {
        headers: [
          'N',
          'succeeded',
          'wall s',
          'ns/s',
          'queue s avg',
          'run s avg',
          'API calls',
          'calls/ns',
          'LB conc s',
          'LB QPS s',
          'wall ÷ LB',
          'peak calls/s',
          'namespace step calls',
          'worker CPU ms/ns',
          'worker CPU ms/ns, 2nd half',
          'API CPU ms/ns',
          'machine busy',
        ],
        rows: results.map((r) => [
          r.n,
          `${r.succeeded}/${r.n}`,
          r.wallS.toFixed(2),
          r.throughput.toFixed(1),
          r.queueWaitS.toFixed(2),
          r.runS.toFixed(2),
          r.calls,
          r.callsPerNs.toFixed(2),
          r.lowerBoundConcS.toFixed(2),
          r.lowerBoundQpsS.toFixed(2),
          ratio(r.wallS, r.lowerBoundS),
          r.peakCallsPerS,
          nsStep(r) ? `${nsStep(r).avg.toFixed(2)} avg / ${nsStep(r).max} max` : '—',
          Math.round((1000 * sumCpu(r, 'worker')) / r.n),
          r.warmWorkerCpuMs === undefined ? '—' : r.warmWorkerCpuMs.toFixed(1),
          Math.round((1000 * sumCpu(r, 'api')) / r.n),
          `${Math.round(100 * r.machineBusy)}%`,
        ]),
      },
      {
        title: `API calls by step (N=${main.n}, from each step run's output.apiCalls)`,
        headers: ['step', 'calls avg', 'calls max', 'step ms avg'],
        rows: Object.entries(main.stepCalls).map(([step, s]) => [step, s.avg.toFixed(2), s.max, Math.round(s.avgMs)]),
      },
      {
        title:
          `Worker's Postgres round trips per namespace: ${censusPerNs.toFixed(1)} (census run, N=10); ` +
          `statements per namespace`,
        headers: ['statement', 'per namespace'],
        rows: censusRows,
      },
      {
        title: `Worker's Redis commands per namespace: ${redisPerNs.toFixed(1)} (same census run); by command`,
        headers: ['command', 'per namespace'],
        rows: redisRows,
      },
      {
        title: `API calls by kind as the emulator logged them (N=${main.n})`,
        headers: ['call', 'count', 'per namespace'],
        rows: breakdownRows(main),
      },
    ],
    notes: [],
    targets: [],
  };
  for (const r of results) {
    if (r.failed) section.notes.push(`N=${r.n}: ${r.failures.join(', ')}`);
  }
  section.notes.push(
    `namespace step calls via GET /v1/onboardings/:id (sample of ${main.namespaceStepCallsRest.length}): ` +
      `${main.namespaceStepCallsRest.join(', ') || 'none'}`,
  );
  // Where the worker's CPU went: JavaScript and the runtime (user) or the kernel (system calls, the network stack),
  // and how often another process took its core while it could run.
  section.notes.push(
    "the worker's CPU per namespace, in user space + in the kernel (/proc/<pid>/stat), and the times the kernel " +
      'preempted its main thread: ' +
      results
        .map(
          (r) =>
            `N=${r.n}: ${r.workerCpuSplit.userMsPerNs.toFixed(1)} + ${r.workerCpuSplit.systemMsPerNs.toFixed(1)} ms, ` +
            `${r.workerCpuSplit.involuntaryPerNs.toFixed(1)} preemptions`,
        )
        .join('; '),
  );
  for (const r of results) {
    const binding =
      r.lowerBoundQpsS >= r.lowerBoundConcS ? `K8S_QPS=${r.qps}` : `concurrency ${r.concurrency} × ${r.latencyMs} ms`;
    section.targets.push({
      bench: name,
      target: `N=${r.n}: wall ≤ 1.2× lower bound`,
      measured:
        `${ratio(r.wallS, r.lowerBoundS)} (${fmt(r.wallS, 2)} s vs ${fmt(r.lowerBoundS, 2)} s; bound: ` + `${binding})`,
      met: r.wallS <= 1.2 * r.lowerBoundS,
    });
  }
  // Issue 15, item 2: worker CPU and API calls per namespace for this request (mesh + namespace + restart + verify).
  const workerMs = (1000 * sumCpu(main, 'worker')) / main.n;
  section.targets.push({
    bench: name,
    target: 'worker CPU ≤ 10 ms per namespace',
    measured:
      `${workerMs.toFixed(1)} ms (N=${main.n}, at ${Math.round(100 * main.machineBusy)}% machine busy)` +
      results
        .filter((r) => r.n > main.n && r.warmWorkerCpuMs !== undefined)
        .map((r) => `; ${r.warmWorkerCpuMs!.toFixed(1)} ms over the second half of N=${r.n} (a warm worker)`)
        .join(''),
    met: workerMs <= 10,
  });
  const stepCalls = Object.values(main.stepCalls).reduce((sum, s) => sum + s.avg, 0);
  section.targets.push({
    bench: name,
    target: '≤ 8 API calls per namespace',
    measured:
      `${main.callsPerNs.toFixed(2)} as the emulator logged them (the API's request-time check included); ` +
      `${stepCalls.toFixed(2)} by the worker's steps`,
    met: main.callsPerNs <= 8,
  });
  const nsMax = Math.max(...results.map((r) => nsStep(r)?.max ?? Infinity));
  section.targets.push({
    bench: name,
    target: 'namespace step ≤ 2 API calls',
    measured: `${nsMax} max`,
    met: nsMax <= 2,
  });
  return section;
}
