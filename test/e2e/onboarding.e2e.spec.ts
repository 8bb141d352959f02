// The guide end to end against a real cluster: runs only when E2E_KUBECONFIG names a kubeconfig whose current
// context has osm-edge v1.3.9 installed (mesh E2E_MESH_NAME, default "osm"); see docs/development.md, "Running the e2e
// suite on kind". The same suite runs against the emulator in every test run (test/integration/e2e-guide.spec.ts).
import { describe } from 'vitest';
import { guideSuite } from './guide.js';

const kubeconfig = process.env.E2E_KUBECONFIG;

describe.runIf(kubeconfig)('e2e: the onboarding guide against the cluster of E2E_KUBECONFIG', () => {
  guideSuite({ kubeconfig: () => kubeconfig! });
});
