// Mesh-wide changes (MeshConfig edits) need mesh-level authority: a caller without a mesh grant is
// held for an approver who has one (MESH_WIDE_CHANGES=approval, the default) or refused before
// anything is stored (refuse). Attacked with namespace-scoped tokens over REST, GraphQL and batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

type Who = 'requester' | 'meshRequester' | 'otherMeshRequester' | 'approver' | 'meshApprover';
const TOKENS: Record<Who, { roles: string[]; scopes: string[] }> = {
  requester: { roles: ['requester'], scopes: ['emulator/mw-*'] },
  meshRequester: { roles: ['requester'], scopes: ['emulator/mw-*', 'emulator/mesh:osm'] },
  otherMeshRequester: { roles: ['requester'], scopes: ['emulator/mw-*', 'emulator/mesh:other', 'staging/mesh:*'] },
  approver: { roles: ['approver'], scopes: ['*/*'] },
  meshApprover: { roles: ['approver'], scopes: ['emulator/mw-*', '*/mesh:os*'] },
};

describe('mesh-wide changes need mesh-level authority', () => {
  let emulator: Emulator;
  let held: Stack;
  let refusing: Stack;
  const token = {} as Record<Who, string>;
  const as = (who: Who): Record<string, string> => ({ authorization: `Bearer ${token[who]}` });

  beforeAll(async () => {
    emulator = await startEmulator();
    held = await startStack({ emulator });
    refusing = await startStack({ emulator, env: { MESH_WIDE_CHANGES: 'refuse' } });
    for (const [who, t] of Object.entries(TOKENS)) {
      token[who as Who] = (await http(held.url, 'POST', '/v1/tokens', { name: uniqueName(who), ...t })).body.token;
    }
  });
  afterAll(async () => {
    await held?.close();
    await refusing?.close();
    await emulator?.close();
  });

  const namespace = async () => {
    const ns = uniqueName('mw');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    return ns;
  };

  it("holds a namespace-scoped caller's permissive mode for an approver with a mesh grant", async () => {
    const ns = await namespace();
    const writes = writesTo(emulator);
    const created = await http(
      held.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'permissive' } },
      as('requester'),
    );
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsRequired: 1, approvalRule: 'builtin:mesh-wide', meshWideChanges: ['permissive-mode-on'] },
    });
    const id = created.body.id;
    const scoped = await http(held.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('approver'));
    expect(scoped.status).toBe(403);
    expect(scoped.body.error).toMatchObject({
      code: 'MESH_GRANT_REQUIRED',
      details: { changes: ['permissive-mode-on'] },
    });
    const viaGraphql = await gql(
      held.url,
      'mutation($id: ID!) { approveOnboardingRequest(id: $id) { status } }',
      { id },
      as('approver'),
    );
    expect(viaGraphql.errors[0].extensions.code).toBe('MESH_GRANT_REQUIRED');
    expect(writesTo(emulator)).toBe(writes);

    const approved = await http(held.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('meshApprover'));
    expect(approved.body.status).toBe('QUEUED');
    expect((await waitForStatus(held.url, id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });

  it('lets a holder of the mesh grant change the mesh at once; a grant on another mesh does not count', async () => {
    const ns = await namespace();
    const granted = await http(
      held.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, apiServerAccess: { method: 'ip-exclusion' } },
      as('meshRequester'),
    );
    expect(granted.body).toMatchObject({
      status: 'QUEUED',
      request: { approvalsRequired: 0, meshWideChanges: ['outbound-ip-range-exclusion-add'] },
    });
    expect((await waitForStatus(held.url, granted.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');

    const other = await namespace();
    const elsewhere = await http(
      held.url,
      'POST',
      '/v1/onboardings',
      { namespace: other, apiServerAccess: { method: 'egress', serviceAccounts: ['bookbuyer'] } },
      as('otherMeshRequester'),
    );
    expect(elsewhere.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { meshWideChanges: ['egress-policy-on'] },
    });
    await http(held.url, 'POST', `/v1/onboardings/${elsewhere.body.id}/cancel`, {}, as('otherMeshRequester'));
  });

  it('shows in the plan which changes are mesh-wide and what submitting needs', async () => {
    const ns = await namespace();
    const body = { namespace: ns, trafficPolicy: { mode: 'permissive' }, apiServerAccess: { method: 'ip-exclusion' } };
    const plain = await http(held.url, 'POST', '/v1/onboardings/plan', body, as('requester'));
    expect(plain.status).toBe(200);
    expect(plain.body.approval).toEqual({
      meshWideChanges: ['permissive-mode-on', 'outbound-ip-range-exclusion-add'],
      meshGrant: false,
      outcome: 'needs-approval',
      approvalsRequired: 1,
      rule: 'builtin:mesh-wide',
    });
    const grant = await http(held.url, 'POST', '/v1/onboardings/plan', body, as('meshRequester'));
    expect(grant.body.approval).toMatchObject({ meshGrant: true, outcome: 'allowed', approvalsRequired: 0 });
    const refused = await http(refusing.url, 'POST', '/v1/onboardings/plan', body, as('requester'));
    expect(refused.body.approval).toMatchObject({ outcome: 'forbidden' });
    const gq = await gql(
      held.url,
      'query($i: OnboardingInput!) { planOnboarding(input: $i) { approval { outcome meshWideChanges } } }',
      { i: body },
      as('requester'),
    );
    expect(gq.data.planOnboarding.approval.outcome).toBe('needs-approval');

    // Switching the mesh to SMI mode is mesh-wide too.
    const smi = await http(
      held.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'smi', switchMeshToSmi: true } },
      as('requester'),
    );
    expect(smi.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { meshWideChanges: ['permissive-mode-off'] },
    });
    await http(held.url, 'POST', `/v1/onboardings/${smi.body.id}/cancel`, {}, as('requester'));
  });

  it('with MESH_WIDE_CHANGES=refuse, refuses a caller without a grant with 403 before anything is stored', async () => {
    const ns = await namespace();
    const writes = writesTo(emulator);
    const cases: [string, Record<string, unknown>, string][] = [
      [
        '/v1/onboardings',
        { namespace: ns, apiServerAccess: { method: 'ip-exclusion' } },
        'outbound-ip-range-exclusion-add',
      ],
      ['/v1/onboardings', { namespace: ns, trafficPolicy: { mode: 'permissive' } }, 'permissive-mode-on'],
      [
        '/v1/onboardings',
        { namespace: ns, apiServerAccess: { method: 'egress', serviceAccounts: ['a'] } },
        'egress-policy-on',
      ],
      ['/v1/offboardings', { namespace: ns, removeApiServerExclusion: true }, 'outbound-ip-range-exclusion-remove'],
    ];
    for (const [path, body, change] of cases) {
      const res = await http(refusing.url, 'POST', path, body, as('requester'));
      expect({ path, status: res.status, code: res.body.error.code }).toEqual({
        path,
        status: 403,
        code: 'MESH_WIDE_CHANGE_FORBIDDEN',
      });
      expect(res.body.error.details.changes.map((c: { change: string }) => c.change)).toEqual([change]);
    }
    const batch = await http(
      refusing.url,
      'POST',
      '/v1/batches',
      { kind: 'ONBOARD', targets: [{ namespace: ns }], options: { trafficPolicy: { mode: 'permissive' } } },
      as('requester'),
    );
    expect(batch.status).toBe(403);
    expect(batch.body.error.code).toBe('MESH_WIDE_CHANGE_FORBIDDEN');
    const viaGraphql = await gql(
      refusing.url,
      'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }',
      { i: { namespace: ns, trafficPolicy: { mode: 'permissive' } } },
      as('requester'),
    );
    expect(viaGraphql.errors[0].extensions.code).toBe('MESH_WIDE_CHANGE_FORBIDDEN');

    const stored = await http(refusing.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(stored.body.items).toEqual([]);
    expect(writesTo(emulator)).toBe(writes);

    // The same request from a holder of the grant goes through.
    const ok = await http(
      refusing.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'permissive' } },
      as('meshRequester'),
    );
    expect(ok.status).toBe(202);
    expect((await waitForStatus(refusing.url, ok.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });

  it('cannot be configured away: the built-in rule needs at least one approval', () => {
    expect(() => loadConfig({ MESH_WIDE_APPROVALS: '0' })).toThrow(/MESH_WIDE_APPROVALS/);
    expect(() => loadConfig({ MESH_WIDE_CHANGES: 'allow' })).toThrow(/MESH_WIDE_CHANGES/);
    expect(loadConfig({ MESH_WIDE_APPROVALS: '2' }).meshWide).toEqual({ mode: 'approval', approvals: 2 });
  });
});
