import { describe, expect, it } from 'vitest';
import type { V1Namespace, V1Service } from '@kubernetes/client-node';
import type { DomainError } from '../../src/common/domain-error.js';
import type { ClusterClient, KubeObject } from '../../src/kubernetes/cluster-client.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { MeshDiscoveryService, MeshInfo } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions, offboardingOptions, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import { planExclusionAdd, planExclusionRemove } from '../../src/mesh/mesh-config.js';
import { ApiServerAccessStep } from '../../src/onboarding/steps/api-server-access.step.js';
import { asGuardConflict } from '../../src/onboarding/steps/kit/mesh-config.js';
import {
  ApiServerAccessRemovalStep,
  needsExclusion,
} from '../../src/onboarding/steps/api-server-access-removal.step.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';

// Planning logic only: the cluster is a fixture object implementing the ClusterClient calls the steps make.
interface Fixture {
  service?: V1Service | null;
  meshConfig?: KubeObject | null;
  namespaces?: V1Namespace[];
  egress?: KubeObject | null;
  serviceAccounts?: string[];
}

const ADDED = 'osm-onboarding.flomesh.io/api-server-exclusion-added';
const ADDED_PATH = '/metadata/annotations/osm-onboarding.flomesh.io~1api-server-exclusion-added';
/** The MeshConfig's record that osm-onboarding added the API server's entry. */
const OURS = { [ADDED]: '10.96.0.1/32' };

const mc = (
  traffic: Record<string, unknown> | undefined,
  featureFlags: Record<string, unknown> = { enableEgressPolicy: true },
  rv = '100',
  annotations?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  metadata: {
    name: 'osm-mesh-config',
    namespace: 'osm-system',
    resourceVersion: rv,
    ...(annotations && { annotations }),
  },
  spec: { ...(traffic ? { traffic } : {}), featureFlags },
});

const nsObj = (
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): V1Namespace => ({
  metadata: { name, labels, annotations, resourceVersion: '1' },
});

const kubernetesService: V1Service = {
  metadata: { name: 'kubernetes', namespace: 'default' },
  spec: {
    clusterIP: '10.96.0.1',
    clusterIPs: ['10.96.0.1'],
    ports: [{ name: 'https', port: 443, targetPort: 6443 }],
  },
};

function fixture(f: Fixture) {
  const calls: string[] = [];
  const namespaces = f.namespaces ?? [nsObj('team-a'), nsObj('default')];
  const notFound = (what: string) => new KubeError('NOT_FOUND', `${what} not found`, 404);
  const kube = {
    getService: async () => {
      calls.push('get service');
      if (f.service === null) throw notFound('services "kubernetes"');
      return f.service ?? kubernetesService;
    },
    getNamespace: async (name: string) => {
      calls.push(`get namespace ${name}`);
      const ns = namespaces.find((n) => n.metadata?.name === name);
      if (!ns) throw notFound(`namespaces "${name}"`);
      return ns;
    },
    listNamespaces: async () => {
      calls.push('list namespaces');
      return { items: namespaces, metadata: {} };
    },
    getCustom: async (ref: { plural: string }, _ns: string, name: string) => {
      calls.push(`get ${ref.plural}`);
      const obj = ref.plural === 'meshconfigs' ? f.meshConfig : ref.plural === 'egresses' ? f.egress : null;
      if (!obj) throw notFound(`${ref.plural} "${name}"`);
      return obj;
    },
    listServiceAccounts: async () => {
      calls.push('list serviceaccounts');
      return { items: (f.serviceAccounts ?? []).map((name) => ({ metadata: { name } })) };
    },
  } as unknown as ClusterClient;
  return { kube, calls };
}

function ctx(f: Fixture, options: Partial<RequestOptions>, overrides: Partial<StepContext['request']> = {}) {
  const { kube, calls } = fixture(f);
  const info: MeshInfo = {
    meshName: 'osm',
    controlPlaneNamespace: 'osm-system',
    controlPlaneNamespaces: ['osm-system'],
  };
  const mesh = { discover: async () => info } as unknown as MeshDiscoveryService;
  const c: StepContext = {
    kube,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    mesh,
    request: {
      id: '0b9c1f7e-4a53-4c55-9a5e-3d0c3b8f1a11',
      createdAt: new Date(),
      kind: 'ONBOARD',
      cluster: 'c',
      namespace: 'team-a',
      meshName: 'osm',
      options: { ...onboardingOptions({ namespace: 'team-a' }), ...options },
      ...overrides,
    },
  };
  return { ctx: c, calls };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).code ?? (err as KubeError).reason;
  }
  return 'no error';
}

const IP_EXCLUSION: Partial<RequestOptions> = { apiServerAccess: { method: 'ip-exclusion' } };
const EGRESS: Partial<RequestOptions> = { apiServerAccess: { method: 'egress', serviceAccounts: ['app', 'worker'] } };

describe('exclusion list patches', () => {
  it('appends with a resourceVersion guard when the list exists', () => {
    expect(planExclusionAdd(mc({ outboundIPRangeExclusionList: ['10.0.0.0/8'] }), '10.96.0.1/32')).toEqual({
      action: 'patch',
      target: {
        apiVersion: 'config.openservicemesh.io/v1alpha2',
        kind: 'MeshConfig',
        namespace: 'osm-system',
        name: 'osm-mesh-config',
      },
      patchType: 'json',
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: '100' },
        { op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList/-', value: '10.96.0.1/32' },
      ],
    });
  });

  it('adds the whole list when it, spec.traffic or spec is absent (or null)', () => {
    const ops = (m: KubeObject) => (planExclusionAdd(m, '10.96.0.1/32')!.body as unknown[]).slice(1);
    expect(ops(mc({ enableEgress: true }))).toEqual([
      { op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList', value: ['10.96.0.1/32'] },
    ]);
    expect(ops(mc({ outboundIPRangeExclusionList: null }))).toEqual([
      { op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList', value: ['10.96.0.1/32'] },
    ]);
    expect(ops(mc(undefined))).toEqual([
      { op: 'add', path: '/spec/traffic', value: { outboundIPRangeExclusionList: ['10.96.0.1/32'] } },
    ]);
    const noSpec = { ...mc(undefined), spec: undefined };
    expect(ops(noSpec)).toEqual([
      { op: 'add', path: '/spec', value: { traffic: { outboundIPRangeExclusionList: ['10.96.0.1/32'] } } },
    ]);
  });

  it('plans nothing when present, and refuses to write an invalid CIDR', async () => {
    expect(planExclusionAdd(mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }), '10.96.0.1/32')).toBeNull();
    expect(await codeOf((async () => planExclusionAdd(mc({}), '10.96.0.1/24'))())).toBe('INVALID_CIDR');
  });

  it('removes every exact duplicate, highest index first, each value-tested', () => {
    const m = mc({ outboundIPRangeExclusionList: ['10.96.0.1/32', '10.0.0.0/8', '10.96.0.1/32'] });
    expect(planExclusionRemove(m, '10.96.0.1/32')!.body).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '100' },
      { op: 'test', path: '/spec/traffic/outboundIPRangeExclusionList/2', value: '10.96.0.1/32' },
      { op: 'remove', path: '/spec/traffic/outboundIPRangeExclusionList/2' },
      { op: 'test', path: '/spec/traffic/outboundIPRangeExclusionList/0', value: '10.96.0.1/32' },
      { op: 'remove', path: '/spec/traffic/outboundIPRangeExclusionList/0' },
    ]);
    expect(planExclusionRemove(mc({ outboundIPRangeExclusionList: ['10.0.0.0/8'] }), '10.96.0.1/32')).toBeNull();
  });

  it('turns a failed guard into a CONFLICT, and leaves schema errors alone', () => {
    const test422 = new KubeError(
      'INVALID',
      'patch meshconfigs: the server rejected our request due to an error in our request',
      422,
    );
    expect(asGuardConflict(test422)).toMatchObject({ reason: 'CONFLICT' });
    expect(asGuardConflict(new KubeError('CONFLICT', 'x', 409))).toMatchObject({ reason: 'CONFLICT' });
    const schema422 = new KubeError(
      'INVALID',
      'patch x: MeshConfig.config.openservicemesh.io "osm-mesh-config" is invalid: ' +
        'spec.traffic.outboundIPRangeExclusionList[0]: Invalid value',
      422,
    );
    expect(asGuardConflict(schema422)).toBe(schema422);
  });
});

describe('api-server-access plan: ip-exclusion', () => {
  const step = new ApiServerAccessStep();

  it('annotates the namespace and appends the /32 without touching other entries', async () => {
    const { ctx: c, calls } = ctx(
      { meshConfig: mc({ outboundIPRangeExclusionList: ['10.0.0.0/8', '999.1.1.1/32'] }) },
      IP_EXCLUSION,
    );
    const plan = await step.plan(c);
    expect(plan.changes).toEqual([
      {
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Namespace', name: 'team-a' },
        patchType: 'strategic',
        body: { metadata: { annotations: { 'osm-onboarding.flomesh.io/api-server-access': 'ip-exclusion' } } },
      },
      expect.objectContaining({
        patchType: 'json',
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: '100' },
          { op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList/-', value: '10.96.0.1/32' },
          // What offboarding reads to know the entry is ours to remove.
          { op: 'add', path: '/metadata/annotations', value: { [ADDED]: '10.96.0.1/32' } },
        ],
      }),
    ]);
    expect(plan.facts).toMatchObject({ apiServerIp: '10.96.0.1', cidr: '10.96.0.1/32', method: 'ip-exclusion' });
    expect(plan.before).toEqual({
      meshConfig: {
        namespace: 'osm-system',
        name: 'osm-mesh-config',
        resourceVersion: '100',
        outboundIPRangeExclusionList: ['10.0.0.0/8', '999.1.1.1/32'],
      },
      namespaceAnnotations: { 'osm-onboarding.flomesh.io/api-server-access': null },
    });
    expect(plan.diagnostics).toContainEqual(
      expect.objectContaining({
        code: 'INVALID_EXCLUSION_CIDR',
        level: 'warning',
        message: expect.stringContaining('[1]'),
      }),
    );
    // 10.0.0.0/8 covers 10.96.0.1: reported, but the /32 is still added so removal can track it.
    expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'API_SERVER_ALREADY_COVERED' }));
    expect(calls).toEqual(['get service', 'get meshconfigs', 'get namespace team-a']);
  });

  it('plans nothing once the annotation and the entry are there', async () => {
    const { ctx: c } = ctx(
      {
        meshConfig: mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }),
        namespaces: [nsObj('team-a', {}, { 'osm-onboarding.flomesh.io/api-server-access': 'ip-exclusion' })],
      },
      IP_EXCLUSION,
    );
    expect((await step.plan(c)).changes).toEqual([]);
  });

  it('adds the list itself when MeshConfig has none', async () => {
    const { ctx: c } = ctx({ meshConfig: mc({}) }, IP_EXCLUSION);
    const plan = await step.plan(c);
    expect((plan.changes[1].body as unknown[])[1]).toEqual({
      op: 'add',
      path: '/spec/traffic/outboundIPRangeExclusionList',
      value: ['10.96.0.1/32'],
    });
  });

  it('fails with API_SERVER_NOT_FOUND without the Service or without an IPv4 cluster IP', async () => {
    expect(await codeOf(step.plan(ctx({ service: null, meshConfig: mc({}) }, IP_EXCLUSION).ctx))).toBe(
      'API_SERVER_NOT_FOUND',
    );
    const v6: V1Service = { metadata: { name: 'kubernetes' }, spec: { clusterIP: 'fd00::1', clusterIPs: ['fd00::1'] } };
    expect(await codeOf(step.plan(ctx({ service: v6, meshConfig: mc({}) }, IP_EXCLUSION).ctx))).toBe(
      'API_SERVER_NOT_FOUND',
    );
    const dual: V1Service = {
      metadata: { name: 'kubernetes' },
      spec: { clusterIP: 'fd00::1', clusterIPs: ['fd00::1', '10.96.0.1'] },
    };
    expect((await step.plan(ctx({ service: dual, meshConfig: mc({}) }, IP_EXCLUSION).ctx)).facts).toMatchObject({
      apiServerIp: '10.96.0.1',
    });
  });

  it('fails with MESH_CONFIG_NOT_FOUND without a MeshConfig, and does nothing when not requested', async () => {
    expect(await codeOf(step.plan(ctx({ meshConfig: null }, IP_EXCLUSION).ctx))).toBe('MESH_CONFIG_NOT_FOUND');
    const { ctx: c, calls } = ctx({}, { apiServerAccess: null });
    expect((await step.plan(c)).changes).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('execute re-plans (CONFLICT) when only the annotation was written and the entry vanished meanwhile', async () => {
    const state = { meshConfig: mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }) as KubeObject | null };
    const { ctx: c } = ctx(state, IP_EXCLUSION);
    const plan = await step.plan(c);
    expect(plan.changes.map((ch) => ch.target.kind)).toEqual(['Namespace']);
    const patched: string[] = [];
    (c.kube as unknown as Record<string, unknown>).patchNamespace = async (name: string) => patched.push(name);
    state.meshConfig = mc({ outboundIPRangeExclusionList: [] }, undefined, '101'); // a concurrent removal
    expect(await codeOf(step.execute(c, plan))).toBe('CONFLICT');
    expect(patched).toEqual(['team-a']);
  });
});

describe('api-server-access plan: egress', () => {
  const step = new ApiServerAccessStep();
  const owned = (
    spec: unknown,
    labels: Record<string, string> = { 'app.kubernetes.io/managed-by': 'osm-onboarding' },
  ): KubeObject => ({
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: {
      name: 'osm-onboarding-api-server',
      namespace: 'team-a',
      labels,
      resourceVersion: '55',
      uid: 'u1',
      managedFields: [{}] as never,
    },
    spec: spec as Record<string, unknown>,
  });
  const desiredSpec = {
    sources: [
      { kind: 'ServiceAccount', name: 'app', namespace: 'team-a' },
      { kind: 'ServiceAccount', name: 'worker', namespace: 'team-a' },
    ],
    ipAddresses: ['10.96.0.1/32'],
    ports: [{ number: 443, protocol: 'https' }],
  };

  it('turns the egress policy flag on (merge patch of the boolean) and creates the Egress', async () => {
    const { ctx: c, calls } = ctx(
      { meshConfig: mc({ enableEgress: false }, { enableEgressPolicy: false }), serviceAccounts: ['app'] },
      EGRESS,
    );
    const plan = await step.plan(c);
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
        body: { spec: { featureFlags: { enableEgressPolicy: true } } },
      },
      {
        action: 'create',
        target: {
          apiVersion: 'policy.openservicemesh.io/v1alpha1',
          kind: 'Egress',
          namespace: 'team-a',
          name: 'osm-onboarding-api-server',
        },
        body: {
          apiVersion: 'policy.openservicemesh.io/v1alpha1',
          kind: 'Egress',
          metadata: {
            name: 'osm-onboarding-api-server',
            namespace: 'team-a',
            labels: {
              'app.kubernetes.io/managed-by': 'osm-onboarding',
              'osm-onboarding.flomesh.io/request': '0b9c1f7e-4a53-4c55-9a5e-3d0c3b8f1a11',
            },
          },
          spec: desiredSpec,
        },
      },
    ]);
    expect(plan.before).toEqual({
      meshConfig: {
        namespace: 'osm-system',
        name: 'osm-mesh-config',
        resourceVersion: '100',
        enableEgressPolicy: false,
      },
      egress: null,
    });
    expect(plan.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'SERVICE_ACCOUNT_NOT_FOUND', message: expect.stringContaining('worker') }),
    );
    expect(plan.facts).toMatchObject({ method: 'egress', cidr: '10.96.0.1/32' });
    expect(calls).toEqual([
      'get service',
      'get meshconfigs',
      'get namespace default',
      'get egresses',
      'list serviceaccounts',
    ]);
  });

  it('is unchanged when the flag is on and our Egress matches (whatever request made it)', async () => {
    const existing = owned(desiredSpec, {
      'app.kubernetes.io/managed-by': 'osm-onboarding',
      'osm-onboarding.flomesh.io/request': 'older',
    });
    const { ctx: c } = ctx({ meshConfig: mc({}), egress: existing, serviceAccounts: ['app', 'worker'] }, EGRESS);
    const plan = await step.plan(c);
    expect(plan.changes).toEqual([]);
    expect(plan.diagnostics).toEqual([]);
  });

  it('updates our Egress in place with its resourceVersion, keeping foreign labels', async () => {
    const existing = owned(
      { ...desiredSpec, sources: [desiredSpec.sources[0]] },
      { 'app.kubernetes.io/managed-by': 'osm-onboarding', team: 'a' },
    );
    const { ctx: c } = ctx({ meshConfig: mc({}), egress: existing }, EGRESS);
    const plan = await step.plan(c);
    expect(plan.changes).toHaveLength(1);
    expect(plan.changes[0]).toMatchObject({
      action: 'update',
      body: {
        metadata: {
          resourceVersion: '55',
          uid: 'u1',
          labels: { team: 'a', 'app.kubernetes.io/managed-by': 'osm-onboarding' },
        },
        spec: desiredSpec,
      },
    });
    expect((plan.changes[0].body as KubeObject).metadata).not.toHaveProperty('managedFields');
  });

  it('refuses an Egress of that name that is not ours', async () => {
    const { ctx: c } = ctx({ meshConfig: mc({}), egress: owned(desiredSpec, {}) }, EGRESS);
    expect(await codeOf(step.plan(c))).toBe('SMI_OBJECT_NOT_OWNED');
  });

  it('refuses when default is monitored by the mesh (or is the onboarded namespace)', async () => {
    const monitored = [nsObj('team-a'), nsObj('default', { 'openservicemesh.io/monitored-by': 'osm' })];
    expect(await codeOf(step.plan(ctx({ meshConfig: mc({}), namespaces: monitored }, EGRESS).ctx))).toBe(
      'EGRESS_API_SERVER_MONITORED',
    );
    expect(await codeOf(step.plan(ctx({ meshConfig: mc({}) }, EGRESS, { namespace: 'default' }).ctx))).toBe(
      'EGRESS_API_SERVER_MONITORED',
    );
    const otherMesh = [nsObj('team-a'), nsObj('default', { 'openservicemesh.io/monitored-by': 'blue' })];
    expect(await codeOf(step.plan(ctx({ meshConfig: mc({}), namespaces: otherMesh }, EGRESS).ctx))).toBe('no error');
  });
});

describe('api-server-access-removal plan', () => {
  const step = new ApiServerAccessRemovalStep();
  const MARK = { 'osm-onboarding.flomesh.io/api-server-access': 'ip-exclusion' };
  const off = (namespaces: V1Namespace[], meshConfig: KubeObject | null) =>
    ctx(
      { namespaces, meshConfig },
      { ...offboardingOptions({ namespace: 'team-a', removeApiServerExclusion: true }) },
      { kind: 'OFFBOARD' },
    );

  it('counts only other, annotated, live namespaces of this mesh or of no mesh', () => {
    expect(needsExclusion(nsObj('team-b', { 'openservicemesh.io/monitored-by': 'osm' }, MARK), 'team-a', 'osm')).toBe(
      true,
    );
    expect(needsExclusion(nsObj('team-b', {}, MARK), 'team-a', 'osm')).toBe(true);
    expect(needsExclusion(nsObj('team-b', { 'openservicemesh.io/monitored-by': 'blue' }, MARK), 'team-a', 'osm')).toBe(
      false,
    );
    expect(needsExclusion(nsObj('team-a', { 'openservicemesh.io/monitored-by': 'osm' }, MARK), 'team-a', 'osm')).toBe(
      false,
    );
    expect(needsExclusion(nsObj('team-b', { 'openservicemesh.io/monitored-by': 'osm' }), 'team-a', 'osm')).toBe(false);
    expect(needsExclusion({ ...nsObj('team-b', {}, MARK), status: { phase: 'Terminating' } }, 'team-a', 'osm')).toBe(
      false,
    );
  });

  it('clears the mark and removes the entry (and our annotation) when nobody else needs it', async () => {
    const { ctx: c } = off(
      [nsObj('team-a', {}, MARK), nsObj('team-b')],
      mc({ outboundIPRangeExclusionList: ['10.0.0.0/8', '10.96.0.1/32'] }, undefined, '100', OURS),
    );
    const plan = await step.plan(c);
    // The list first, the mark last (`leaving`, then gone): a conflict re-plans with the mark still there.
    expect(plan.changes).toEqual([
      expect.objectContaining({
        patchType: 'json',
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: '100' },
          { op: 'test', path: '/spec/traffic/outboundIPRangeExclusionList/1', value: '10.96.0.1/32' },
          { op: 'remove', path: '/spec/traffic/outboundIPRangeExclusionList/1' },
          { op: 'test', path: ADDED_PATH, value: '10.96.0.1/32' },
          { op: 'remove', path: ADDED_PATH },
        ],
      }),
      expect.objectContaining({
        target: expect.objectContaining({ kind: 'Namespace' }),
        body: { metadata: { annotations: { 'osm-onboarding.flomesh.io/api-server-access': 'leaving' } } },
      }),
      expect.objectContaining({
        target: expect.objectContaining({ kind: 'Namespace' }),
        body: { metadata: { annotations: { 'osm-onboarding.flomesh.io/api-server-access': null } } },
      }),
    ]);
    expect(plan.facts).toMatchObject({ neededBy: 0, addedByUs: true });
  });

  it('leaves an entry that was there before osm-onboarding relied on it, when the last claimant leaves', async () => {
    // Marked (it relied on the entry through us) but the MeshConfig does not say we added it: the guide's step 3
    // by hand, which namespaces meshed without osm-onboarding may need.
    for (const annotations of [undefined, { [ADDED]: '10.96.0.2/32' }]) {
      const { ctx: c } = off(
        [nsObj('team-a', {}, MARK), nsObj('team-b')],
        mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }, undefined, '100', annotations),
      );
      const plan = await step.plan(c);
      expect(plan.changes.map((ch) => ch.target.kind)).toEqual(['Namespace', 'Namespace']);
      expect(plan.facts).toMatchObject({ neededBy: 0, claimed: true, addedByUs: false });
      expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'API_SERVER_EXCLUSION_NOT_OURS' }));
      // Executed, it does not re-plan forever: the entry staying is what the plan meant.
      (c.kube as unknown as Record<string, unknown>).patchNamespace = async () => nsObj('team-a');
      expect(await codeOf(step.execute(c, plan))).toBe('no error');
    }
  });

  it('leaves an entry no one needs when this namespace never claimed it (added by hand, guide step 3)', async () => {
    const { ctx: c } = off([nsObj('team-a'), nsObj('team-b')], mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }));
    const plan = await step.plan(c);
    expect(plan.changes).toEqual([]);
    expect(plan.facts).toMatchObject({ neededBy: 0, claimed: false });
    expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'API_SERVER_EXCLUSION_NOT_CLAIMED' }));
  });

  it('puts back a missing entry another namespace needs, even when this one never claimed it', async () => {
    const { ctx: c } = off(
      [nsObj('team-a'), nsObj('team-b', { 'openservicemesh.io/monitored-by': 'osm' }, MARK)],
      mc({ outboundIPRangeExclusionList: [] }),
    );
    const plan = await step.plan(c);
    expect(plan.changes.map((x) => x.target.kind)).toEqual(['MeshConfig']);
  });

  it('keeps the entry while another namespace needs it', async () => {
    const { ctx: c } = off(
      [nsObj('team-a', {}, MARK), nsObj('team-b', { 'openservicemesh.io/monitored-by': 'osm' }, MARK)],
      mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }),
    );
    const plan = await step.plan(c);
    expect(plan.changes.map((ch) => ch.target.kind)).toEqual(['Namespace', 'Namespace']);
    expect(plan.facts).toMatchObject({ neededBy: 1 });
    expect(JSON.stringify(plan)).not.toContain('team-b');
    expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'API_SERVER_EXCLUSION_KEPT' }));
  });

  it('restores a missing entry another namespace needs; unchanged when all is settled', async () => {
    const { ctx: c } = off([nsObj('team-a'), nsObj('team-b', {}, MARK)], mc({ outboundIPRangeExclusionList: [] }));
    const plan = await step.plan(c);
    expect(plan.changes).toEqual([
      expect.objectContaining({ body: expect.arrayContaining([expect.objectContaining({ op: 'add' })]) }),
    ]);
    expect(
      (await step.plan(off([nsObj('team-a')], mc({ outboundIPRangeExclusionList: ['10.0.0.0/8'] })).ctx)).changes,
    ).toEqual([]);
  });

  it('execute re-plans (CONFLICT) when another namespace started needing the entry after the plan', async () => {
    const namespaces = [nsObj('team-a', {}, MARK), nsObj('team-b')];
    const state = {
      namespaces,
      meshConfig: mc({ outboundIPRangeExclusionList: ['10.96.0.1/32'] }, undefined, '100', OURS) as KubeObject | null,
    };
    const { ctx: c } = ctx(
      state,
      { ...offboardingOptions({ namespace: 'team-a', removeApiServerExclusion: true }) },
      { kind: 'OFFBOARD' },
    );
    const plan = await step.plan(c);
    const k = c.kube as unknown as Record<string, unknown>;
    k.patchNamespace = async () => (namespaces[0] = nsObj('team-a'));
    k.patchCustom = async () => {
      state.meshConfig = mc({ outboundIPRangeExclusionList: [] }, undefined, '101');
      namespaces[1] = nsObj('team-b', {}, MARK); // an onboarding marked team-b meanwhile
      return state.meshConfig;
    };
    expect(await codeOf(step.execute(c, plan))).toBe('CONFLICT');
    // The re-plan puts the entry back.
    const again = await step.plan(c);
    expect(again.changes).toEqual([
      expect.objectContaining({
        patchType: 'json',
        body: expect.arrayContaining([expect.objectContaining({ op: 'add' })]),
      }),
    ]);
  });

  it('only clears the mark when the mesh is gone', async () => {
    const { ctx: c } = off([nsObj('team-a', {}, MARK)], null);
    const plan = await step.plan(c);
    expect(plan.changes.map((ch) => ch.target.kind)).toEqual(['Namespace', 'Namespace']);
    expect(plan.diagnostics).toContainEqual(expect.objectContaining({ code: 'MESH_CONFIG_NOT_FOUND' }));
  });
});
