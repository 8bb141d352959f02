import { defineConfig } from 'vitest/config';
import { integration, plugins, reporters } from './vitest.config.js';

// `npm run test:faults`: the fault suite at full size (FAULT_SCALE=full) with real outages of the
// shared Postgres (pg_ctlcluster stop/start), plus the degraded-dependency, shutdown and RBAC tests.
// Files run one at a time: an outage of the shared server must not hit another file's stack.
export default defineConfig({
  plugins,
  test: {
    ...integration,
    name: 'faults',
    reporters,
    include: [
      'test/faults/**/*.spec.ts',
      'test/integration/reliability/degraded-dependencies.spec.ts',
      'test/integration/reliability/shutdown.spec.ts',
      'test/integration/reliability/rbac.spec.ts',
    ],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 120_000,
    env: { FAULT_SCALE: process.env.FAULT_SCALE ?? 'full', FAULT_REAL_OUTAGES: process.env.FAULT_REAL_OUTAGES ?? '1' },
  },
});
