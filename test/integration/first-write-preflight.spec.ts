// Before a request's first write, the worker checks what its later steps would refuse (runPreflights in
// src/onboarding/steps/step.ts): a refusal found by a late step's plan must not leave the cluster half changed,
// e.g. the MeshConfig's exclusion list written (api-server-access) and the namespace never added because a
// TrafficTarget of that name is someone else's. Each case asserts the request fails with the late step's own code
// and that nothing at all was written to the cluster. The API refuses the SMI case at request time too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

const IP_EXCLUSION = { apiServerAccess: { method: 'ip-exclusion' } };

describe('what a later step would refuse is refused before the first write', () => {
  let s: Stack;
  /** The request-time reads off: the worker alone decides (a cluster that did not answer the API in time). */
  let lazy: Stack;
  beforeAll(async () => {
    s = await startStack();
    lazy = await startStack({ emulator: s.emulator, env: { PRECHECK_TIMEOUT_MS: '0' } });
  });
  afterAll(async () => {
    await lazy?.close();
    await s?.close();
  });

  const run = async (stack: Stack, body: Record<string, unknown>) => {
    const accepted = await http(stack.url, 'POST', '/v1/onboardings', body);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    return waitForStatus(stack.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
  };

  it('an SMI object that is not ours: 409 at request time; the worker refuses it before writing', async () => {
    const ns = uniqueName('pre-smi');
    seedAppNamespace(s.emulator.store, ns);
    s.emulator.store.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'routes', namespace: ns, labels: { team: 'theirs' } },
      spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] },
    });
    const body = {
      namespace: ns,
      ...IP_EXCLUSION,
      trafficPolicy: {
        mode: 'smi',
        smi: { httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*' }] } }] },
      },
    };
    const writes = writesTo(s.emulator);
    // The API reads the request's SMI objects (one GET each) and refuses as the step would, before storing.
    for (const path of ['/v1/onboardings', '/v1/onboardings/plan']) {
      const r = await http(s.url, 'POST', path, body);
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.error).toMatchObject({ code: 'SMI_OBJECT_NOT_OWNED', fields: [{ field: 'trafficPolicy.smi' }] });
    }
    const g = await gql(s.url, 'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }', { i: body });
    expect(g.errors[0].extensions).toMatchObject({ code: 'SMI_OBJECT_NOT_OWNED' });
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);

    // Accepted without the request-time reads: the worker refuses it before its first write (the MeshConfig's).
    const done = await run(lazy, body);
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'SMI_OBJECT_NOT_OWNED' });
    expect(done.errorMessage).toMatch(/^Set the traffic policy mode, checked before the first write: HTTPRouteGroup/);
    expect(writesTo(s.emulator)).toBe(writes);
    const steps = Object.fromEntries(done.steps.map((x: { name: string; status: string }) => [x.name, x.status]));
    expect(steps).toMatchObject({ 'api-server-access': 'FAILED', 'traffic-policy': 'PENDING', namespace: 'PENDING' });
  });

  it('a namespace another mesh took after the request was accepted: FAILED, nothing written', async () => {
    const ns = uniqueName('pre-ns');
    seedAppNamespace(lazy.emulator.store, ns, { labels: { 'openservicemesh.io/monitored-by': 'blue' } });
    const writes = writesTo(lazy.emulator);
    const done = await run(lazy, { namespace: ns, ...IP_EXCLUSION });
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'NAMESPACE_OWNED_BY_OTHER_MESH' });
    expect(writesTo(lazy.emulator)).toBe(writes);
  });

  it('a Service the request names that is gone: FAILED before the namespace is labelled', async () => {
    const ns = uniqueName('pre-svc');
    seedAppNamespace(lazy.emulator.store, ns);
    const writes = writesTo(lazy.emulator);
    const done = await run(lazy, { namespace: ns, appProtocols: [{ service: 'nope', port: 80, appProtocol: 'http' }] });
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'SERVICE_PORT_NOT_FOUND' });
    expect(writesTo(lazy.emulator)).toBe(writes);
  });

  it('a Deployment `restart.selected` names that is gone: FAILED before the namespace is labelled', async () => {
    const ns = uniqueName('pre-dep');
    seedAppNamespace(lazy.emulator.store, ns);
    const writes = writesTo(lazy.emulator);
    const done = await run(lazy, { namespace: ns, restart: { mode: 'selected', deployments: ['nope'] } });
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'DEPLOYMENT_NOT_FOUND' });
    expect(writesTo(lazy.emulator)).toBe(writes);
  });

  it('offboarding with removeApiServerExclusion, the API Service gone: FAILED before the label goes', async () => {
    const ns = uniqueName('pre-off');
    seedAppNamespace(s.emulator.store, ns, { labels: { 'openservicemesh.io/monitored-by': 'osm' } });
    const ref = { apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'kubernetes' };
    const apiService = s.emulator.store.get(ref)!;
    s.emulator.store.delete(ref);
    try {
      const writes = writesTo(s.emulator);
      const accepted = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns, removeApiServerExclusion: true });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const done = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: 'API_SERVER_NOT_FOUND' });
      expect(done.steps[0]).toMatchObject({ name: 'namespace-removal', status: 'FAILED' });
      expect(writesTo(s.emulator)).toBe(writes);
    } finally {
      const { name, namespace } = apiService.metadata;
      s.emulator.store.create({ ...apiService, metadata: { name, namespace } });
    }
  });

  it('costs no call when no later step can refuse (restart all, no SMI, no appProtocols)', async () => {
    const ns = uniqueName('pre-ok');
    seedAppNamespace(s.emulator.store, ns);
    const done = await run(s, { namespace: ns, restart: { mode: 'all' } });
    expect(done.status).toBe('SUCCEEDED');
    // The namespace step (the first write) makes its own 2 calls (get, patch) and no preflight call of restart's.
    const calls = (name: string) => done.steps.find((x: { name: string }) => x.name === name).output.apiCalls;
    expect(calls('namespace')).toBe(2);
  });
});
