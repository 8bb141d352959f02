// 8. Fair across clusters: BENCH_FAIRNESS_CLUSTERS (10) emulator processes, a kubeconfig context each, N namespaces
// each (2 Deployments, restart all), submitted together; cluster c0 answers every call 100 ms late and c1 answers
// 20 % of its calls with 503. Reported: each cluster's wall time, and the healthy clusters' total compared with
// a run of the same healthy clusters alone (target ≤ 1.2×), in BENCH_FAIRNESS_PAIRS (3) alternated pairs of runs,
// judged on the median pair. One worker at the service's defaults.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import type { BenchContext } from './lib/context.js';
import { startEmulatorProcess, type EmulatorProcess } from './lib/emulator.js';
import { settings } from './lib/env.js';
import { E2E_BODY, pool, submitOne } from './lib/onboard.js';
import { getLogDir, sleep } from './lib/proc.js';
import { cpuSeconds, MachineCpu } from './lib/rss.js';
import { fmt, type Section, type Target } from './lib/report.js';
import { Stack } from './lib/stack.js';

export const name = 'fairness';

const SLOW = 'c0';
const FLAKY = 'c1';
const LIMIT = 1.2;

interface Kubeconfig {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
}

/** One kubeconfig with a context (and cluster and user) per emulator: c0 … c9. */
function mergeKubeconfigs(emulators: EmulatorProcess[]): string {
  const merged = { apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] } as Kubeconfig & {
    apiVersion: string;
    kind: string;
    'current-context'?: string;
  };
  emulators.forEach((e, i) => {
    const k = load(readFileSync(e.kubeconfig, 'utf8')) as Kubeconfig;
    const n = `c${i}`;
    merged.clusters.push({ name: n, cluster: k.clusters[0].cluster });
    merged.users.push({ name: n, user: k.users[0].user });
    merged.contexts.push({ name: n, context: { cluster: n, user: n } });
  });
  merged['current-context'] = 'c2';
  const file = join(getLogDir(), 'fairness.kubeconfig');
  writeFileSync(file, dump(merged));
  return file;
}

/** One pair of runs: with the slow clusters and without them, in the order run. */
interface Pair {
  k: number;
  withFirst: boolean;
  withSlow: RunResult;
  without: RunResult;
  ratio: number;
}

interface RunResult {
  label: string;
  clusters: string[];
  /** Per cluster: seconds from the worker's start to its last request's end, and outcomes. */
  perCluster: Map<string, { wallS: number; succeeded: number; failed: number; emulatorCpuS: number }>;
  /** Per cluster, from the worker's /metrics at the end: its Kubernetes calls, those answered 503, jobs put back. */
  workerCounts: Map<string, { calls: number; unavailable: number; deferred: number }>;
  /** Per cluster the worker judged an outlier: seconds from the worker's start to its first verdict, and how many. */
  outliers: Map<string, { firstS: number; verdicts: number }>;
  healthyWallS: number;
  load: string;
  /** Over the whole run: the machine's busy share, and CPU seconds of the worker and of the clusters' emulators. */
  busy: number;
  workerCpuS: number;
  emulatorCpuS: number;
}

async function runOnce(
  label: string,
  clusters: string[],
  env: { emulators: EmulatorProcess[]; kubeconfig: string; n: number },
): Promise<RunResult> {
  const stack = await Stack.create(`fairness_${label}`, env.emulators[0], { KUBECONFIG: env.kubeconfig });
  try {
    const api = await stack.startApi('api1');
    const targets = clusters.flatMap((c) =>
      Array.from({ length: env.n }, (_, i) => ({ cluster: c, namespace: `fair-${label}-${i}` })),
    );
    // Interleaved, as callers across clusters would send them.
    targets.sort((a, b) => Number(a.namespace.split('-').pop()) - Number(b.namespace.split('-').pop()));
    await pool(targets, 20, (t) => submitOne(stack, api, { ...E2E_BODY(t.namespace), cluster: t.cluster }));
    const load = (await import('node:os'))
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ');
    const t0 = new Date();
    const machine = new MachineCpu().start();
    const emulatorPids = clusters.map((c) => env.emulators[Number(c.slice(1))].child.pid);
    const cpuEach = () => emulatorPids.map((pid) => cpuSeconds(pid) ?? 0);
    const emulatorCpu0 = cpuEach();
    const worker = await stack.startWorker('worker1');
    const deadline = Date.now() + settings.e2eTimeoutS * 1000;
    for (;;) {
      const { rows } = await stack
        .db()
        .query<{ n: number }>(`SELECT count(*)::int AS n FROM onboarding_request WHERE finished_at IS NOT NULL`);
      if (rows[0].n >= targets.length) break;
      if (Date.now() > deadline) throw new Error(`${label}: only ${rows[0].n}/${targets.length} ended in time`);
      await sleep(500);
    }
    const busy = machine.busyShare();
    const workerCpuS = cpuSeconds(worker.pid) ?? NaN;
    const workerCounts = await countsFromMetrics(worker.url);
    const emulatorCpu = cpuEach().map((s, i) => s - emulatorCpu0[i]);
    const emulatorCpuS = emulatorCpu.reduce((a, b) => a + b, 0);
    const { rows } = await stack.db().query<{ cluster: string; last: Date; ok: number; failed: number }>(
      `SELECT cluster, max(finished_at) AS last, count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS ok,
              count(*) FILTER (WHERE status <> 'SUCCEEDED')::int AS failed
         FROM onboarding_request GROUP BY cluster ORDER BY cluster`,
    );
    const perCluster = new Map(
      rows.map((r) => [
        r.cluster,
        {
          wallS: (r.last.getTime() - t0.getTime()) / 1000,
          succeeded: r.ok,
          failed: r.failed,
          emulatorCpuS: emulatorCpu[clusters.indexOf(r.cluster)] ?? NaN,
        },
      ]),
    );
    const healthy = [...perCluster].filter(([c]) => c !== SLOW && c !== FLAKY).map(([, v]) => v.wallS);
    return {
      label,
      clusters,
      perCluster,
      workerCounts,
      outliers: outlierVerdicts(worker.child.logFile, t0.getTime()),
      healthyWallS: Math.max(...healthy),
      load,
      busy,
      workerCpuS,
      emulatorCpuS,
    };
  } finally {
    await stack.destroy();
  }
}

/**
 * What the worker's /metrics say per cluster: Kubernetes calls (osm_onboarding_kube_request_duration_seconds_count,
 * every verb and code), those answered 503 (each one retried), and jobs taken and put back over the cluster's share
 * (osm_onboarding_jobs_deferred_total). They tell the two costs of an outlier apart: retries and deferrals.
 */
async function countsFromMetrics(url: string): Promise<RunResult['workerCounts']> {
  const counts: RunResult['workerCounts'] = new Map();
  const of = (cluster: string) => {
    let c = counts.get(cluster);
    if (!c) counts.set(cluster, (c = { calls: 0, unavailable: 0, deferred: 0 }));
    return c;
  };
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const calls = /^osm_onboarding_kube_request_duration_seconds_count\{([^}]*)\} (\d+)/.exec(line);
    if (calls) {
      const cluster = /cluster="([^"]*)"/.exec(calls[1])?.[1] ?? '?';
      of(cluster).calls += Number(calls[2]);
      if (/code="503"/.test(calls[1])) of(cluster).unavailable += Number(calls[2]);
    }
    const deferred = /^osm_onboarding_jobs_deferred_total\{cluster="([^"]*)"\} (\d+)/.exec(line);
    if (deferred) of(deferred[1]).deferred += Number(deferred[2]);
  }
  return counts;
}

/** The worker's outlier verdicts (src/kubernetes/cluster-health.ts logs each one: "cluster c1 is an outlier (…)"). */
function outlierVerdicts(logFile: string, t0: number): Map<string, { firstS: number; verdicts: number }> {
  const out = new Map<string, { firstS: number; verdicts: number }>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const m = /"time":(\d+).*"msg":"cluster (\S+) is an outlier /.exec(line);
    if (!m) continue;
    const seen = out.get(m[2]);
    if (seen) seen.verdicts += 1;
    else out.set(m[2], { firstS: (Number(m[1]) - t0) / 1000, verdicts: 1 });
  }
  return out;
}

const workerCounts = (run: RunResult, c: string): string => {
  const w = run.workerCounts.get(c);
  return w ? `${w.calls} / ${w.unavailable} / ${w.deferred}` : '—';
};

const servedLast = (run: RunResult, c: string): string => {
  const o = run.outliers.get(c);
  return o ? `${fmt(o.firstS, 1)} (${o.verdicts})` : '—';
};

/** A run's wall time and where the machine's CPU went (the emulators stand in for API servers on other machines). */
const usage = (run: RunResult): string[] => [
  fmt(run.healthyWallS, 1),
  run.load,
  `${Math.round(100 * run.busy)}%`,
  fmt(run.workerCpuS, 1),
  fmt(run.emulatorCpuS, 1),
];

export async function run(ctx: BenchContext): Promise<Section> {
  void ctx;
  const n = settings.fairnessNamespaces;
  const emulators: EmulatorProcess[] = [];
  try {
    // Started side by side; the array keeps the order c0 … c9.
    emulators.push(
      ...(await Promise.all(
        Array.from({ length: settings.fairnessClusters }, (_, i) => startEmulatorProcess(`fair-emulator-${i}`)),
      )),
    );
    const kubeconfig = mergeKubeconfigs(emulators);
    const pairCount = settings.fairnessPairs;
    for (const [i, e] of emulators.entries()) {
      await e.setLatency(i === 0 ? 100 : settings.latencyMs);
      // Namespaces of their own for every run: an onboarded namespace would make the next run's steps shorter.
      for (let k = 1; k <= pairCount; k++) {
        await e.seed(`fair-with${k}-`, n, { deployments: 2 });
        await e.seed(`fair-without${k}-`, n, { deployments: 2 });
      }
    }
    await emulators[1].addFault({ status: 503, reason: 'ServiceUnavailable', probability: 0.2 });
    const all = emulators.map((_, i) => `c${i}`);
    const healthy = all.filter((c) => c !== SLOW && c !== FLAKY);
    const env = { emulators, kubeconfig, n };
    const pairs: Pair[] = [];
    for (let k = 1; k <= pairCount; k++) {
      // The order is swapped every pair: the second of two runs in a row can be slower or faster for the machine's
      // own reasons, and alternating spreads that over both sides.
      const withFirst = k % 2 === 1;
      let withSlow: RunResult;
      let without: RunResult;
      if (withFirst) {
        withSlow = await runOnce(`with${k}`, all, env);
        without = await runOnce(`without${k}`, healthy, env);
      } else {
        without = await runOnce(`without${k}`, healthy, env);
        withSlow = await runOnce(`with${k}`, all, env);
      }
      const ratio = withSlow.healthyWallS / without.healthyWallS;
      pairs.push({ k, withFirst, withSlow, without, ratio });
      process.stdout.write(
        `  pair ${k} (${withFirst ? 'with → without' : 'without → with'}): ${fmt(withSlow.healthyWallS, 1)} s vs ` +
          `${fmt(without.healthyWallS, 1)} s = ${ratio.toFixed(2)}×\n`,
      );
    }
    // The median pair (of an even count, the higher of the two middle ones); its runs fill the per-cluster table.
    const median = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor(pairs.length / 2)];
    const { withSlow, without, ratio: r } = median;
    const each = pairs.map((p) => `${p.ratio.toFixed(2)}×`).join(', ');
    const targets: Target[] = [
      {
        bench: name,
        target: `the ${healthy.length} healthy clusters' total wall ≤ ${LIMIT}× their run without the slow ones`,
        measured:
          `${r.toFixed(2)}× (${fmt(withSlow.healthyWallS, 1)} s vs ${fmt(without.healthyWallS, 1)} s)` +
          (pairs.length > 1 ? `, the median of ${pairs.length} alternated pairs: ${each}` : ''),
        met: r <= LIMIT,
      },
    ];
    const role = (c: string) => (c === SLOW ? '100 ms per call' : c === FLAKY ? '20 % 503' : 'healthy');
    return {
      name,
      title:
        `8. Fair across clusters: ${settings.fairnessClusters} clusters × ${n} namespaces, one slow, one failing ` +
        `20 % of calls`,
      intro:
        `Each cluster is an emulator process of its own (a kubeconfig context each), ` +
        `${settings.latencyMs} ms per call ` +
        `except ${SLOW} (100 ms) and ${FLAKY} (${settings.latencyMs} ms, 20 % of calls answered 503). Every request ` +
        `(2 Deployments, restart all, prerequisites off) is submitted first, interleaved across clusters, then one ` +
        `worker starts (WORKER_CONCURRENCY=${settings.workerConcurrency} per cluster, ` +
        `K8S_QPS=${settings.k8sQps} per cluster). ` +
        `Wall = worker start → the cluster's last request ended. "without" runs only the ${healthy.length} healthy ` +
        `clusters. Each run has a fresh database and namespaces of its own. ` +
        (pairCount > 1
          ? `${pairCount} pairs of runs, the order swapped every pair (with → without, then without → with); the ` +
            `target is judged on the median pair's ratio, whose runs the per-cluster table shows.`
          : 'One pair of runs, with → without (BENCH_FAIRNESS_PAIRS).'),
      tables: [
        {
          headers: [
            'cluster',
            'behaves',
            'with: wall s',
            'with: ok / failed',
            'with: emulator CPU s',
            'with: served last from s (verdicts)',
            'with: worker calls / 503s / jobs put back',
            'without: wall s',
            'without: ok / failed',
            'without: emulator CPU s',
            'without: worker calls / 503s / jobs put back',
          ],
          rows: all.map((c) => {
            const a = withSlow.perCluster.get(c);
            const b = without.perCluster.get(c);
            return [
              c,
              role(c),
              a ? fmt(a.wallS, 1) : '—',
              a ? `${a.succeeded} / ${a.failed}` : '—',
              a ? fmt(a.emulatorCpuS, 1) : '—',
              servedLast(withSlow, c),
              workerCounts(withSlow, c),
              b ? fmt(b.wallS, 1) : '—',
              b ? `${b.succeeded} / ${b.failed}` : '—',
              b ? fmt(b.emulatorCpuS, 1) : '—',
              workerCounts(without, c),
            ];
          }),
        },
        {
          headers: [
            'pair',
            'run',
            'healthy clusters total wall s',
            'load average at worker start',
            'machine busy',
            'worker CPU s (incl. its start)',
            "the emulators' CPU s",
          ],
          rows: pairs.flatMap((p) => {
            const runs: [string, RunResult][] = [
              ['with the slow ones', p.withSlow],
              ['without them', p.without],
            ];
            const order = p.withFirst ? runs : [runs[1], runs[0]];
            const label = `${p.k}${p === median && pairs.length > 1 ? ' (median)' : ''}`;
            return [
              ...order.map(([what, run], i) => [i === 0 ? label : '', what, ...usage(run)]),
              ['', 'ratio', `${p.ratio.toFixed(2)}×`, '', '', '', ''],
            ];
          }),
        },
      ],
      notes: [
        'the fairness rule (src/queue/cluster-share.ts): each cluster has a budget of WORKER_CONCURRENCY slots of ' +
          'its own in a worker, whose concurrency grows with the clusters at work (up to WORKER_MAX_CONCURRENCY, ' +
          "default 128); a job over its cluster's budget is delayed 200 ms back into the queue. An outlier " +
          '(src/kubernetes/cluster-health.ts: ≥ 10 % of its calls failed, or its quicker quarter of calls ≥ 2.5× the ' +
          "other clusters' over 5 s) is served last while a cluster that is not one has work: a budget of 1 " +
          '(CLUSTER_OUTLIER_BUDGET). "served last from": seconds from the worker\'s start to its first verdict, ' +
          'and how many verdicts the worker logged (an outlier stays one for 10 s at least).',
      ],
      targets,
    };
  } finally {
    await Promise.allSettled(emulators.map((e) => e.stop()));
  }
}
