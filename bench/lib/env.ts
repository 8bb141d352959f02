import { readFileSync } from 'node:fs';

const DOCKERFILE = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
// Knobs of the bench run, all from the environment (documented in bench/README.md).

const num = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${raw}`);
  return n;
};

const list = (name: string, fallback: number[]): number[] => {
  const raw = process.env[name];
  if (!raw) return fallback;
  return raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isFinite(n) || n <= 0)
      throw new Error(`${name} must be a comma-separated list of positive numbers, got ${raw}`);
    return n;
  });
};

export const settings = {
  // 8. fairness (bench/fairness.ts): namespaces per cluster
  fairnessNamespaces: num('BENCH_FAIRNESS_N', 100),
  /** Clusters (emulator processes) of the fairness bench: one slow, one failing, the rest healthy (at least 3). */
  fairnessClusters: Math.max(3, num('BENCH_FAIRNESS_CLUSTERS', 10)),
  /**
   * Pairs of runs (with the slow clusters, without them), the order swapped every pair; the target is judged on the
   * median pair's ratio. One pair's ratio moved between 1.08 and 1.20 over three runs with the same worker code.
   */
  fairnessPairs: Math.max(1, Math.round(num('BENCH_FAIRNESS_PAIRS', 3))),
  // 7. history (bench/history.ts)
  historyRequests: num('BENCH_HISTORY_REQUESTS', 1_000_000),
  historyEventsPerRequest: num('BENCH_HISTORY_EVENTS_PER_REQUEST', 10),
  historyBaselineRequests: num('BENCH_HISTORY_BASELINE_REQUESTS', 1_000),
  historyReps: num('BENCH_HISTORY_REPS', 20),
  historyAcceptSeconds: num('BENCH_HISTORY_ACCEPT_SECONDS', 5),
  historyExportRequests: num('BENCH_HISTORY_EXPORT_REQUESTS', 1_000),
  historyRetentionDays: num('BENCH_HISTORY_RETENTION_DAYS', 300),

  databaseAdminUrl: process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  keepDb: process.env.BENCH_KEEP_DB === '1',
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
  /** Before each bench, wait up to quietWaitS while more than quietBusy of the machine is busy with other work. */
  quietBusy: num('BENCH_QUIET_BUSY', 0.3),
  quietWaitS: num('BENCH_QUIET_WAIT_S', 20),

  // 1. ingest
  ingestConnections: list('BENCH_INGEST_CONNECTIONS', [1, 10, 50, 100]),
  ingestSeconds: num('BENCH_INGEST_SECONDS', 5),
  ingestRate: num('BENCH_INGEST_RATE', 500),
  ingestRateSeconds: num('BENCH_INGEST_RATE_SECONDS', 10),
  /** Seconds of each warm-up round's REST load (its GraphQL load is half; the HTTP ceiling's run one more). */
  ingestWarmupS: num('BENCH_INGEST_WARMUP_S', 5),
  /** The warm-up stops at the JIT's steady state (CPU per request within 5 % of the round before) or after this. */
  ingestWarmupMaxS: num('BENCH_INGEST_WARMUP_MAX_S', 60),
  ingestNamespaces: num('BENCH_INGEST_NAMESPACES', 160_000),
  /** The HTTP platforms measured side by side (HTTP_PLATFORM of the API process). */
  ingestPlatforms: (process.env.BENCH_INGEST_PLATFORMS ?? 'express,fastify').split(',').map((p) => p.trim()),
  /**
   * Alternated pairs of the platform A/B (REST at 50 connections, both APIs up, loaded one at a time, the order
   * swapped every pair): which platform is faster. The sweeps above run one platform after the other, and the
   * second of two loads in a row ran 20-30 % slower whichever it was (measured 2026-12-05).
   */
  ingestAbPairs: num('BENCH_INGEST_AB_PAIRS', 8),
  /** Rates within this share of each other count as a tie, and the lower API CPU per request decides. */
  ingestAbTie: num('BENCH_INGEST_AB_TIE', 0.05),
  /** The shipped HTTP_PLATFORM default (src/config/config.ts), which the A/B's faster platform should be. */
  defaultPlatform:
    readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8').match(
      /HTTP_PLATFORM: z\.enum\(\[[^\]]*\]\)\.default\('(\w+)'\)/,
    )?.[1] ?? 'unknown',
  /**
   * PRECHECK_TIMEOUT_MS of the measured API processes: 0 (off) measures the service's own cost per request; the
   * request-time namespace read goes through the cluster's K8S_QPS budget, measured in a row of its own.
   */
  ingestPrecheckMs: num('BENCH_INGEST_PRECHECK_MS', 0),

  // 2. e2e (and 5, 6)
  e2eSizes: list('BENCH_E2E_N', [100, 1000]),
  scaleoutSlowLatencyMs: num('BENCH_SCALEOUT_SLOW_LATENCY_MS', 50),
  // The image's runtime settings (Dockerfile), so the bench measures the service as it is deployed.
  nodeOptions: process.env.BENCH_NODE_OPTIONS ?? DOCKERFILE.match(/NODE_OPTIONS="([^"]*)"/)?.[1] ?? '',
  mallocArenaMax: process.env.BENCH_MALLOC_ARENA_MAX ?? DOCKERFILE.match(/MALLOC_ARENA_MAX=(\d+)/)?.[1] ?? '',
  latencyMs: num('BENCH_LATENCY_MS', 10),
  workerConcurrency: num('BENCH_WORKER_CONCURRENCY', 8),
  k8sQps: num('BENCH_K8S_QPS', 50),
  k8sBurst: num('BENCH_K8S_BURST', 100),
  pollMs: num('BENCH_POLL_MS', 100),
  restartSettleMs: num('BENCH_RESTART_SETTLE_MS', 20),
  e2eTimeoutS: num('BENCH_E2E_TIMEOUT_S', 900),

  // 3. kubectl loop
  kubectlN: num('BENCH_KUBECTL_N', 100),
  kubectl: process.env.BENCH_KUBECTL ?? '/usr/bin/kubectl',

  // 4. progress latency
  progressSubscribers: num('BENCH_PROGRESS_SUBSCRIBERS', 1000),
  progressRequests: num('BENCH_PROGRESS_REQUESTS', 100),
  /** How long bench 4 watches the idle subscriptions (no worker yet) for their CPU and Postgres cost. */
  progressIdleS: num('BENCH_PROGRESS_IDLE_S', 5),

  // 6. scale-out
  scaleoutN: num('BENCH_SCALEOUT_N', 100),
  scaleoutHighQps: num('BENCH_SCALEOUT_HIGH_QPS', 1000),
  /** A third run at the raised K8S_QPS: one worker with this WORKER_CONCURRENCY (the next limit once QPS is out). */
  scaleoutHighConcurrency: num('BENCH_SCALEOUT_HIGH_CONCURRENCY', 16),
};

export type Settings = typeof settings;
