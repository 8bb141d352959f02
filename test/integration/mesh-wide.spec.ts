// Mesh-wide changes (MeshConfig edits) need mesh-level authority: a caller without a mesh grant is
// held for an approver who has one (MESH_WIDE_CHANGES=approval, the default) or refused before
// anything is stored (refuse). Attacked with namespace-scoped tokens over REST, GraphQL and batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, refusal, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
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
  let gated: Stack;
  const token = {} as Record<Who, string>;
  const as = (who: Who): Record<string, string> => ({ authorization: `Bearer ${token[who]}` });

  beforeAll(async () => {
    emulator = await startEmulator();
    held = await startStack({ emulator });
    // `gate` holds a mesh owner's requests too, so they can be cancelled before a worker runs them.
    const gate = JSON.stringify({ rules: [{ name: 'gate', namespaces: ['mw-gate-*'], approvals: 1 }] });
    refusing = await startStack({ emulator, env: { MESH_WIDE_CHANGES: 'refuse', APPROVAL_POLICY: gate } });
    gated = await startStack({ emulator, env: { MESH_WIDE_APPROVALS: '2', APPROVAL_POLICY: gate } });
    for (const [who, t] of Object.entries(TOKENS)) {
      token[who as Who] = (await http(held.url, 'POST', '/v1/tokens', { name: uniqueName(who), ...t })).body.token;
    }
  });
  afterAll(async () => {
    await held?.close();
    await refusing?.close();
    await gated?.close();
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
    const callsBefore = emulator.requests.all().length;
    const batch = await http(
      refusing.url,
      'POST',
      '/v1/batches',
      { kind: 'ONBOARD', targets: [{ namespace: ns }], options: { trafficPolicy: { mode: 'permissive' } } },
      as('requester'),
    );
    expect(batch.status).toBe(403);
    expect(batch.body.error.code).toBe('MESH_WIDE_CHANGE_FORBIDDEN');
    // Refused as the single request is: before any cluster call, reads included (a target that does not exist
    // would otherwise be read, and refused as missing instead).
    const missing = await http(
      refusing.url,
      'POST',
      '/v1/batches',
      {
        kind: 'ONBOARD',
        targets: [{ namespace: uniqueName('mw-none') }],
        options: { apiServerAccess: { method: 'ip-exclusion' } },
      },
      as('requester'),
    );
    expect(refusal(missing)).toEqual([403, 'MESH_WIDE_CHANGE_FORBIDDEN']);
    expect(emulator.requests.all().length).toBe(callsBefore);
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

  // Applying a plan or retrying a cancelled request is a submission by whoever does it: a mesh owner's dry run or
  // withdrawn request must not become a way for a caller without the grant to change the mesh. A withdrawn request
  // is one the `gate` rule held (so that no worker runs it before it is cancelled); `gated` asks 2 approvals of the
  // built-in rule, more than the gate's 1, so a need computed again for the submitter shows.
  const ownersPlan = async (stack: Stack, body: Record<string, unknown>) => {
    const created = await http(
      stack.url,
      'POST',
      '/v1/onboardings',
      { namespace: await namespace(), ...body, dryRun: true },
      as('meshRequester'),
    );
    expect(created.body).toMatchObject({ status: 'PLANNED', request: { approvalsRequired: 0 } });
    return created.body.id as string;
  };
  const ownersWithdrawn = async (stack: Stack, body: Record<string, unknown>) => {
    const ns = uniqueName('mw-gate');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const created = await http(stack.url, 'POST', '/v1/onboardings', { namespace: ns, ...body }, as('meshRequester'));
    expect(created.body).toMatchObject({ status: 'PENDING_APPROVAL', request: { approvalRule: 'gate' } });
    const id = created.body.id as string;
    expect((await http(stack.url, 'POST', `/v1/onboardings/${id}/cancel`, {}, as('meshRequester'))).body.status).toBe(
      'CANCELLED',
    );
    return id;
  };
  const permissive = { trafficPolicy: { mode: 'permissive' } };
  const exclusion = { apiServerAccess: { method: 'ip-exclusion' } };

  it("holds a mesh owner's plan for approval when one without the grant applies it (REST, GraphQL)", async () => {
    const writes = writesTo(emulator);
    const rest = await ownersPlan(held, exclusion);
    expect((await http(held.url, 'POST', `/v1/onboardings/${rest}/apply`, {}, as('requester'))).body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsRequired: 1, approvalRule: 'builtin:mesh-wide' },
    });
    const viaGraphql = await ownersPlan(held, permissive);
    const applied = await gql(
      held.url,
      'mutation($id: ID!) { applyPlannedRequest(id: $id) { status approvalsRequired } }',
      { id: viaGraphql },
      as('requester'),
    );
    expect(applied.data.applyPlannedRequest).toEqual({ status: 'PENDING_APPROVAL', approvalsRequired: 1 });
    expect(writesTo(emulator)).toBe(writes);
    // The owner applying their own plan goes through at once.
    const own = await ownersPlan(held, exclusion);
    expect((await http(held.url, 'POST', `/v1/onboardings/${own}/apply`, {}, as('meshRequester'))).body.status).toBe(
      'QUEUED',
    );
    expect((await waitForStatus(held.url, own, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    for (const id of [rest, viaGraphql])
      await http(held.url, 'POST', `/v1/onboardings/${id}/cancel`, {}, as('requester'));
  });

  it("raises a withdrawn request's need to the retrying caller's, for approvers with a mesh grant", async () => {
    const id = await ownersWithdrawn(gated, permissive);
    // The owner's own retry needs what it needed: the gate's one approval.
    expect((await http(gated.url, 'POST', `/v1/onboardings/${id}/retry`, {}, as('meshRequester'))).body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsRequired: 1, approvalRule: 'gate' },
    });
    await http(gated.url, 'POST', `/v1/onboardings/${id}/cancel`, {}, as('meshRequester'));
    const writes = writesTo(emulator);
    const retried = await gql(
      gated.url,
      'mutation($id: ID!) { retryOnboardingRequest(id: $id) { status approvalsRequired approvalRule attempt } }',
      { id },
      as('requester'),
    );
    expect(retried.data.retryOnboardingRequest).toEqual({
      status: 'PENDING_APPROVAL',
      approvalsRequired: 2,
      approvalRule: 'gate, builtin:mesh-wide',
      attempt: 3,
    });
    const audit = await http(gated.url, 'GET', `/v1/onboardings/${id}/audit`, undefined, as('meshRequester'));
    expect(audit.body.items.at(-1)).toMatchObject({ action: 'request.retried', data: { required: 2, approvals: 0 } });
    const scoped = await http(gated.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('approver'));
    expect(scoped.body.error.code).toBe('MESH_GRANT_REQUIRED');
    const secondMeshApprover = (
      await http(gated.url, 'POST', '/v1/tokens', {
        name: uniqueName('mesh-approver'),
        roles: ['approver'],
        scopes: ['emulator/mw-*', 'emulator/mesh:osm'],
      })
    ).body.token;
    expect((await http(gated.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('meshApprover'))).body).toMatchObject(
      { status: 'PENDING_APPROVAL', approvalsGiven: 1 },
    );
    expect(writesTo(emulator)).toBe(writes);
    const second = await http(
      gated.url,
      'POST',
      `/v1/onboardings/${id}/approve`,
      {},
      {
        authorization: `Bearer ${secondMeshApprover}`,
      },
    );
    expect(second.body.status).toBe('QUEUED');
    expect((await waitForStatus(gated.url, id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });

  it('with MESH_WIDE_CHANGES=refuse, refuses apply, retry and batch apply by a caller without a grant', async () => {
    const writes = writesTo(emulator);
    const plan = await ownersPlan(refusing, exclusion);
    const withdrawn = await ownersWithdrawn(refusing, permissive);
    const applied = await http(refusing.url, 'POST', `/v1/onboardings/${plan}/apply`, {}, as('requester'));
    expect(refusal(applied)).toEqual([403, 'MESH_WIDE_CHANGE_FORBIDDEN']);
    const retriedRest = await http(refusing.url, 'POST', `/v1/onboardings/${withdrawn}/retry`, {}, as('requester'));
    expect(refusal(retriedRest)).toEqual([403, 'MESH_WIDE_CHANGE_FORBIDDEN']);
    const retried = await gql(
      refusing.url,
      'mutation($id: ID!) { retryOnboardingRequest(id: $id) { status } }',
      { id: withdrawn },
      as('requester'),
    );
    expect(retried.errors[0].extensions.code).toBe('MESH_WIDE_CHANGE_FORBIDDEN');

    // A mesh owner's dry-run batch, applied by a caller without the grant: the member is refused, not queued.
    const batch = await http(
      refusing.url,
      'POST',
      '/v1/batches',
      { kind: 'ONBOARD', targets: [{ namespace: await namespace() }], options: { dryRun: true, ...exclusion } },
      as('meshRequester'),
    );
    expect(batch.status).toBe(202);
    const batchApply = await http(refusing.url, 'POST', `/v1/batches/${batch.body.id}/apply`, {}, as('requester'));
    expect(batchApply.body.results).toEqual([
      expect.objectContaining({ ok: false, code: 'MESH_WIDE_CHANGE_FORBIDDEN' }),
    ]);
    const statuses = [];
    for (const id of [plan, withdrawn]) {
      statuses.push(
        (await http(refusing.url, 'GET', `/v1/onboardings/${id}`, undefined, as('meshRequester'))).body.status,
      );
    }
    expect(statuses).toEqual(['PLANNED', 'CANCELLED']);
    expect(writesTo(emulator)).toBe(writes);
  });

  it('applies a policy tightened while a request waits when it is next approved (an outside audit)', async () => {
    // Put forward under `held` (MESH_WIDE_APPROVALS 1, MESH_WIDE_CHANGES approval); decided on instances whose
    // configuration is stricter, as after a rolling change of it.
    const submit = async () => {
      const r = await http(
        held.url,
        'POST',
        '/v1/onboardings',
        { namespace: await namespace(), trafficPolicy: { mode: 'permissive' } },
        as('requester'),
      );
      expect(r.body).toMatchObject({ status: 'PENDING_APPROVAL', request: { approvalsRequired: 1 } });
      return r.body.id as string;
    };
    const writes = writesTo(emulator);

    // Now two approvals: the first one leaves it waiting for a second.
    const raised = await submit();
    const one = await http(gated.url, 'POST', `/v1/onboardings/${raised}/approve`, {}, as('meshApprover'));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ status: 'PENDING_APPROVAL', approvalsGiven: 1, approvalsRequired: 2 });
    // The stricter need is stored: an instance still on the old configuration cannot lower it.
    const read = await http(held.url, 'GET', `/v1/onboardings/${raised}`, undefined, as('requester'));
    expect(read.body).toMatchObject({ status: 'PENDING_APPROVAL', approvalsRequired: 2 });

    // Now refused: not approvable, on REST and GraphQL; nothing recorded, nothing written.
    const refused = await submit();
    const rest = await http(refusing.url, 'POST', `/v1/onboardings/${refused}/approve`, {}, as('meshApprover'));
    expect(rest.status).toBe(403);
    expect(refusal(rest)).toEqual([403, 'MESH_WIDE_CHANGE_FORBIDDEN']);
    expect(rest.body.error.fields.map((f: { field: string }) => f.field)).toEqual(['id']);
    const viaGraphql = await gql(
      refusing.url,
      'mutation($id: ID!) { approveOnboardingRequest(id: $id) { status } }',
      { id: refused },
      as('meshApprover'),
    );
    expect(viaGraphql.errors?.[0].extensions.code).toBe('MESH_WIDE_CHANGE_FORBIDDEN');
    const still = await http(held.url, 'GET', `/v1/onboardings/${refused}`, undefined, as('requester'));
    expect(still.body).toMatchObject({ status: 'PENDING_APPROVAL', approvalsGiven: 0, approvalsRequired: 1 });
    expect(writesTo(emulator)).toBe(writes);
  });

  it('records that a caller without a grant put a request forward even when its need does not rise', async () => {
    // A mesh owner's dry run that the `gate` rule holds (1 approval, rule "gate"); a caller without a grant applies
    // it on `held`, where the built-in rule asks 1 approval too: no raise, but the built-in rule is recorded. An
    // outside audit had the later refusal (MESH_WIDE_CHANGES=refuse) miss it.
    const ns = uniqueName('mw-gate');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const planned = await http(
      refusing.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'permissive' }, dryRun: true },
      as('meshRequester'),
    );
    expect(planned.body).toMatchObject({ status: 'PLANNED', request: { approvalsRequired: 1, approvalRule: 'gate' } });
    const applied = await http(held.url, 'POST', `/v1/onboardings/${planned.body.id}/apply`, {}, as('requester'));
    expect(applied.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsRequired: 1, approvalRule: 'gate, builtin:mesh-wide' },
    });
    const writes = writesTo(emulator);
    const approve = await http(
      refusing.url,
      'POST',
      `/v1/onboardings/${planned.body.id}/approve`,
      {},
      as('meshApprover'),
    );
    expect(refusal(approve)).toEqual([403, 'MESH_WIDE_CHANGE_FORBIDDEN']);
    expect(writesTo(emulator)).toBe(writes);
  });

  it('cannot be configured away: the built-in rule needs at least one approval', () => {
    expect(() => loadConfig({ MESH_WIDE_APPROVALS: '0' })).toThrow(/MESH_WIDE_APPROVALS/);
    expect(() => loadConfig({ MESH_WIDE_CHANGES: 'allow' })).toThrow(/MESH_WIDE_CHANGES/);
    expect(loadConfig({ MESH_WIDE_APPROVALS: '2' }).meshWide).toEqual({ mode: 'approval', approvals: 2 });
  });
});
