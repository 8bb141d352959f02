// `npm test` (after the build): the four projects below in one vitest run, with one summary line at the end.
//   unit         test/unit: no I/O — test/support/no-io.ts fails a test that connects, listens or spawns — and
//                modules shared between files (isolate: false), so it runs in seconds (`npm run test:unit` alone).
//   integration  test/integration: a fresh Postgres database per run (global setup), copied for each test file
//                (file-database.ts), real Redis, the emulator.
//   client       packages/client/test: the typed client against local HTTP servers (no database).
//   backstage    packages/backstage-scaffolder-module/test: the scaffolder actions against a real service and the
//                emulator (its own database, like integration).
// The e2e, fault and unit-only configs start from the pieces exported here.
import { fileURLToPath } from 'node:url';
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

/** The workspace packages are tested from their TypeScript sources, not their built `dist/`. */
export const resolve = {
  alias: {
    '@osm-onboarding/client': fileURLToPath(new URL('packages/client/src/index.ts', import.meta.url)),
  },
};

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
  setupFiles: [...shared.setupFiles, 'test/support/file-database.ts'],
};

export const client = {
  ...shared,
  name: 'client',
  include: ['packages/client/test/**/*.spec.ts'],
};

export const backstage = {
  ...shared,
  name: 'backstage',
  include: ['packages/backstage-scaffolder-module/test/**/*.spec.ts'],
  globalSetup: ['test/support/global-setup.ts'],
  // createMockActionContext (Backstage's test utils) calls the Jest global; vitest's `vi` is its twin.
  setupFiles: [...shared.setupFiles, 'packages/backstage-scaffolder-module/test/jest-global.ts'],
};

export default defineConfig({
  plugins,
  resolve,
  test: {
    reporters,
    // Two test files at a time (vitest's default on a 2-core machine is one): each file has its own database,
    // queue prefix, emulator and ports, and most of a file's time is waiting (timers, latency, child processes).
    // Measured on the 2-core CI machine: 826 s one at a time, 536 s two at a time, the same tests passing.
    maxWorkers: 2,
    // Inline projects extend this file (its plugins included).
    projects: [unit, integration, client, backstage].map((test) => ({ resolve, test })),
  },
});
