// The verify step (read-only): injected pods where the request wants sidecars, none where it does not; the pods
// no Deployment owns (StatefulSets, DaemonSets, bare pods) are warnings.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { VerifyStep } from '../../src/onboarding/steps/verify.step.js';
import { deployment, pod, workloadContext } from '../support/workload-context.js';

/** A pod of `app` owned by a controller of `kind` (no owner: a bare pod), in `phase`. */
const owned = (
  app: string,
  kind: string | null,
  extra: { phase?: string; hostNetwork?: boolean; injected?: boolean } = {},
): V1Pod => {
  const p = pod(app, extra.injected ?? false);
  const ownerReferences = kind ? [{ apiVersion: 'apps/v1', kind, name: app, uid: 'u', controller: true }] : undefined;
  return {
    ...p,
    metadata: { ...p.metadata, name: `${app}-0`, ownerReferences },
    spec: { ...p.spec!, hostNetwork: extra.hostNetwork },
    status: { phase: extra.phase ?? 'Running' },
  };
};

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

  it('restart selected: waits for the named Deployments only, and warns about the others not restarted', async () => {
    const c = workloadContext([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], {
      restart: { mode: 'selected', deployments: ['a'], maxConcurrent: 5 },
      verify: { timeoutSeconds: 1 },
    });
    c.dryRun = false;
    const started = Date.now();
    const plan = await new VerifyStep().plan(c);
    expect(Date.now() - started).toBeLessThan(1000); // did not wait for b
    expect(plan.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'OSM_DEPLOYMENT_NOT_RESTARTED', object: 'Deployment/b', level: 'warning' }),
    );
    // A named Deployment not as wanted still fails the step at the deadline.
    const named = workloadContext([deployment('a'), deployment('b')], [pod('a', false), pod('b', true)], {
      restart: { mode: 'selected', deployments: ['a'], maxConcurrent: 5 },
      verify: { timeoutSeconds: 1 },
    });
    named.dryRun = false;
    await expect(new VerifyStep().plan(named)).rejects.toMatchObject({ code: 'VERIFY_FAILED' });
  });

  it('warns about the pods no Deployment owns, ignoring finished ones and those that want no sidecar', async () => {
    const plan = await new VerifyStep().plan(
      workloadContext(
        [deployment('a')],
        [
          pod('a', true),
          owned('db', 'StatefulSet'),
          owned('loose', null),
          owned('job', 'Job', { phase: 'Succeeded' }),
          owned('crashed', 'StatefulSet', { phase: 'Failed' }),
          owned('node', 'DaemonSet', { hostNetwork: true }),
          owned('meshed', null, { injected: true }),
        ],
        {},
      ),
    );
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({
        code: 'OSM_POD_WITHOUT_SIDECAR',
        level: 'warning',
        object: 'Pod/db-0',
        hint: 'kubectl rollout restart statefulset/db -n ns',
      }),
      expect.objectContaining({
        code: 'OSM_POD_WITHOUT_SIDECAR',
        object: 'Pod/loose-0',
        message: expect.stringContaining('a bare pod'),
        hint: 'kubectl get pod loose-0 -n ns -o yaml | kubectl replace --force -f -',
      }),
    ]);
    expect(plan.facts).toMatchObject({ deployments: [expect.objectContaining({ deployment: 'a', pods: 1 })] });
  });

  it("never counts a StatefulSet's pod as a Deployment's, even when the Deployment's selector matches it", async () => {
    const plan = await new VerifyStep().plan(
      workloadContext([deployment('a')], [pod('a', true), owned('a', 'StatefulSet')], {}),
    );
    expect(plan.facts).toMatchObject({
      deployments: [expect.objectContaining({ deployment: 'a', pods: 1, inMesh: 1 })],
      otherPods: [expect.objectContaining({ pod: 'a-0', owner: 'StatefulSet/a', sidecar: false })],
    });
    expect(plan.diagnostics).toEqual([expect.objectContaining({ code: 'OSM_POD_WITHOUT_SIDECAR', object: 'Pod/a-0' })]);
  });

  it('offboarding: warns about the pods no Deployment owns that still run a sidecar', async () => {
    const plan = await new VerifyStep().plan(
      workloadContext(
        [deployment('a')],
        [pod('a', false), owned('agent', 'DaemonSet', { injected: true })],
        {},
        { kind: 'OFFBOARD' },
      ),
    );
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({
        code: 'OSM_POD_WITH_SIDECAR',
        object: 'Pod/agent-0',
        message: expect.stringContaining('DaemonSet/agent'),
        hint: 'kubectl rollout restart daemonset/agent -n ns',
      }),
    ]);
  });
});
