import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:faults`: the fault suite at full size (FAULT_SCALE=full) with real outages of the
// shared Postgres (pg_ctlcluster stop/start), plus the degraded-dependency, shutdown and RBAC tests.
// Files run one at a time: an outage of the shared server must not hit another file's stack.
const config = mergeConfig(
  base,
  defineConfig({
    test: {
      fileParallelism: false,
      testTimeout: 900_000,
      hookTimeout: 120_000,
      env: { FAULT_SCALE: process.env.FAULT_SCALE ?? 'full', FAULT_REAL_OUTAGES: process.env.FAULT_REAL_OUTAGES ?? '1' },
    },
  }),
);
// mergeConfig would append to the base include list; this run has its own.
config.test!.include = [
  'test/faults/**/*.spec.ts',
  'test/integration/reliability/degraded-dependencies.spec.ts',
  'test/integration/reliability/shutdown.spec.ts',
  'test/integration/reliability/rbac.spec.ts',
];
export default config;
