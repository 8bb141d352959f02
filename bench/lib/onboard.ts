// The end-to-end run shared by benches 2, 3, 5 and 6: seed N namespaces with 2 Deployments each,
// start API(s) and worker(s) of the built service, submit N onboardings over REST, wait until
// Postgres says every request ended, then read the emulator's request log and the step runs.

import type { BenchContext, E2EResult } from './context.js';
import { settings } from './env.js';
import { sleep } from './proc.js';
import {
  cpuSeconds,
  cpuSplit,
  cpuSplitBetween,
  heapBreakdown,
  MachineCpu,
  ProcessCpuCensus,
  RssMonitor,
  type HeapBreakdown,
} from './rss.js';
import { Stack, type ServiceProcess } from './stack.js';

export const E2E_BODY = (namespace: string) => ({
  namespace,
  restart: { mode: 'all' },
  prerequisites: { enabled: false },
});

let seeded = 0;
/** A fresh prefix per call, so no two runs share namespaces. */
export function freshPrefix(tag: string): string {
  seeded += 1;
  return `${tag}${seeded}-`;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

export async function submitOnboardings(
  stack: Stack,
  apis: ServiceProcess[],
  namespaces: string[],
  concurrency = 20,
): Promise<string[]> {
  return pool(namespaces, concurrency, (ns, i) => submitOne(stack, apis[i % apis.length], E2E_BODY(ns)));
}

/**
 * POSTs one onboarding and returns its id. A refusal is retried twice, 200 ms apart, as a caller would retry a 503
 * (e.g. CLUSTER_UNAVAILABLE when the cluster's mesh read failed at the request's time, which a cluster answering
 * 503s to a share of its calls can cause).
 */
export async function submitOne(stack: Stack, api: ServiceProcess, body: object): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${api.url}/v1/onboardings`, {
      method: 'POST',
      headers: stack.headers(),
      body: JSON.stringify(body),
    });
    const reply = (await res.json()) as { id?: string; error?: { code: string; message: string } };
    if (res.status === 202 && reply.id) return reply.id;
    if (attempt >= 3) {
      throw new Error(`POST /v1/onboardings ${JSON.stringify(body)}: HTTP ${res.status} ${JSON.stringify(reply)}`);
    }
    await sleep(200);
  }
}

/** Polls Postgres until `count` requests have ended; returns their status counts. */
/** Polls an API's gauge until its namespace informer has synced; the seconds it took, or undefined at the timeout. */
export async function informerSynced(api: ServiceProcess, timeoutS: number): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < timeoutS * 1000) {
    const text = await (await fetch(`${api.url}/metrics`)).text();
    if (/^osm_onboarding_namespace_informer_synced\{[^}]*\} 1$/m.test(text))
      return (performance.now() - started) / 1000;
    await sleep(200);
  }
  return undefined;
}

/**
 * Starts an API's namespace informer and waits for it: a long-running API lists a cluster's namespaces once, at its
 * first request for that cluster, so a measured run should not count that list. The request names a namespace the
 * cluster does not have: refused at the edge, nothing is queued.
 */
export async function warmInformer(api: ServiceProcess, stack: Stack, timeoutS = 120): Promise<number | undefined> {
  const started = performance.now();
  const res = await fetch(`${api.url}/v1/onboardings`, {
    method: 'POST',
    headers: stack.headers(),
    body: JSON.stringify({ namespace: 'bench-no-such-namespace', prerequisites: { enabled: false } }),
  });
  await res.arrayBuffer(); // whatever the answer, the request started the informer
  if ((await informerSynced(api, timeoutS)) === undefined) return undefined;
  return (performance.now() - started) / 1000;
}

export async function waitForTerminal(
  stack: Stack,
  count: number,
  timeoutS: number,
  onTick?: (done: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  let lastLog = Date.now();
  for (;;) {
    const { rows } = await stack
      .db()
      .query<{ n: string }>(
        `SELECT count(*) AS n FROM onboarding_request WHERE status IN ('SUCCEEDED','FAILED','CANCELLED','REJECTED')`,
      );
    const done = Number(rows[0].n);
    onTick?.(done);
    if (done >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${done}/${count} requests ended within ${timeoutS} s`);
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      process.stdout.write(`    … ${done}/${count} requests done\n`);
    }
    await sleep(50);
  }
}

export interface E2EOptions {
  n: number;
  workers?: number;
  apis?: number;
  qps?: number;
  burst?: number;
  latencyMs?: number;
  /** WORKER_CONCURRENCY of each worker (default BENCH_WORKER_CONCURRENCY). */
  concurrency?: number;
  /** Bench name used for memory records and the database name. */
  bench: string;
  tag?: string;
  /** Extra environment of the worker processes (e.g. DATABASE_URL through the census proxy). */
  workerEnv?: (stack: Stack) => Record<string, string>;
  /** Keep the result out of ctx.e2e and ctx.memory (census runs). */
  record?: boolean;
}

/** The key a run's result is recorded under in ctx.e2e: N, workers, APIs, K8S_QPS, and a WORKER_CONCURRENCY of
 * its own when it has one. */
function e2eKey(opts: E2EOptions): string {
  const perWorker = opts.concurrency ?? settings.workerConcurrency;
  return (
    `${opts.n}/${opts.workers ?? 1}w/${opts.apis ?? 1}a/${opts.qps ?? settings.k8sQps}qps` +
    (perWorker === settings.workerConcurrency ? '' : `/c${perWorker}`)
  );
}

/** The recorded result of the same run (another bench ran it first), or a new run. */
export async function e2eOnce(ctx: BenchContext, opts: E2EOptions): Promise<E2EResult> {
  return ctx.e2e.get(e2eKey(opts)) ?? (await runE2E(ctx, opts));
}

export async function runE2E(ctx: BenchContext, opts: E2EOptions): Promise<E2EResult> {
  const workers = opts.workers ?? 1;
  const apis = opts.apis ?? 1;
  const qps = opts.qps ?? settings.k8sQps;
  const burst = opts.burst ?? settings.k8sBurst;
  const latencyMs = opts.latencyMs ?? settings.latencyMs;
  const perWorker = opts.concurrency ?? settings.workerConcurrency;
  const key = e2eKey(opts);
  const emulator = await ctx.emulator();
  const prefix = freshPrefix(opts.tag ?? 'e');
  const namespaces = Array.from({ length: opts.n }, (_, i) => `${prefix}${i}`);
  process.stdout.write(`  e2e ${key}: seeding ${opts.n} namespaces × 2 Deployments… `);
  const seedS = await emulator.seed(prefix, opts.n, { deployments: 2 });
  process.stdout.write(`${seedS.toFixed(1)} s\n`);

  const stack = await Stack.create(`${opts.bench}_${opts.n}_${workers}w_${qps}`, emulator, {
    K8S_QPS: String(qps),
    K8S_BURST: String(burst),
  });
  const rss = new RssMonitor();
  try {
    // The processes boot side by side (a boot is mostly one core's work for a few seconds).
    const [apiProcs, workerProcs] = await Promise.all([
      Promise.all(Array.from({ length: apis }, (_, i) => stack.startApi(`api${i + 1}`))),
      Promise.all(
        Array.from({ length: workers }, (_, i) =>
          stack.startWorker(`worker${i + 1}`, { WORKER_CONCURRENCY: perWorker, ...opts.workerEnv?.(stack) }),
        ),
      ),
    ]);
    for (const p of [...apiProcs, ...workerProcs]) rss.track(p.label, p.pid);

    await Promise.all(apiProcs.map((api) => warmInformer(api, stack)));
    await emulator.setLatency(latencyMs);
    await emulator.clearRequests();
    rss.resetCpu();
    const machine = new MachineCpu().start();
    const census = new ProcessCpuCensus(
      new Map([
        ...apiProcs.map((p) => [p.pid, 'api'] as const),
        ...workerProcs.map((p) => [p.pid, 'worker'] as const),
        [emulator.child.pid, 'emulator'],
        [process.pid, 'bench'],
      ]),
    ).start();
    const splitBefore = workerProcs.map((p) => cpuSplit(p.pid));
    const t0 = Date.now();
    const ids = await submitOnboardings(stack, apiProcs, namespaces);
    const submitS = (Date.now() - t0) / 1000;
    // The workers' CPU at the run's halfway point: the second half's CPU per namespace is the warm figure (V8 has
    // optimized the request path by then; the first requests of a new process pay for its compilation).
    const workerCpu = () => workerProcs.reduce((sum, p) => sum + (cpuSeconds(p.pid) ?? 0), 0);
    let half: { done: number; cpuS: number } | undefined;
    await waitForTerminal(stack, ids.length, settings.e2eTimeoutS, (done) => {
      if (!half && done >= ids.length / 2) half = { done, cpuS: workerCpu() };
    });
    const warmWorkerCpuMs =
      half && ids.length - half.done > 0 ? ((workerCpu() - half.cpuS) * 1000) / (ids.length - half.done) : undefined;
    const { rows: endRows } = await stack
      .db()
      .query<{ last: Date }>(`SELECT max(finished_at) AS last FROM onboarding_request`);
    const wallS = (endRows[0].last.getTime() - t0) / 1000;
    const split = cpuSplitBetween(
      splitBefore,
      workerProcs.map((p) => cpuSplit(p.pid)),
    );
    const machineBusy = machine.busyShare();
    const cpuByRole = census.seconds();
    await emulator.setLatency(0);
    const heaps = new Map<string, HeapBreakdown | undefined>();
    for (const p of [...apiProcs, ...workerProcs]) heaps.set(p.label, await heapBreakdown(`${p.url}/metrics`, p.pid));
    const memory = rss.finish();
    for (const m of opts.record === false ? [] : memory) {
      ctx.memory.push({
        bench: `${opts.bench} (${key})`,
        process: m.label,
        role: m.label.startsWith('api') ? 'api' : 'worker',
        hwmMb: m.hwmMb,
        maxRssMb: m.maxRssMb,
        startRssMb: m.startRssMb,
        heap: heaps.get(m.label),
        cpuMsPerItem: (m.cpuS * 1000) / opts.n,
      });
    }

    const stats = await emulator.requestStats(prefix);
    const { rows: statusRows } = await stack
      .db()
      .query<{ status: string; error_code: string | null; n: string }>(
        `SELECT status, error_code, count(*) AS n FROM onboarding_request GROUP BY 1, 2`,
      );
    const { rows: stepRows } = await stack.db().query<{ name: string; avg: string; max: number; avg_ms: string }>(
      `SELECT name, avg((output->>'apiCalls')::int) AS avg, max((output->>'apiCalls')::int) AS max,
        avg(duration_ms) AS avg_ms
         FROM step_run WHERE status = 'SUCCEEDED' GROUP BY name ORDER BY min(position)`,
    );
    // The namespace step's own count as the API reports it (GET /v1/onboardings/:id).
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 10)) === 0).slice(0, 10);
    const namespaceStepCallsRest: number[] = [];
    for (const id of sample) {
      const res = await fetch(`${apiProcs[0].url}/v1/onboardings/${id}`, { headers: stack.headers() });
      const body = (await res.json()) as { steps: { name: string; output: { apiCalls?: number } | null }[] };
      const step = body.steps.find((s) => s.name === 'namespace');
      if (step?.output?.apiCalls !== undefined) namespaceStepCallsRest.push(step.output.apiCalls);
    }

    const { rows: timing } = await stack.db().query<{ wait: number; run: number; max_wait: number; max_run: number }>(
      `SELECT avg(extract(epoch FROM started_at - created_at)) AS wait,
        avg(extract(epoch FROM finished_at - started_at)) AS run,
              max(extract(epoch FROM started_at - created_at)) AS max_wait,
                max(extract(epoch FROM finished_at - started_at)) AS max_run
         FROM onboarding_request`,
    );
    const succeeded = statusRows.filter((r) => r.status === 'SUCCEEDED').reduce((a, r) => a + Number(r.n), 0);
    const failedRows = statusRows.filter((r) => r.status !== 'SUCCEEDED');
    const calls = stats.total;
    const concurrency = workers * perWorker;
    const lowerBoundConcS = (calls * latencyMs) / 1000 / concurrency;
    // The budget is per cluster, shared by every process through Redis (K8S_RATE_LIMIT_SCOPE=cluster):
    // the burst, then K8S_QPS calls/s plus the burst's refill (K8S_BURST per minute).
    const lowerBoundQpsS = Math.max(0, calls - burst) / (qps + burst / 60);
    const lowerBoundS = Math.max(lowerBoundConcS, lowerBoundQpsS);
    const result: E2EResult = {
      key,
      n: opts.n,
      workers,
      apis,
      qps,
      burst,
      concurrency,
      latencyMs,
      submitS,
      wallS,
      succeeded,
      failed: failedRows.reduce((a, r) => a + Number(r.n), 0),
      failures: failedRows.map((r) => `${r.n}× ${r.status}${r.error_code ? ` ${r.error_code}` : ''}`),
      calls,
      callsPerNs: calls / opts.n,
      clusterScopedCalls: stats.clusterScoped,
      callBreakdown: stats.byCall,
      peakCallsPerS: stats.peakPerSecond,
      stepCalls: Object.fromEntries(
        stepRows.map((r) => [r.name, { avg: Number(r.avg), max: r.max, avgMs: Number(r.avg_ms) }]),
      ),
      namespaceStepCallsRest,
      lowerBoundConcS,
      lowerBoundQpsS,
      lowerBoundS,
      throughput: opts.n / wallS,
      queueWaitS: Number(timing[0].wait),
      runS: Number(timing[0].run),
      maxQueueWaitS: Number(timing[0].max_wait),
      maxRunS: Number(timing[0].max_run),
      cpuS: Object.fromEntries(memory.map((m) => [m.label, m.cpuS])),
      warmWorkerCpuMs,
      workerCpuSplit: {
        userMsPerNs: (split.userS * 1000) / opts.n,
        systemMsPerNs: (split.systemS * 1000) / opts.n,
        involuntaryPerNs: split.involuntary / opts.n,
      },
      machineBusy,
      cpuByRole,
    };
    if (opts.record !== false) ctx.e2e.set(key, result);
    process.stdout.write(
      `    ${opts.n} ns in ${wallS.toFixed(2)} s (${succeeded} succeeded), ${result.callsPerNs.toFixed(1)} ` +
        `calls/ns, lower bound ${lowerBoundS.toFixed(2)} s\n`,
    );
    return result;
  } finally {
    rss.finish();
    await emulator.setLatency(0).catch(() => undefined);
    await stack.destroy();
  }
}
