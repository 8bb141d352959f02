// A cluster that does not serve a CRD the request needs (osm-edge installed without it, or in another version): the
// step fails with KUBE_RESOURCE_NOT_SERVED before any write, never reading the 404 as "the object does not exist".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeError } from '../../../src/kubernetes/kube-error.js';
import { ApiServerAccessRemovalStep } from '../../../src/onboarding/steps/api-server-access-removal.step.js';
import { ApiServerAccessStep } from '../../../src/onboarding/steps/api-server-access.step.js';
import { PolicyCleanupStep } from '../../../src/onboarding/steps/policy-cleanup.step.js';
import { applyStep, runPreflights } from '../../../src/onboarding/steps/step.js';
import { classify } from '../../../src/onboarding/step-failure.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const MC_REF = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};
const EGRESS_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: 'egresses.policy.openservicemesh.io',
};

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
  emulator.store.patch(MC_REF, 'merge', { spec: { featureFlags: { enableEgressPolicy: false } } });
  expect(emulator.store.delete(EGRESS_CRD)).toBeDefined();
  emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-x' } });
});
afterAll(() => emulator?.close());

describe('a CRD the cluster does not serve', () => {
  it('fails the Egress method before its MeshConfig write: no mesh-wide egress policy without its Egress', async () => {
    const ctx = await stepContext(emulator, {
      namespace: 'team-x',
      options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
    });
    emulator.requests.clear();
    const failed = await applyStep(new ApiServerAccessStep(), ctx).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(KubeError);
    expect((failed as KubeError).reason).toBe('NOT_SERVED');
    expect(classify(failed)).toMatchObject({ code: 'KUBE_RESOURCE_NOT_SERVED', retryable: false });
    const writes = emulator.requests.all().filter((r) => !['get', 'list', 'watch'].includes(r.verb));
    expect(writes).toEqual([]);
    const mc = emulator.store.get(MC_REF)!;
    expect((mc.spec as any).featureFlags.enableEgressPolicy).toBe(false);
  });

  it("still plans an offboarding's policy cleanup: nothing of an unserved kind can exist", async () => {
    const ctx = await stepContext(emulator, {
      kind: 'OFFBOARD',
      namespace: 'team-x',
      options: { deleteOwnedPolicies: true },
    });
    const plan = await new PolicyCleanupStep().plan(ctx);
    expect(plan.changes).toEqual([]);
    expect(plan.diagnostics?.map((d) => d.code)).toContain('CRD_NOT_SERVED');
  });
});

describe('an absent object that a server words as an unserved resource', () => {
  let served: Emulator;
  beforeAll(async () => {
    served = await startEmulator({ seed: 'osm' });
    served.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-y' } });
  });
  afterAll(() => served?.close());

  it('is read as absent once a list shows the kind is served: the Egress is created', async () => {
    served.faults.add({
      verb: 'get',
      resource: 'egresses',
      status: 404,
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
      bare: true,
      times: 1,
    });
    const ctx = await stepContext(served, {
      namespace: 'team-y',
      options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
    });
    const applied = await applyStep(new ApiServerAccessStep(), ctx);
    expect(applied.changes.map((c) => [c.action, c.target.kind])).toContainEqual(['create', 'Egress']);
    expect(served.requests.count({ verb: 'list', resource: 'egresses', namespace: 'team-y' })).toBeGreaterThan(0);
  });
});

describe('an offboarding that removes its API server exclusion, on a cluster that no longer serves MeshConfig', () => {
  let noMeshConfig: Emulator;
  beforeAll(async () => {
    noMeshConfig = await startEmulator({ seed: 'osm' });
    noMeshConfig.store.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-z', labels: { 'openservicemesh.io/monitored-by': 'osm' } },
    });
    const crd = { ...EGRESS_CRD, name: 'meshconfigs.config.openservicemesh.io' };
    expect(noMeshConfig.store.delete(crd)).toBeDefined();
  });
  afterAll(() => noMeshConfig?.close());

  it("is refused by the removal step's preflight, before namespace-removal or policy-cleanup writes", async () => {
    const ctx = await stepContext(noMeshConfig, {
      kind: 'OFFBOARD',
      namespace: 'team-z',
      options: { removeApiServerExclusion: true, deleteOwnedPolicies: true },
    });
    noMeshConfig.requests.clear();
    const failed = await runPreflights([new ApiServerAccessRemovalStep()], ctx).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(classify(failed)).toMatchObject({ code: 'KUBE_RESOURCE_NOT_SERVED', retryable: false });
    expect(noMeshConfig.requests.all().filter((r) => !['get', 'list', 'watch'].includes(r.verb))).toEqual([]);
    // Without the exclusion's removal nothing of MeshConfig is needed: no refusal.
    const plain = await stepContext(noMeshConfig, { kind: 'OFFBOARD', namespace: 'team-z' });
    await expect(runPreflights([new ApiServerAccessRemovalStep()], plain)).resolves.toBeUndefined();
  });
});
