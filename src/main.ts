// API entry point (dist/bundle/main.mjs; ROLE=api, or ROLE=all to run the worker in the same process). It checks
// the Node version (node-version.ts: one line and exit 1 on an older Node), sets the service's V8 flags
// (v8-flags.ts) before any other module is loaded, then runs the process (api-process.ts) with the date formatters
// its modules build deferred to their first use (deferred-intl.ts): a static import would be evaluated in whatever
// order the bundler lays its chunks out, an import() after these lines is not.
import './node-version.js';
import './v8-flags.js';
import { withDeferredDateFormats } from './deferred-intl.js';

// Date formatters built while the process loads are built for real on first use (deferred-intl.ts).
await withDeferredDateFormats(() => import('./api-process.js'));
