// The request-time checks of the osm-edge resources a request needs (RequestValidator.checkOsmResources): a kind
// the cluster does not serve (a CRD missing, or in another version), a MeshConfig that does not exist, and an Egress
// of the Egress method's name that is someone else's are refused when the request is made, with the codes the
// worker's steps would fail it with, on every way in (REST, plans, GraphQL, batches), before anything is stored.
// Before, such a request was accepted (and could wait for an approval) only to fail in the worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

const MC_REF = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};
const crd = (name: string) => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
const EGRESS = { apiServerAccess: { method: 'egress', serviceAccounts: ['app-0'] } };
const SMI = {
  trafficPolicy: {
    mode: 'smi',
    smi: { httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*' }] } }] },
  },
};
const MUTATION = 'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }';

describe('the osm-edge resources a request needs, checked when it is made', () => {
  let s: Stack;
  beforeAll(async () => {
    // No cached answers: each case sees the cluster as it has just been changed.
    s = await startStack({ env: { PRECHECK_CACHE_MS: '0' } });
  });
  afterAll(() => s?.close());

  /** The request is refused on REST, its plan, GraphQL and a batch, with nothing stored and nothing written. */
  const expectRefused = async (
    ns: string,
    options: Record<string, unknown>,
    status: number,
    code: string,
    field: string,
  ) => {
    const writes = writesTo(s.emulator);
    const body = { namespace: ns, ...options };
    for (const path of ['/v1/onboardings', '/v1/onboardings/plan']) {
      const r = await http(s.url, 'POST', path, body);
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error).toMatchObject({ code, fields: [{ field }] });
    }
    const g = await gql(s.url, MUTATION, { i: body });
    expect(g.errors?.[0]?.extensions, JSON.stringify(g)).toMatchObject({ code });
    const batch = await http(s.url, 'POST', '/v1/batches', { kind: 'ONBOARD', targets: [{ namespace: ns }], options });
    expect(batch.body.error, JSON.stringify(batch.body)).toMatchObject({
      code,
      fields: [{ field: `options.${field}` }],
    });
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    expect(writesTo(s.emulator)).toBe(writes);
  };

  it("an Egress of the Egress method's name that is not ours: 409 SMI_OBJECT_NOT_OWNED", async () => {
    const ns = uniqueName('rt-egress');
    seedAppNamespace(s.emulator.store, ns);
    s.emulator.store.create({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: 'osm-onboarding-api-server', namespace: ns, labels: { team: 'theirs' } },
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'app-0', namespace: ns }],
        ports: [{ number: 443, protocol: 'https' }],
      },
    });
    await expectRefused(ns, EGRESS, 409, 'SMI_OBJECT_NOT_OWNED', 'apiServerAccess');
  });

  it('a MeshConfig that does not exist: 422 MESH_CONFIG_NOT_FOUND on the option that needs it', async () => {
    const ns = uniqueName('rt-nomc');
    seedAppNamespace(s.emulator.store, ns);
    const mc = s.emulator.store.get(MC_REF)!;
    expect(s.emulator.store.delete(MC_REF)).toBeDefined();
    try {
      await expectRefused(ns, { trafficPolicy: { mode: 'permissive' } }, 422, 'MESH_CONFIG_NOT_FOUND', 'trafficPolicy');
      await expectRefused(
        ns,
        { apiServerAccess: { method: 'ip-exclusion' } },
        422,
        'MESH_CONFIG_NOT_FOUND',
        'apiServerAccess',
      );
      // A request that neither reads nor writes the MeshConfig is not held to it.
      const plain = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'none' } });
      expect(plain.status, JSON.stringify(plain.body)).toBe(202);
      expect(await waitForStatus(s.url, plain.body.id, ['SUCCEEDED', 'FAILED'])).toMatchObject({ status: 'SUCCEEDED' });
    } finally {
      const { name, namespace } = mc.metadata;
      s.emulator.store.create({ ...mc, metadata: { name, namespace } });
    }
    // Back: the same request is accepted.
    const ns2 = uniqueName('rt-mc');
    seedAppNamespace(s.emulator.store, ns2);
    const again = await http(s.url, 'POST', '/v1/onboardings/plan', {
      namespace: ns2,
      trafficPolicy: { mode: 'permissive' },
    });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
  });

  it('kinds the cluster does not serve: 422 KUBE_RESOURCE_NOT_SERVED naming the option', async () => {
    const ns = uniqueName('rt-unserved');
    seedAppNamespace(s.emulator.store, ns);
    expect(s.emulator.store.delete(crd('egresses.policy.openservicemesh.io'))).toBeDefined();
    await expectRefused(ns, EGRESS, 422, 'KUBE_RESOURCE_NOT_SERVED', 'apiServerAccess.method');
    expect(s.emulator.store.delete(crd('httproutegroups.specs.smi-spec.io'))).toBeDefined();
    await expectRefused(ns, SMI, 422, 'KUBE_RESOURCE_NOT_SERVED', 'trafficPolicy.smi');
    expect(s.emulator.store.delete(crd('meshconfigs.config.openservicemesh.io'))).toBeDefined();
    await expectRefused(
      ns,
      { trafficPolicy: { mode: 'permissive' } },
      422,
      'KUBE_RESOURCE_NOT_SERVED',
      'trafficPolicy',
    );
    const r = await http(s.url, 'POST', '/v1/onboardings', {
      namespace: ns,
      apiServerAccess: { method: 'ip-exclusion' },
    });
    expect(r.body.error).toMatchObject({ code: 'KUBE_RESOURCE_NOT_SERVED', fields: [{ field: 'apiServerAccess' }] });
    expect(r.body.error.hint).toMatch(/CRDs/);
  });
});
