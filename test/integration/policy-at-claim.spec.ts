// A request approved in full is judged again when a worker is about to start it, under that worker's approval policy
// (the lifecycle's `hold`, request-runner.service.ts heldByPolicy): a policy tightened after the approval (a rolling
// change of APPROVAL_POLICY, or MESH_WIDE_CHANGES=refuse switched on during an incident) stops it before any cluster
// write. The API here runs without a worker, so requests wait QUEUED until a worker with the stricter policy starts.
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, stackEnv, startApi, startWorker, uniqueName, waitForStatus } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

type Who = 'requester' | 'approver' | 'meshApprover';
const TOKENS: Record<Who, { roles: string[]; scopes: string[] }> = {
  requester: { roles: ['requester'], scopes: ['emulator/pc-*'] },
  approver: { roles: ['approver'], scopes: ['emulator/pc-*'] },
  meshApprover: { roles: ['approver'], scopes: ['emulator/pc-*', 'emulator/mesh:*'] },
};

describe('a queued request is judged again under the policy of the worker that starts it', () => {
  let emulator: Emulator;
  let env: Record<string, string>;
  let api: INestApplication;
  let url: string;
  let worker: INestApplicationContext | undefined;
  const token = {} as Record<Who, string>;
  const as = (who: Who) => ({ authorization: `Bearer ${token[who]}` });

  beforeAll(async () => {
    emulator = await startEmulator();
    env = await stackEnv(emulator, { ROLE: 'api' });
    ({ app: api, url } = await startApi(env));
    for (const [who, t] of Object.entries(TOKENS)) {
      const r = await http(url, 'POST', '/v1/tokens', { name: uniqueName(who), ...t });
      expect(r.status).toBe(201);
      token[who as Who] = r.body.token;
    }
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });
  afterAll(async () => {
    await api?.close();
    await emulator?.close();
  });

  const namespace = async () => {
    const ns = uniqueName('pc');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    return ns;
  };
  const trail = async (id: string) =>
    (await http(url, 'GET', `/v1/onboardings/${id}/audit`)).body.items as {
      actor: string;
      action: string;
      data: Record<string, unknown>;
    }[];

  it("holds a queued request the worker's stricter APPROVAL_POLICY gates, then runs it once approved", async () => {
    const ns = await namespace();
    const created = await http(url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'all' } });
    expect(created.body).toMatchObject({ status: 'QUEUED', request: { approvalsRequired: 0 } });
    const id = created.body.id as string;
    const writes = writesTo(emulator);

    const gate = JSON.stringify({ rules: [{ name: 'gate', namespaces: ['pc-*'], approvals: 1 }] });
    worker = await startWorker({ ...env, APPROVAL_POLICY: gate });
    const held = await waitForStatus(url, id, ['PENDING_APPROVAL', 'RUNNING', 'SUCCEEDED', 'FAILED']);
    expect(held).toMatchObject({ status: 'PENDING_APPROVAL', approvalsRequired: 1, approvalsGiven: 0 });
    expect(held.approvalRule).toBe('gate');
    expect((await trail(id)).find((e) => e.action === 'request.held')).toMatchObject({
      actor: 'system:worker',
      data: { code: 'APPROVALS_REQUIRED', approvalsRequired: 1, approvalsGiven: 0, rule: 'gate' },
    });
    expect(writesTo(emulator)).toBe(writes);

    // One approval: queued again, and the same worker now starts it.
    const approved = await http(url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('approver'));
    expect(approved.body).toMatchObject({ status: 'QUEUED', approvalsGiven: 1, approvalsRequired: 1 });
    expect((await waitForStatus(url, id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    expect(writesTo(emulator)).toBeGreaterThan(writes);
  });

  it('holds a mesh-wide change put forward without a grant once the worker refuses them', async () => {
    const ns = await namespace();
    const created = await http(
      url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'permissive' } },
      as('requester'),
    );
    expect(created.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsRequired: 1, approvalRule: 'builtin:mesh-wide' },
    });
    const id = created.body.id as string;
    const approved = await http(url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('meshApprover'));
    expect(approved.body).toMatchObject({ status: 'QUEUED', approvalsGiven: 1 });
    const writes = writesTo(emulator);

    worker = await startWorker({ ...env, MESH_WIDE_CHANGES: 'refuse' });
    const held = await waitForStatus(url, id, ['PENDING_APPROVAL', 'RUNNING', 'SUCCEEDED', 'FAILED']);
    // Waits for an approval more, which cannot be given while the refusal holds.
    expect(held).toMatchObject({ status: 'PENDING_APPROVAL', approvalsGiven: 1, approvalsRequired: 2 });
    expect(held.approvalRule).toBe('builtin:mesh-wide');
    expect((await trail(id)).find((e) => e.action === 'request.held')).toMatchObject({
      actor: 'system:worker',
      data: { code: 'MESH_WIDE_CHANGE_FORBIDDEN', changes: ['permissive-mode-on'] },
    });
    // Nothing reached the cluster: the MeshConfig's permissive mode is what it was.
    expect(writesTo(emulator)).toBe(writes);
    const cancelled = await http(url, 'POST', `/v1/onboardings/${id}/cancel`, {}, as('requester'));
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED' });
  });

  it('starts a queued request that the worker policy asks nothing more of', async () => {
    const ns = await namespace();
    const created = await http(url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(created.body.status).toBe('QUEUED');
    worker = await startWorker({ ...env, MESH_WIDE_CHANGES: 'refuse' });
    const done = await waitForStatus(url, created.body.id, ['SUCCEEDED', 'FAILED', 'PENDING_APPROVAL']);
    expect(done.status).toBe('SUCCEEDED');
    expect((await trail(created.body.id)).some((e) => e.action === 'request.held')).toBe(false);
  });
});
