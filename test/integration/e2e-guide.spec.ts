// The real-cluster e2e suite (test/e2e/guide.ts), unchanged, against the project's emulator: an emulator is
// started and its kubeconfig passed as E2E_KUBECONFIG, so the suite cannot rot between runs on a real cluster.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { guideSuite } from '../e2e/guide.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';

describe('e2e: the onboarding guide against the emulator (as E2E_KUBECONFIG)', () => {
  let emulator: Emulator;
  const previous = process.env.E2E_KUBECONFIG;
  beforeAll(async () => {
    // Pods take a moment to start, as on a real cluster.
    emulator = await startEmulator({ podStartMs: 200, injectorLagMs: 50 });
    const path = join(await mkdtemp(join(tmpdir(), 'e2e-')), 'kubeconfig');
    await emulator.writeKubeconfig(path);
    process.env.E2E_KUBECONFIG = path;
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env.E2E_KUBECONFIG;
    else process.env.E2E_KUBECONFIG = previous;
    await emulator?.close();
  });
  guideSuite({ kubeconfig: () => process.env.E2E_KUBECONFIG! });
});
