// A step resumed after an earlier run of it set out to write (its `step.applying` is in the trail) may find nothing
// left to do: the cluster took the write, but the run that made it failed or died before recording its success. The
// resumed step is CHANGED all the same, and later steps learn what it wrote: a restart `needed` re-injects the pods
// after this request's MeshConfig change (osm-init reads the exclusion list only when a pod starts), as it would have
// had the first run succeeded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

describe('a step resumed after a run that wrote', () => {
  let s: Stack;
  beforeAll(async () => {
    // Two attempts a second apart: room to make the second one fail before it starts.
    s = await startStack({ env: { STEP_MAX_ATTEMPTS: '2', STEP_BACKOFF_MS: '1500' } });
  });
  afterAll(() => s?.close());

  it("counts the earlier run's write: CHANGED; restart `needed` re-injects after the MeshConfig change", async () => {
    const ns = uniqueName('resumed');
    seedAppNamespace(s.emulator.store, ns, {
      labels: { 'openservicemesh.io/monitored-by': 'osm' },
      annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
    });
    await s.emulator.idle();
    const mc = { apiVersion: 'config.openservicemesh.io/v1alpha2', kind: 'MeshConfig', namespace: 'osm-system' };
    s.emulator.store.patch({ ...mc, name: 'osm-mesh-config' }, 'merge', {
      metadata: { annotations: { 'osm-onboarding.flomesh.io/api-server-exclusion-added': null } },
      spec: { traffic: { outboundIPRangeExclusionList: [] } },
    });
    // The first attempt's MeshConfig patch is applied and answered 500; the second attempt cannot read the
    // MeshConfig: the request fails, the entry in place.
    s.emulator.faults.add({ verb: 'patch', resource: 'meshconfigs', applied: true, status: 500, times: 1 });
    const body = { namespace: ns, apiServerAccess: { method: 'ip-exclusion' }, restart: { mode: 'needed' } };
    const accepted = await http(s.url, 'POST', '/v1/onboardings', body);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const patched = () => s.emulator.requests.count({ verb: 'patch', resource: 'meshconfigs' }) > 0;
    for (let i = 0; i < 200 && !patched(); i++) await new Promise((r) => setTimeout(r, 10));
    s.emulator.faults.add({ verb: 'get', resource: 'meshconfigs', status: 500, times: 20 });
    const failed = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'KUBE_UNAVAILABLE' });
    const list = (s.emulator.store.get({ ...mc, name: 'osm-mesh-config' })!.spec as any).traffic
      .outboundIPRangeExclusionList;
    expect(list).toEqual(['10.96.0.1/32']);
    s.emulator.faults.clear();

    const retried = await http(s.url, 'POST', `/v1/onboardings/${accepted.body.id}/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const done = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status, JSON.stringify(done)).toBe('SUCCEEDED');
    const step = (name: string) => done.steps.find((x: { name: string }) => x.name === name);
    expect(step('api-server-access')).toMatchObject({ result: 'CHANGED' });
    expect(step('restart')).toMatchObject({ result: 'CHANGED' });
    expect(step('restart').output.summary).toMatch(/^restart app-0/);
  });
});
