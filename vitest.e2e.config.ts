import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// The e2e suite: the same flows against a real cluster (E2E_KUBECONFIG), e.g. kind with osm-edge installed.
export default mergeConfig(base, defineConfig({ test: { include: ['test/e2e/**/*.spec.ts'], testTimeout: 180_000 } }));
