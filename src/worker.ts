import { ConfigError, loadConfig } from './config/config.js';
import { createWorkerContext } from './app.js';

// Worker entry point: runs onboarding jobs from the queue, with no HTTP server.
try {
  await createWorkerContext(loadConfig());
  console.log('osm-onboarding worker started');
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
