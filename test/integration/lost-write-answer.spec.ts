// A write the API server applied but whose answer was lost (a reset connection, a 5xx sent after the commit): the
// step's retry finds nothing left to do. The step is still recorded as CHANGED (the cluster changed), and a restart
// after a namespace label written that way waits RESTART_SETTLE_MS, as after any fresh label (the injector learns
// of the label from an informer: docs/osm-edge.md#injector-race), so no pod is re-created without its sidecar.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

const SETTLE_MS = 1500;

describe('a write whose answer was lost', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { RESTART_SETTLE_MS: String(SETTLE_MS) } });
  });
  afterAll(() => s?.close());

  it('is recorded as CHANGED, and the restart after the label it wrote still waits for the injector', async () => {
    const ns = uniqueName('lost');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    // The label patch is applied, then its connection dropped before the answer.
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, applied: true, drop: true, times: 1 });
    const accepted = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'all' } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const done = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status, JSON.stringify(done)).toBe('SUCCEEDED');
    const step = done.steps.find((st: { name: string }) => st.name === 'namespace');
    expect(step).toMatchObject({ result: 'CHANGED', attempts: 2 });
    expect(step.output.summary).toContain('(written by an earlier attempt)');

    const at = (verb: string, resource: string) =>
      s.emulator.requests
        .all()
        .filter((r) => r.verb === verb && r.resource === resource && r.namespace === ns)
        .map((r) => r.at);
    const labelled = s.emulator.requests
      .all()
      .filter((r) => r.verb === 'patch' && r.resource === 'namespaces' && r.name === ns)
      .map((r) => r.at);
    expect(labelled.length).toBeGreaterThanOrEqual(1);
    const [restarted] = at('patch', 'deployments');
    expect(restarted - labelled[0]).toBeGreaterThanOrEqual(SETTLE_MS - 50);
  });
});
