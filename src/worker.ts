// Worker entry point (dist/bundle/worker.mjs). It sets the service's V8 flags (v8-flags.ts) before any other
// module is loaded, then runs the process (worker-process.ts): a static import would be evaluated in whatever order
// the bundler lays its chunks out, an import() after this line is not.
import './v8-flags.js';

await import('./worker-process.js');
