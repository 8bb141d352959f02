import { describe, expect, it } from 'vitest';
import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../../src/common/domain-error.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import type { MeshDiscoveryService, MeshInfo } from '../../src/kubernetes/mesh-discovery.service.js';
import { classify } from '../../src/onboarding/step-failure.js';
import { MeshStep } from '../../src/onboarding/steps/mesh.step.js';
import { NamespaceRemovalStep } from '../../src/onboarding/steps/namespace-removal.step.js';
import { NamespaceStep } from '../../src/onboarding/steps/namespace.step.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';
import { onboardingOptions } from '../../src/onboarding/onboarding.input.js';

// Planning logic only: the cluster is a fixture object, no I/O.
function ctx(ns: V1Namespace | undefined, overrides: Partial<StepContext['request']> = {}): StepContext {
  const kube = {
    getNamespace: async (name: string) => {
      if (!ns) throw new KubeError('NOT_FOUND', `namespaces "${name}" not found`, 404);
      return ns;
    },
  } as unknown as ClusterClient;
  const info: MeshInfo = {
    meshName: 'osm',
    controlPlaneNamespace: 'osm-system',
    controlPlaneNamespaces: ['osm-system', 'other-cp'],
  };
  const mesh = { discover: async () => info } as unknown as MeshDiscoveryService;
  return {
    kube,
    mesh,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    request: {
      createdAt: new Date(),
      id: 'r',
      kind: 'ONBOARD',
      cluster: 'c',
      namespace: 'team-a',
      meshName: 'osm',
      options: onboardingOptions({ namespace: 'team-a' }),
      ...overrides,
    },
  };
}

const ns = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): V1Namespace => ({
  metadata: { name: 'team-a', labels, annotations, resourceVersion: '7' },
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).code;
  }
  return 'no error';
}

describe('namespace step plan (osm namespace add)', () => {
  const step = new NamespaceStep();

  it("plans the CLI's exact strategic merge patch for a fresh namespace", async () => {
    const plan = await step.plan(ctx(ns()));
    expect(plan.changes).toEqual([
      {
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Namespace', name: 'team-a' },
        patchType: 'strategic',
        body: {
          metadata: {
            labels: { 'openservicemesh.io/monitored-by': 'osm' },
            annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
          },
        },
      },
    ]);
    expect(plan.before).toMatchObject({ labels: { 'openservicemesh.io/monitored-by': null } });
  });

  it('writes "disabled" when injection is disabled', async () => {
    const plan = await step.plan(
      ctx(ns(), { options: onboardingOptions({ namespace: 'team-a', sidecarInjection: 'disabled' }) }),
    );
    expect((plan.changes[0].body as any).metadata.annotations['openservicemesh.io/sidecar-injection']).toBe('disabled');
  });

  it('plans nothing when the namespace is already in the desired state', async () => {
    const plan = await step.plan(
      ctx(ns({ 'openservicemesh.io/monitored-by': 'osm' }, { 'openservicemesh.io/sidecar-injection': 'enabled' })),
    );
    expect(plan.changes).toEqual([]);
  });

  it('corrects a differing injection annotation (the CLI would skip it)', async () => {
    const plan = await step.plan(
      ctx(ns({ 'openservicemesh.io/monitored-by': 'osm' }, { 'openservicemesh.io/sidecar-injection': 'disabled' })),
    );
    expect(plan.changes).toHaveLength(1);
    expect(plan.summary).toMatch(/set sidecar injection/);
    // An invalid value is corrected too (the injector would refuse every pod).
    const invalid = await step.plan(
      ctx(ns({ 'openservicemesh.io/monitored-by': 'osm' }, { 'openservicemesh.io/sidecar-injection': 'on' })),
    );
    expect(invalid.changes).toHaveLength(1);
  });

  it('leaves a value the injector reads the same way (true, Yes) as it is', async () => {
    for (const value of ['true', 'Yes', 'ENABLED']) {
      const plan = await step.plan(
        ctx(ns({ 'openservicemesh.io/monitored-by': 'osm' }, { 'openservicemesh.io/sidecar-injection': value })),
      );
      expect(plan.changes, value).toEqual([]);
    }
  });

  it("refuses another mesh's namespace, ignored namespaces (any value) and missing ones", async () => {
    expect(await codeOf(step.plan(ctx(ns({ 'openservicemesh.io/monitored-by': 'other' }))))).toBe(
      'NAMESPACE_OWNED_BY_OTHER_MESH',
    );
    expect(await codeOf(step.plan(ctx(ns({ 'openservicemesh.io/ignore': 'true' }))))).toBe('NAMESPACE_IGNORED');
    expect(await codeOf(step.plan(ctx(ns({ 'openservicemesh.io/ignore': 'yes' }))))).toBe('NAMESPACE_IGNORED');
    expect(await codeOf(step.plan(ctx(undefined)))).toBe('NAMESPACE_NOT_FOUND');
    expect(await codeOf(step.plan(ctx(ns(), { namespace: 'kube-system' })))).toBe('NAMESPACE_RESERVED');
  });

  it('refuses a namespace being deleted (the CLI would label it): no pod can start there again', async () => {
    const deleting = ns({ 'openservicemesh.io/monitored-by': 'osm' });
    deleting.metadata!.deletionTimestamp = new Date();
    expect(await codeOf(step.plan(ctx(deleting)))).toBe('NAMESPACE_TERMINATING');
    expect(await codeOf(step.plan(ctx({ ...ns(), status: { phase: 'Terminating' } })))).toBe('NAMESPACE_TERMINATING');
    expect(await codeOf(step.plan(ctx({ ...ns(), status: { phase: 'Active' } })))).toBe('no error');
  });

  it('refuses namespaces the injector webhook skips: a control-plane label, or name=<osm namespace>', async () => {
    // pkg/injector/webhook.go: namespaceSelector `control-plane DoesNotExist`, `name NotIn [<osm namespace>]`.
    expect(await codeOf(step.plan(ctx(ns({ 'control-plane': '' }))))).toBe('NAMESPACE_NOT_INJECTABLE');
    const managerLabel = ns({ 'control-plane': 'controller-manager' }); // kubebuilder's default
    expect(await codeOf(step.plan(ctx(managerLabel)))).toBe('NAMESPACE_NOT_INJECTABLE');
    expect(await codeOf(step.plan(ctx(ns({ name: 'osm-system' }))))).toBe('NAMESPACE_NOT_INJECTABLE');
    expect((await step.plan(ctx(ns({ name: 'team-a' })))).changes).toHaveLength(1); // another name label is fine
    const err = await step.plan(ctx(ns({ 'control-plane': 'x' }))).catch((e: DomainError) => e);
    const hint = expect.stringContaining('kubectl label namespace team-a control-plane-');
    expect(err).toMatchObject({ options: { field: 'namespace', hint } });
  });
});

describe('mesh step', () => {
  it("refuses any mesh's control-plane namespace and reserved namespaces", async () => {
    const step = new MeshStep();
    expect(await codeOf(step.plan(ctx(ns(), { namespace: 'other-cp' })))).toBe('NAMESPACE_IS_CONTROL_PLANE');
    // The mesh's own namespace, even with no osm-controller running there (the injector's nonInjectNamespaces).
    const info: MeshInfo = { meshName: 'osm', controlPlaneNamespace: 'osm-x', controlPlaneNamespaces: [] };
    const mesh = { discover: async () => info } as unknown as MeshDiscoveryService;
    const bare = { ...ctx(ns(), { namespace: 'osm-x' }), mesh };
    expect(await codeOf(step.plan(bare))).toBe('NAMESPACE_IS_CONTROL_PLANE');
    expect(await codeOf(step.plan(ctx(ns(), { namespace: 'kube-public' })))).toBe('NAMESPACE_RESERVED');
    const plan = await step.plan(ctx(ns()));
    expect(plan.changes).toEqual([]);
    expect(plan.facts).toMatchObject({ controlPlaneNamespace: 'osm-system' });
  });
});

describe('namespace removal plan (osm namespace remove)', () => {
  const step = new NamespaceRemovalStep();

  it('removes exactly the keys the CLI removes', async () => {
    const plan = await step.plan(
      ctx(ns({ 'openservicemesh.io/monitored-by': 'osm' }, { 'openservicemesh.io/sidecar-injection': 'enabled' }), {
        kind: 'OFFBOARD',
      }),
    );
    expect(plan.changes[0].body).toEqual({
      metadata: {
        labels: { 'openservicemesh.io/monitored-by': null, 'openservicemesh.io/ignore': null },
        annotations: { 'openservicemesh.io/sidecar-injection': null, 'openservicemesh.io/metrics': null },
      },
    });
  });

  it("is unchanged for a namespace in no mesh, and refuses another mesh's namespace", async () => {
    expect((await step.plan(ctx(ns(), { kind: 'OFFBOARD' }))).changes).toEqual([]);
    expect(await codeOf(step.plan(ctx(ns({ 'openservicemesh.io/monitored-by': 'blue' }), { kind: 'OFFBOARD' })))).toBe(
      'NAMESPACE_OWNED_BY_OTHER_MESH',
    );
  });
});

describe('failure classification', () => {
  it('retries transient and conflict errors, fails fast on permanent ones', () => {
    expect(classify(new KubeError('TRANSIENT', 'x', 503))).toMatchObject({ retryable: true, code: 'KUBE_UNAVAILABLE' });
    expect(classify(new KubeError('CONFLICT', 'x', 409))).toMatchObject({ retryable: true });
    expect(classify(new KubeError('FORBIDDEN', 'x', 403))).toMatchObject({ retryable: false, code: 'KUBE_FORBIDDEN' });
    expect(classify(new KubeError('INVALID', 'x', 422))).toMatchObject({ retryable: false, code: 'KUBE_INVALID' });
    expect(classify(new DomainError('NAMESPACE_IGNORED', 'x'))).toMatchObject({
      retryable: false,
      code: 'NAMESPACE_IGNORED',
    });
    expect(classify(new Error('boom'))).toMatchObject({ retryable: false, code: 'INTERNAL' });
  });
});
