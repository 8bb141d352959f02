import { describe, expect, it } from 'vitest';
import type { ClusterClient, KubeObject } from '../../src/kubernetes/cluster-client.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { offboardingOptions } from '../../src/onboarding/onboarding.input.js';
import { PolicyCleanupStep } from '../../src/onboarding/steps/policy-cleanup.step.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';

const OWNED = { 'app.kubernetes.io/managed-by': 'osm-onboarding' };
const obj = (name: string, labels: Record<string, string> = OWNED): KubeObject => ({
  metadata: { name, namespace: 'team-a', labels, resourceVersion: '5' },
  spec: { x: name },
});

function ctx(byPlural: Record<string, KubeObject[] | 'not-served'>, deleteOwnedPolicies = true) {
  const calls: string[] = [];
  const deleted: string[] = [];
  const kube = {
    listCustom: async (ref: { plural: string }, _ns: string, selector?: string) => {
      calls.push(`list ${ref.plural} ${selector}`);
      const items = byPlural[ref.plural] ?? [];
      if (items === 'not-served')
        throw new KubeError('NOT_FOUND', 'the server could not find the requested resource', 404);
      return { items };
    },
    deleteCustom: async (ref: { plural: string }, _ns: string, name: string) => {
      deleted.push(`${ref.plural}/${name}`);
      if (name === 'gone') throw new KubeError('NOT_FOUND', 'not found', 404);
      return {};
    },
  } as unknown as ClusterClient;
  const c: StepContext = {
    kube,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    mesh: {} as MeshDiscoveryService,
    request: {
      id: 'r',
      createdAt: new Date(),
      kind: 'OFFBOARD',
      cluster: 'c',
      namespace: 'team-a',
      meshName: 'osm',
      options: offboardingOptions({ namespace: 'team-a', deleteOwnedPolicies }),
    },
  };
  return { ctx: c, calls, deleted };
}

describe('policy-cleanup plan', () => {
  const step = new PolicyCleanupStep();

  it('lists each kind with the ownership selector and deletes only owned objects, dependents first', async () => {
    const {
      ctx: c,
      calls,
      deleted,
    } = ctx({
      egresses: [obj('osm-onboarding-api-server')],
      httproutegroups: [obj('routes')],
      traffictargets: [obj('a-to-b'), obj('foreign', { 'app.kubernetes.io/managed-by': 'helm' })],
      trafficsplits: [obj('split')],
    });
    const plan = await step.plan(c);
    expect(calls.sort()).toEqual(
      ['egresses', 'httproutegroups', 'tcproutes', 'trafficsplits', 'traffictargets'].map(
        (p) => `list ${p} app.kubernetes.io/managed-by=osm-onboarding`,
      ),
    );
    expect(plan.changes).toEqual([
      {
        action: 'delete',
        target: { apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', namespace: 'team-a', name: 'split' },
      },
      {
        action: 'delete',
        target: {
          apiVersion: 'access.smi-spec.io/v1alpha3',
          kind: 'TrafficTarget',
          namespace: 'team-a',
          name: 'a-to-b',
        },
      },
      {
        action: 'delete',
        target: {
          apiVersion: 'specs.smi-spec.io/v1alpha4',
          kind: 'HTTPRouteGroup',
          namespace: 'team-a',
          name: 'routes',
        },
      },
      {
        action: 'delete',
        target: {
          apiVersion: 'policy.openservicemesh.io/v1alpha1',
          kind: 'Egress',
          namespace: 'team-a',
          name: 'osm-onboarding-api-server',
        },
      },
    ]);
    expect(plan.before).toEqual([
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'split' }), spec: { x: 'split' } }),
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'a-to-b' }) }),
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'routes' }) }),
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'osm-onboarding-api-server' }) }),
    ]);
    await step.execute(c, plan);
    expect(deleted).toEqual([
      'trafficsplits/split',
      'traffictargets/a-to-b',
      'httproutegroups/routes',
      'egresses/osm-onboarding-api-server',
    ]);
  });

  it('is unchanged when nothing is ours, tolerates kinds that are not served and objects already gone', async () => {
    const { ctx: c } = ctx({ egresses: [obj('mine', {})], tcproutes: 'not-served' });
    const plan = await step.plan(c);
    expect(plan.changes).toEqual([]);
    expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'CRD_NOT_SERVED' }));
    const gone = ctx({ tcproutes: [obj('gone')] });
    await expect(step.execute(gone.ctx, await step.plan(gone.ctx))).resolves.toBeDefined();
  });

  it('does nothing unless requested', async () => {
    const { ctx: c, calls } = ctx({ egresses: [obj('x')] }, false);
    expect((await step.plan(c)).changes).toEqual([]);
    expect(calls).toEqual([]);
  });
});
