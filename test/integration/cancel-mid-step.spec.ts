// A cancel accepted while a step waits to retry: if the failed attempt had already begun writing (its
// `step.applying` is recorded), the step is tried to its end and the cancel takes effect before the next step, so
// the record never says "cancelled before step X" while X's first writes are in the cluster. An attempt that wrote
// nothing is still held back (the step ends CANCELLED, nothing more is written).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { namespaceMeta } from '../support/kube.js';

const MARK = 'osm-onboarding.flomesh.io/api-server-access';
const MESH_CONFIG = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};

describe('cancel while a step waits to retry', () => {
  let s: Stack;
  beforeAll(async () => {
    // A retry waits about a second: time to cancel between the attempts.
    s = await startStack({ env: { STEP_BACKOFF_MS: '1000' } });
  });
  afterAll(async () => s?.close());

  const trail = async (id: string): Promise<{ action: string; step?: string }[]> =>
    (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items;
  const until = async (id: string, action: string) => {
    for (let i = 0; i < 200; i++) {
      if ((await trail(id)).some((e) => e.action === action)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no ${action} in the trail of ${id}`);
  };
  const exclusions = () =>
    (s.emulator.store.get<any>(MESH_CONFIG)!.spec.traffic.outboundIPRangeExclusionList ?? []) as string[];

  it('a step that began writing runs to its end; the request stops before the next step', async () => {
    const ns = uniqueName('cancel-mid');
    seedAppNamespace(s.emulator.store, ns);
    // api-server-access marks the namespace, then patches the MeshConfig: that patch fails once.
    s.emulator.faults.add({ verb: 'patch', resource: 'meshconfigs', status: 500, reason: 'InternalError', times: 1 });
    const r = await http(s.url, 'POST', '/v1/onboardings', {
      namespace: ns,
      apiServerAccess: { method: 'ip-exclusion' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await until(r.body.id, 'step.retrying');
    expect((await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/cancel`, {})).status).toBe(200);
    const done = await waitForStatus(s.url, r.body.id, ['CANCELLED', 'FAILED', 'SUCCEEDED']);
    expect(done.status).toBe('CANCELLED');
    const steps = Object.fromEntries(done.steps.map((x: { name: string; status: string }) => [x.name, x.status]));
    expect(steps['api-server-access']).toBe('SUCCEEDED');
    expect(steps.namespace).toBe('CANCELLED');
    // What the cluster holds is what the record says: the mark and the entry, and the namespace not in the mesh.
    expect((await namespaceMeta(s.emulator, ns)).annotations[MARK]).toBe('ip-exclusion');
    expect(exclusions()).toContain('10.96.0.1/32');
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();
  });

  it('a step whose failed attempt wrote nothing is not tried again', async () => {
    const ns = uniqueName('cancel-pre');
    seedAppNamespace(s.emulator.store, ns);
    // The namespace step's read fails past the client's own retries (a step retry is pending): nothing written.
    s.emulator.faults.add({ verb: 'get', resource: 'namespaces', name: ns, status: 500, reason: 'X', times: 50 });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'none' } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await until(r.body.id, 'step.retrying');
    const writesBefore = s.emulator.requests.all().filter((q) => q.verb === 'patch' && q.name === ns).length;
    expect((await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/cancel`, {})).status).toBe(200);
    const done = await waitForStatus(s.url, r.body.id, ['CANCELLED', 'FAILED', 'SUCCEEDED']);
    expect(done.status).toBe('CANCELLED');
    expect(s.emulator.requests.all().filter((q) => q.verb === 'patch' && q.name === ns).length).toBe(writesBefore);
  });
});
