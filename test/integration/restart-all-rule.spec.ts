// The approval condition `restart-all` holds every request that restarts every Deployment of its namespace, however
// it is spelled (approval-policy.ts): an outside audit had a requester skip a `restart-all` rule with
// `restart.mode: selected` naming every Deployment, or `needed` on a first onboarding (both restart them all).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

const POLICY = JSON.stringify({ rules: [{ name: 'full-restart', when: ['restart-all'], approvals: 1 }] });

describe('approval condition restart-all', () => {
  let s: Stack;

  beforeAll(async () => {
    s = await startStack({ env: { APPROVAL_POLICY: POLICY } });
  });
  afterAll(async () => {
    await s?.close();
  });

  /** A namespace with Deployments app-0, app-1 and app-2. */
  const namespace = async () => {
    const ns = uniqueName('ra');
    seedAppNamespace(s.emulator.store, ns, { deployments: 3 });
    await s.emulator.idle();
    return ns;
  };
  const outcome = async (restart: Record<string, unknown>) => {
    const ns = await namespace();
    // Verify gives up at once: a Deployment left unrestarted keeps pods without the sidecar.
    const body = { namespace: ns, restart, verify: { timeoutSeconds: 1 } };
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', body);
    expect(plan.status).toBe(200);
    const created = await http(s.url, 'POST', '/v1/onboardings', body);
    expect(created.status).toBe(202);
    // One that runs is let finish, so that the stack closes at once.
    if (created.body.status !== 'PENDING_APPROVAL')
      await waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED']);
    return {
      plan: [plan.body.approval.outcome, plan.body.approval.rule],
      created: [created.body.status === 'PENDING_APPROVAL' ? 'held' : 'ran', created.body.request.approvalRule],
    };
  };
  const held = { plan: ['needs-approval', 'full-restart'], created: ['held', 'full-restart'] };
  const ran = { plan: ['allowed', null], created: ['ran', null] };

  it('holds all, needed, and selected naming every Deployment; not a selection of some', async () => {
    expect(await outcome({ mode: 'all' })).toEqual(held);
    expect(await outcome({ mode: 'needed' })).toEqual(held);
    expect(await outcome({ mode: 'selected', deployments: ['app-2', 'app-0', 'app-1'] })).toEqual(held);
    expect(await outcome({ mode: 'selected', deployments: ['app-0', 'app-1'] })).toEqual(ran);
    expect(await outcome({ mode: 'none' })).toEqual(ran);
  });

  it('judges a batch target and GraphQL the same way', async () => {
    const [a, b] = [await namespace(), await namespace()];
    const batch = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: a }, { namespace: b }],
      options: { restart: { mode: 'selected', deployments: ['app-0', 'app-1', 'app-2'] } },
    });
    expect(batch.status).toBe(202);
    expect(batch.body.requests.map((r: { status: string }) => r.status)).toEqual([
      'PENDING_APPROVAL',
      'PENDING_APPROVAL',
    ]);
    const viaGraphql = await gql(
      s.url,
      'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { status approvalRule } }',
      { i: { namespace: await namespace(), restart: { mode: 'selected', deployments: ['app-0', 'app-1', 'app-2'] } } },
    );
    expect(viaGraphql.data?.requestOnboarding).toEqual({ status: 'PENDING_APPROVAL', approvalRule: 'full-restart' });
  });
});
