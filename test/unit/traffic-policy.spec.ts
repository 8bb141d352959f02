// The traffic-policy step on a fake cluster: the SMI objects it writes and in what order, its refusals (a name twice
// per kind, objects not ours), permissive mode and its warnings.
import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../src/common/domain-error.js';
import type { ClusterClient, KubeObject } from '../../src/kubernetes/cluster-client.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { MeshDiscoveryService, MeshInfo } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions, SmiSchema, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';
import { desiredSmiObjects, TrafficPolicyStep } from '../../src/onboarding/steps/traffic-policy.step.js';

// Planning logic only: the cluster is a fixture object.
const OWNED = { 'app.kubernetes.io/managed-by': 'osm-onboarding' };
const REQUEST_ID = '6f1c1f7e-4a53-4c55-9a5e-3d0c3b8f1a22';

const meshConfig = (permissive: boolean | undefined): KubeObject => ({
  metadata: { name: 'osm-mesh-config', namespace: 'osm-system', resourceVersion: '9' },
  spec: { traffic: permissive === undefined ? {} : { enablePermissiveTrafficPolicyMode: permissive } },
});

function ctx(objects: Record<string, KubeObject>, mc: KubeObject, trafficPolicy: RequestOptions['trafficPolicy']) {
  const calls: string[] = [];
  const kube = {
    getCustom: async (ref: { plural: string }, _ns: string, name: string) => {
      calls.push(`get ${ref.plural}/${name}`);
      if (ref.plural === 'meshconfigs') return mc;
      const obj = objects[`${ref.plural}/${name}`];
      if (!obj) throw new KubeError('NOT_FOUND', `${ref.plural} "${name}" not found`, 404);
      return obj;
    },
  } as unknown as ClusterClient;
  const info: MeshInfo = {
    meshName: 'osm',
    controlPlaneNamespace: 'osm-system',
    controlPlaneNamespaces: ['osm-system'],
  };
  const c: StepContext = {
    kube,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    mesh: { discover: async () => info } as unknown as MeshDiscoveryService,
    request: {
      id: REQUEST_ID,
      createdAt: new Date(),
      kind: 'ONBOARD',
      cluster: 'c',
      namespace: 'ns-b',
      meshName: 'osm',
      options: { ...onboardingOptions({ namespace: 'ns-b' }), trafficPolicy },
    },
  };
  return { ctx: c, calls };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).code;
  }
  return 'no error';
}

const smi = SmiSchema.parse({
  httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] } }],
  tcpRoutes: [{ name: 'tcp', spec: { matches: { ports: [5432] } } }],
  trafficTargets: [
    {
      name: 'a-to-b',
      spec: {
        destination: { kind: 'ServiceAccount', name: 'sa-b' },
        rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
        sources: [
          { kind: 'ServiceAccount', name: 'sa-a', namespace: 'ns-a' },
          { kind: 'ServiceAccount', name: 'sa-local' },
        ],
      },
    },
  ],
  trafficSplits: [
    {
      name: 'split',
      spec: {
        service: 'svc-b',
        backends: [
          { service: 'svc-b-v1', weight: 50 },
          { service: 'svc-b-v2', weight: 50 },
        ],
      },
    },
  ],
});
const SMI = { mode: 'smi', smi } as const;

describe('traffic-policy: permissive', () => {
  const step = new TrafficPolicyStep();

  it('merge-patches only the boolean, and always warns that it is mesh-wide', async () => {
    const plan = await step.plan(ctx({}, meshConfig(false), { mode: 'permissive' }).ctx);
    expect(plan.changes).toEqual([
      {
        action: 'patch',
        target: {
          apiVersion: 'config.openservicemesh.io/v1alpha2',
          kind: 'MeshConfig',
          namespace: 'osm-system',
          name: 'osm-mesh-config',
        },
        patchType: 'merge',
        body: { spec: { traffic: { enablePermissiveTrafficPolicyMode: true } } },
      },
    ]);
    expect(plan.before).toEqual({
      meshConfig: expect.objectContaining({ enablePermissiveTrafficPolicyMode: false, resourceVersion: '9' }),
    });
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({ code: 'PERMISSIVE_MODE_IS_MESH_WIDE', level: 'warning' }),
    ]);

    const on = await step.plan(ctx({}, meshConfig(true), { mode: 'permissive' }).ctx);
    expect(on.changes).toEqual([]);
    expect(on.diagnostics).toEqual([expect.objectContaining({ code: 'PERMISSIVE_MODE_IS_MESH_WIDE' })]);
  });

  it('does nothing when no policy is requested', async () => {
    const { ctx: c, calls } = ctx({}, meshConfig(true), null);
    expect((await step.plan(c)).changes).toEqual([]);
    expect(calls).toEqual([]);
  });
});

describe('traffic-policy: smi', () => {
  const step = new TrafficPolicyStep();

  it('defaults TrafficTarget namespaces to the onboarded namespace and orders routes first', () => {
    const objs = desiredSmiObjects(smi, 'ns-b');
    expect(objs.map((o) => `${o.ref.kind}/${o.name}`)).toEqual([
      'HTTPRouteGroup/routes',
      'TCPRoute/tcp',
      'TrafficTarget/a-to-b',
      'TrafficSplit/split',
    ]);
    expect(objs[2].spec).toEqual({
      destination: { kind: 'ServiceAccount', name: 'sa-b', namespace: 'ns-b' },
      rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
      sources: [
        { kind: 'ServiceAccount', name: 'sa-a', namespace: 'ns-a' },
        { kind: 'ServiceAccount', name: 'sa-local', namespace: 'ns-b' },
      ],
    });
  });

  it('refuses the same name twice for a kind (the API refuses it first: this is the last line)', async () => {
    const tcpRoutes = [smi.tcpRoutes[0], smi.tcpRoutes[0]];
    expect(SmiSchema.safeParse({ tcpRoutes }).success).toBe(false);
    const dup = { ...SmiSchema.parse({}), tcpRoutes };
    expect(await codeOf(step.plan(ctx({}, meshConfig(false), { mode: 'smi', smi: dup }).ctx))).toBe(
      'VALIDATION_FAILED',
    );
  });

  it(
    'creates every object with the served versions and our labels, and warns while permissive mode is ' + 'on',
    async () => {
      const { ctx: c, calls } = ctx({}, meshConfig(true), SMI);
      const plan = await step.plan(c);
      expect(plan.changes.map((ch) => [ch.action, ch.target.apiVersion, ch.target.kind, ch.target.name])).toEqual([
        ['create', 'specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'routes'],
        ['create', 'specs.smi-spec.io/v1alpha4', 'TCPRoute', 'tcp'],
        ['create', 'access.smi-spec.io/v1alpha3', 'TrafficTarget', 'a-to-b'],
        ['create', 'split.smi-spec.io/v1alpha4', 'TrafficSplit', 'split'],
      ]);
      expect(plan.changes[1].body).toEqual({
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'TCPRoute',
        metadata: {
          name: 'tcp',
          namespace: 'ns-b',
          labels: { ...OWNED, 'osm-onboarding.flomesh.io/request': REQUEST_ID },
        },
        spec: { matches: { ports: [5432] } },
      });
      expect(plan.diagnostics).toEqual([expect.objectContaining({ code: 'PERMISSIVE_MODE_ON', level: 'warning' })]);
      expect(plan.before).toMatchObject({
        objects: [{ kind: 'HTTPRouteGroup', name: 'routes', object: null }, {}, {}, {}],
      });
      expect(calls).toHaveLength(5); // MeshConfig + one GET per object
    },
  );

  it(
    'is unchanged when our objects match (key order and request id do not matter), and no permissive warning when ' +
      'off',
    async () => {
      const objects: Record<string, KubeObject> = {};
      for (const o of desiredSmiObjects(smi, 'ns-b')) {
        const reversed = Object.fromEntries(Object.entries(o.spec).reverse());
        objects[`${o.ref.plural}/${o.name}`] = {
          metadata: {
            name: o.name,
            labels: { ...OWNED, 'osm-onboarding.flomesh.io/request': 'older' },
            resourceVersion: '3',
          },
          spec: reversed,
        };
      }
      const plan = await step.plan(ctx(objects, meshConfig(false), SMI).ctx);
      expect(plan.changes).toEqual([]);
      expect(plan.diagnostics).toEqual([]);
    },
  );

  it('updates a differing object of ours in place with its resourceVersion', async () => {
    const objects = {
      'tcproutes/tcp': {
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'TCPRoute',
        metadata: { name: 'tcp', namespace: 'ns-b', labels: OWNED, resourceVersion: '41' },
        spec: { matches: { ports: [80] } },
      },
    };
    const plan = await step.plan(ctx(objects, meshConfig(false), SMI).ctx);
    const update = plan.changes.find((ch) => ch.target.kind === 'TCPRoute')!;
    expect(update).toMatchObject({
      action: 'update',
      body: { metadata: { resourceVersion: '41' }, spec: { matches: { ports: [5432] } } },
    });
    expect(
      (plan.changes.find((ch) => ch.target.kind === 'TCPRoute')!.body as KubeObject).metadata?.labels,
    ).toMatchObject({ 'osm-onboarding.flomesh.io/request': REQUEST_ID });
  });

  it('refuses objects of the same name that are not ours, naming all of them', async () => {
    const objects = {
      'tcproutes/tcp': { metadata: { name: 'tcp', labels: {} }, spec: {} },
      'trafficsplits/split': { metadata: { name: 'split' }, spec: {} },
    };
    const { ctx: c } = ctx(objects, meshConfig(false), SMI);
    await expect(step.plan(c)).rejects.toMatchObject({
      code: 'SMI_OBJECT_NOT_OWNED',
      message: expect.stringMatching(/TCPRoute ns-b\/tcp, TrafficSplit ns-b\/split/),
    });
  });
});
