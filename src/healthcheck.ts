// The image's HEALTHCHECK (`node dist/src/healthcheck.js`): GET /healthz on this container's own process,
// the API's PORT or, with ROLE=worker, the worker's WORKER_METRICS_PORT. Exit 0 when it answers 2xx.
const worker = process.env.ROLE === 'worker';
const port = Number((worker ? process.env.WORKER_METRICS_PORT : process.env.PORT) || (worker ? 9464 : 3000));

if (worker && port === 0) {
  console.log('WORKER_METRICS_PORT=0: the worker serves no health endpoint; nothing to check');
  process.exit(0);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_500) });
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: http://127.0.0.1:${port}/healthz: ${(err as Error).message}`);
  process.exit(1);
}
