// The verify step (read-only): injected pods where the request wants sidecars, none where it does not.
import { describe, expect, it } from 'vitest';
import { VerifyStep } from '../../src/onboarding/steps/verify.step.js';
import { deployment, pod, workloadContext } from '../support/workload-context.js';

describe('verify step (read-only)', () => {
  it('reports per deployment how many pods are in the mesh, without waiting when nothing was restarted', async () => {
    const plan = await new VerifyStep().plan(
      workloadContext([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], {}),
    );
    expect(plan.changes).toEqual([]);
    expect(plan.facts).toMatchObject({
      deployments: [
        expect.objectContaining({ deployment: 'a', inMesh: 1, withoutSidecar: 0 }),
        expect.objectContaining({ deployment: 'b', inMesh: 0, withoutSidecar: 1 }),
      ],
    });
    expect(plan.diagnostics).toEqual([expect.objectContaining({ code: 'OSM_POD_NOT_INJECTED', object: 'Pod/b-x' })]);
  });

  it('fails with VERIFY_FAILED at the deadline after a restart', async () => {
    const c = workloadContext([deployment('a')], [pod('a', false)], {
      restart: { mode: 'all', deployments: [], maxConcurrent: 5 },
      verify: { timeoutSeconds: 1 },
    });
    c.dryRun = false;
    await expect(new VerifyStep().plan(c)).rejects.toMatchObject({ code: 'VERIFY_FAILED' });
  });
});
