// `npm run test:unit`: the fast tier alone (test/unit; no database, Redis, network or child process, see the
// unit project in vitest.config.ts). No build and no global setup.
import { defineConfig } from 'vitest/config';
import { plugins, reporters, resolve, unit } from './vitest.config.js';

export default defineConfig({ plugins, resolve, test: { ...unit, reporters } });
