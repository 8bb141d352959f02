import { defineConfig } from 'vitest/config';
import { integration, plugins, reporters } from './vitest.config.js';

// The e2e suite: the same flows against a real cluster (E2E_KUBECONFIG), e.g. kind with osm-edge installed.
export default defineConfig({
  plugins,
  test: { ...integration, name: 'e2e', reporters, include: ['test/e2e/**/*.spec.ts'], testTimeout: 180_000 },
});
