import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The e2e suite: the same flows against a real cluster (E2E_KUBECONFIG), e.g. kind with osm-edge installed.
// Built from the base config by hand: mergeConfig would concatenate the `include` lists.
export default defineConfig({
  plugins: base.plugins,
  test: { ...base.test, include: ['test/e2e/**/*.spec.ts'], testTimeout: 180_000 },
});
