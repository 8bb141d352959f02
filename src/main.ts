// API entry point (dist/bundle/main.mjs; ROLE=api, or ROLE=all to run the worker in the same process). It sets
// the service's V8 flags (v8-flags.ts) before any other module is loaded, then runs the process (api-process.ts):
// a static import would be evaluated in whatever order the bundler lays its chunks out, an import() after this
// line is not.
import './v8-flags.js';

await import('./api-process.js');
