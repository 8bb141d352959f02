// The worker process, loaded by worker.ts: runs onboarding jobs from the queue. Its only HTTP surface is /metrics,
// /healthz and /readyz on WORKER_METRICS_PORT (0 = off), for Prometheus and probes. /readyz is 503 only while the
// worker drains; it reports Postgres and Redis in its body without requiring them (health/dependency-checks.ts).
import { createServer, type Server } from 'node:http';
import { loadConfigOrExit, orExit, orExitAsync } from './config/config.js';
import { checkRedisDatabase } from './redis/redis-database-check.js';
import { createWorkerContext } from './app.js';
import { PrismaService } from './database/prisma.service.js';
import { storeChecks } from './health/dependency-checks.js';
import { loadKubeconfig } from './kubernetes/cluster-gateway.js';
import { metricsAllowed } from './observability/metrics-access.js';
import { MetricsService } from './observability/metrics.service.js';
import { OnboardingWorker } from './onboarding/onboarding.worker.js';
import { RedisService } from './redis/redis.service.js';
import { onShutdownSignal, readinessDelay } from './reliability/shutdown.js';

const config = loadConfigOrExit();
orExit(() => loadKubeconfig(config.kube)); // before Nest: a bad KUBECONFIG is one line, not a stack
await orExitAsync(() => checkRedisDatabase(config)); // a database the Redis lacks: one line
const log = (message: string) => console.log(`osm-onboarding worker: ${message}`);
let draining = false;
let server: Server | undefined;
const ctx = await createWorkerContext(config);

// SIGTERM: take no new job, let each running request finish its current step (the runner
// checkpoints per step and gives the request back), re-enqueue those, close, exit 0.
// Past SHUTDOWN_GRACE_MS it exits 1; what was still running resumes on another worker
// once its heartbeat is stale.
onShutdownSignal({
  graceMs: config.shutdownGraceMs,
  readinessDelayMs: readinessDelay(config.shutdownGraceMs),
  log,
  run: async () => {
    draining = true;
    await ctx.get(OnboardingWorker, { strict: false }).drain();
    await ctx.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  },
});

if (config.workerMetricsPort > 0) {
  const metrics = ctx.get(MetricsService);
  const prisma = ctx.get(PrismaService, { strict: false });
  const redis = ctx.get(RedisService, { strict: false });
  server = createServer((req, res) => {
    if (req.url === '/metrics' && !metricsAllowed(req.headers.authorization, config.metricsToken)) {
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
        .end(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'the metrics need the METRICS_TOKEN' } }));
    } else if (req.url === '/metrics') {
      void metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (req.url === '/readyz') {
      // The state is read when the checks are done: a SIGTERM meanwhile answers 503.
      void storeChecks(prisma, redis).then((stores) => {
        const behind = stores.schema === 'behind';
        res.writeHead(draining || behind ? 503 : 200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status: draining ? 'draining' : behind ? 'not-ready' : 'ready',
            checks: { ...stores, draining },
          }),
        );
      });
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 5000;
  server.once('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    console.error(
      `osm-onboarding worker: port ${config.workerMetricsPort} on ${config.host} is in use; ` +
        'set WORKER_METRICS_PORT to a free port (0 = no metrics endpoint)',
    );
    process.exit(1);
  });
  server.listen(config.workerMetricsPort, config.host);
}
console.log('osm-onboarding worker started');
