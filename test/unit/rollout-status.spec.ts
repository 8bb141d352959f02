// kubectl's rollout status rule for Deployments (polymorphichelpers' DeploymentStatusViewer), case by case.
import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { rolloutStatus } from '../../src/onboarding/steps/kit/rollout.js';

const d = (generation: number, status: V1Deployment['status'], replicas: number | null = 2): V1Deployment => ({
  metadata: { name: 'web', generation },
  spec: { replicas: replicas ?? undefined, selector: {}, template: {} },
  status,
});

describe("rolloutStatus: kubectl's rule for a Deployment", () => {
  it('waits until the controller has observed the generation', () => {
    expect(
      rolloutStatus(d(3, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })),
    ).toEqual({ done: false, message: 'Waiting for deployment spec update to be observed...' });
    expect(rolloutStatus(d(1, undefined)).done).toBe(false);
  });

  it('waits for updated replicas, then for old replicas to go, then for updated ones to be available', () => {
    const s = { observedGeneration: 2 };
    expect(rolloutStatus(d(2, { ...s, updatedReplicas: 1, replicas: 3, availableReplicas: 2 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...',
    );
    expect(rolloutStatus(d(2, { ...s, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
    );
    expect(rolloutStatus(d(2, { ...s, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...',
    );
    expect(rolloutStatus(d(2, { ...s, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }))).toEqual({
      done: true,
      message: 'deployment "web" successfully rolled out',
    });
  });

  it('skips the updated-replicas check without spec.replicas, and fails past the progress deadline', () => {
    expect(rolloutStatus(d(1, { observedGeneration: 1 }, null)).done).toBe(true);
    const stuck = rolloutStatus(
      d(2, {
        observedGeneration: 2,
        updatedReplicas: 1,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      }),
    );
    expect(stuck).toMatchObject({ done: false, failed: 'deployment "web" exceeded its progress deadline' });
  });
});
