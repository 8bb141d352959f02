// `npm test` (after the build): both tiers in one vitest run, with one summary line at the end.
//   unit         test/unit: no I/O — test/support/no-io.ts fails a test that connects, listens or spawns — and
//                modules shared between files (isolate: false), so it runs in seconds (`npm run test:unit` alone).
//   integration  test/integration: a fresh Postgres database per run (global setup), real Redis, the emulator.
// The e2e, fault and unit-only configs start from the pieces exported here.
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

export const plugins = [
  swc.vite({
    module: { type: 'es6' },
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
  }),
];

export const reporters = ['default', './test/support/summary-reporter.ts'];

/** What every tier shares. */
export const shared = {
  setupFiles: ['test/support/quiet-logs.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export const unit = {
  ...shared,
  name: 'unit',
  include: ['test/unit/**/*.spec.ts'],
  setupFiles: [...shared.setupFiles, 'test/support/no-io.ts'],
  // Unit tests leave no global state behind (no vi.mock, no stubbed globals), so files may share modules.
  isolate: false,
};

export const integration = {
  ...shared,
  name: 'integration',
  include: ['test/integration/**/*.spec.ts'],
  globalSetup: ['test/support/global-setup.ts'],
};

export default defineConfig({
  plugins,
  test: {
    reporters,
    // Inline projects extend this file (its plugins included).
    projects: [{ test: unit }, { test: integration }],
  },
});
