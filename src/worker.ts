import { createServer } from 'node:http';
import { ConfigError, loadConfig } from './config/config.js';
import { createWorkerContext } from './app.js';
import { MetricsService } from './observability/metrics.service.js';

// Worker entry point: runs onboarding jobs from the queue. Its only HTTP surface is
// /metrics and /healthz on WORKER_METRICS_PORT (0 = off), for Prometheus and probes.
try {
  const config = loadConfig();
  const ctx = await createWorkerContext(config);
  if (config.workerMetricsPort > 0) {
    const metrics = ctx.get(MetricsService);
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
      } else if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else {
        res.writeHead(404).end();
      }
    });
    server.listen(config.workerMetricsPort, config.host);
    process.once('SIGTERM', () => server.close());
  }
  console.log('osm-onboarding worker started');
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
