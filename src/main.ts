import { ConfigError, loadConfig, redactUrl } from './config/config.js';
import { createApiApp } from './app.js';

// API entry point (ROLE=api, or ROLE=all to run the worker in the same process).
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
if (config.role === 'worker') {
  console.error('ROLE=worker: start dist/src/worker.js instead');
  process.exit(1);
}
const app = await createApiApp(config);
await app.listen(config.port, config.host);
console.log(
  `osm-onboarding ${config.role} listening on http://${config.host}:${config.port} (REST /v1, GraphQL /graphql); ` +
    `postgres ${redactUrl(config.databaseUrl)}, redis ${redactUrl(config.redisUrl)}`,
);
