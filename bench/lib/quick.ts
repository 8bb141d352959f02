// `npm run bench -- --quick` (`npm run bench:quick`): every benchmark at a tiny size, as a smoke test that the
// benches still run (CI runs it; it asserts nothing about speed). Imported first by run.ts, so the sizes are in
// the environment before lib/env.ts reads it; a size set explicitly in the environment wins.

export const QUICK = process.argv.includes('--quick');

const SIZES: Record<string, string> = {
  BENCH_QUIET_WAIT_S: '0',
  BENCH_INGEST_CONNECTIONS: '2',
  BENCH_INGEST_SECONDS: '1',
  BENCH_INGEST_RATE: '20',
  BENCH_INGEST_RATE_SECONDS: '1',
  BENCH_INGEST_NAMESPACES: '10000',
  BENCH_INGEST_WARMUP_S: '0.5',
  BENCH_INGEST_WARMUP_MAX_S: '1',
  BENCH_INGEST_AB_PAIRS: '1',
  BENCH_E2E_N: '4',
  BENCH_KUBECTL_N: '4',
  BENCH_PROGRESS_SUBSCRIBERS: '4',
  BENCH_PROGRESS_REQUESTS: '2',
  BENCH_PROGRESS_IDLE_S: '1',
  BENCH_SCALEOUT_N: '4',
  BENCH_HISTORY_REQUESTS: '2000',
  BENCH_HISTORY_BASELINE_REQUESTS: '200',
  BENCH_HISTORY_REPS: '2',
  BENCH_HISTORY_ACCEPT_SECONDS: '0.5',
  BENCH_FAIRNESS_N: '2',
  BENCH_FAIRNESS_CLUSTERS: '3',
  BENCH_FAIRNESS_PAIRS: '1',
  BENCH_E2E_TIMEOUT_S: '120',
};

if (QUICK) for (const [k, v] of Object.entries(SIZES)) process.env[k] ??= v;
