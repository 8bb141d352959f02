// The API process (ROLE=api, or ROLE=all to run the worker in the same process), loaded by main.ts: config,
// the Nest app, the SIGTERM drain, listen.
import type { Server } from 'node:http';
import { describeRedis, loadConfigOrExit, orExit, orExitAsync, redactUrl } from './config/config.js';
import { checkRedisDatabase } from './redis/redis-database-check.js';
import { createApiApp, httpDrainOf } from './app.js';
import { loadKubeconfig } from './kubernetes/cluster-gateway.js';
import { HealthController } from './health/health.controller.js';
import { OnboardingWorker } from './onboarding/onboarding.worker.js';
import { drainHttp, onShutdownSignal, readinessDelay } from './reliability/shutdown.js';

const config = loadConfigOrExit();
orExit(() => loadKubeconfig(config.kube)); // before Nest: a bad KUBECONFIG is one line, not a stack
await orExitAsync(() => checkRedisDatabase(config)); // a database the Redis lacks: one line
if (config.role === 'worker') {
  console.error('ROLE=worker: start dist/bundle/worker.mjs instead');
  process.exit(1);
}
const app = await createApiApp(config);
const role = config.role;
const log = (message: string) => console.log(`osm-onboarding ${role}: ${message}`);

// SIGTERM: /readyz turns 503 at once; the instance keeps serving while load balancers notice,
// then stops listening, lets in-flight requests (and, with ROLE=all, the current steps) finish,
// cuts long-lived streams and closes Postgres/Redis. Past SHUTDOWN_GRACE_MS it exits 1.
onShutdownSignal({
  graceMs: config.shutdownGraceMs,
  readinessDelayMs: readinessDelay(config.shutdownGraceMs),
  log,
  run: async (deadline) => {
    const worker = role === 'all' ? app.get(OnboardingWorker, { strict: false }) : undefined;
    await drainHttp({
      server: app.getHttpServer() as Server,
      drain: httpDrainOf(app),
      markNotReady: () => app.get(HealthController, { strict: false }).markDraining(),
      readinessDelayMs: readinessDelay(config.shutdownGraceMs),
      deadline,
      alsoWaitFor: worker?.drain(),
      close: () => app.close(),
      log,
    });
  },
});

try {
  await app.listen(config.port, config.host);
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  console.error(`osm-onboarding ${role}: port ${config.port} on ${config.host} is in use; set PORT to a free port`);
  process.exit(1);
}
const address = (app.getHttpServer() as Server).address();
const port = typeof address === 'object' && address ? address.port : config.port;
console.log(
  `osm-onboarding ${config.role} listening on http://${config.host}:${port} (REST /v1, GraphQL /graphql); ` +
    `postgres ${redactUrl(config.databaseUrl)}, redis ${describeRedis(config)}`,
);
