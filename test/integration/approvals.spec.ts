import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardingOptions } from '../../src/onboarding/onboarding.input.js';
import { testDatabaseUrl } from '../support/database.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import {
  collectProgress,
  gql,
  http,
  startStack,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
  refusal,
} from '../support/harness.js';
import { namespaceMeta, writesTo } from '../support/kube.js';

const POLICY = {
  rules: [
    { name: 'two-person', namespaces: ['appr-*'], approvals: 2 },
    { name: 'mesh-wide-change', when: ['permissive'], approvals: 1 },
  ],
};

describe('approvals (a workflow engine over GraphQL, approvers over REST)', () => {
  let s: Stack;
  const token = {} as Record<'requester' | 'approver1' | 'approver2' | 'meshApprover' | 'viewer', string>;
  const as = (who: keyof typeof token) => ({ authorization: `Bearer ${token[who]}` });

  beforeAll(async () => {
    s = await startStack({ env: { APPROVAL_POLICY: JSON.stringify(POLICY) } });
    const roles = {
      requester: ['requester'],
      approver1: ['approver'],
      approver2: ['approver'],
      meshApprover: ['approver'],
      viewer: ['viewer'],
    } as const;
    for (const [who, r] of Object.entries(roles)) {
      const scopes = who === 'meshApprover' ? ['*/*', '*/mesh:osm'] : ['*/*'];
      const res = await http(s.url, 'POST', '/v1/tokens', { name: uniqueName(who), roles: r, scopes });
      token[who as keyof typeof token] = res.body.token;
    }
  });
  afterAll(() => s.close());

  it('holds a matching request until two distinct approvers approve, then runs it', async () => {
    const ns = uniqueName('appr');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const writes = writesTo(s.emulator);
    const created = await gql(
      s.url,
      `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id status approvalsRequired approvalRule } }`,
      { i: { namespace: ns } },
      as('requester'),
    );
    const id = created.data.requestOnboarding.id;
    expect(created.data.requestOnboarding).toMatchObject({
      status: 'PENDING_APPROVAL',
      approvalsRequired: 2,
      approvalRule: 'two-person',
    });

    const self = await http(s.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('requester'));
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('FORBIDDEN'); // a requester lacks the approver role altogether
    const viewer = await http(s.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('viewer'));
    expect(viewer.status).toBe(403);

    const first = await http(
      s.url,
      'POST',
      `/v1/onboardings/${id}/approve`,
      { comment: 'looks fine' },
      as('approver1'),
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      approvals: [{ decision: 'approve', reason: 'looks fine' }],
    });
    const twice = await http(s.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('approver1'));
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('ALREADY_DECIDED');
    // Nothing ran while waiting.
    expect(writesTo(s.emulator)).toBe(writes);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();

    const client = wsClient(s.url, token.viewer);
    const stream = collectProgress(client, id);
    const second = await gql(
      s.url,
      `mutation($id: ID!) { approveOnboardingRequest(id: $id) { status approvals { approver } } }`,
      { id },
      as('approver2'),
    );
    expect(second.errors).toBeUndefined();
    expect(second.data.approveOnboardingRequest.status).toBe('QUEUED');
    const { events } = await stream;
    await client.dispose();
    const types = events.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['request.created', 'approval.recorded', 'request.approved']);
    expect(types.at(-1)).toBe('request.succeeded');
    expect(events[1].actor).toMatch(/^token:approver1-/);
    expect(events[2].actor).toMatch(/^token:approver2-/);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBe('osm');
  });

  it('lets the approver that the requester is not reject with a reason; the namespace is free again', async () => {
    const ns = uniqueName('appr');
    seedAppNamespace(s.emulator.store, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, as('requester'));
    expect(r.body.status).toBe('PENDING_APPROVAL');
    const noReason = await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/reject`, {}, as('approver1'));
    expect(noReason.status).toBe(422);
    expect(noReason.body.error.fields).toEqual([{ field: 'reason', message: expect.any(String) }]);
    const rejected = await http(
      s.url,
      'POST',
      `/v1/onboardings/${r.body.id}/reject`,
      { reason: 'not during the freeze' },
      as('approver1'),
    );
    expect(rejected.body).toMatchObject({ status: 'REJECTED', errorCode: 'REJECTED' });
    expect(rejected.body.steps.every((st: any) => st.status === 'CANCELLED')).toBe(true);
    const late = await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/approve`, {}, as('approver2'));
    expect(late.body.error.code).toBe('REQUEST_NOT_PENDING_APPROVAL');
    const audit = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items;
    expect(audit.at(-1)).toMatchObject({ action: 'request.rejected', data: { reason: 'not during the freeze' } });
    // Rejected is final: a new request for the namespace is accepted.
    expect((await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, as('requester'))).status).toBe(202);
  });

  it("forbids approving one's own request even with the approver role", async () => {
    const both = (
      await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('both'),
        roles: ['requester', 'approver'],
        scopes: ['*/*'],
      })
    ).body.token;
    const ns = uniqueName('appr');
    seedAppNamespace(s.emulator.store, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { authorization: `Bearer ${both}` });
    const self = await http(
      s.url,
      'POST',
      `/v1/onboardings/${r.body.id}/approve`,
      {},
      { authorization: `Bearer ${both}` },
    );
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('SELF_APPROVAL_FORBIDDEN');
  });

  // Four eyes across submissions: whoever puts a request forward (creates, applies or retries it) never decides on
  // it, and whoever approved it never puts it forward.
  it('keeps submitters and approvers apart through cancel → retry and a dry run applied by someone else', async () => {
    const mint = async (roles: string[]) =>
      (await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('fe'), roles, scopes: ['*/*'] })).body.token;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const requesterA = bearer(await mint(['requester']));
    const both = bearer(await mint(['requester', 'approver']));
    const fresh = () => {
      const ns = uniqueName('appr');
      seedAppNamespace(s.emulator.store, ns);
      return ns;
    };
    await s.emulator.idle();

    // A's request, cancelled by A and retried by B (who holds both roles): B cannot approve or reject it.
    const retried = (await http(s.url, 'POST', '/v1/onboardings', { namespace: fresh() }, requesterA)).body.id;
    await http(s.url, 'POST', `/v1/onboardings/${retried}/cancel`, {}, requesterA);
    expect((await http(s.url, 'POST', `/v1/onboardings/${retried}/retry`, {}, both)).body.status).toBe(
      'PENDING_APPROVAL',
    );
    const approveRetried = await http(s.url, 'POST', `/v1/onboardings/${retried}/approve`, {}, both);
    expect(refusal(approveRetried)).toEqual([403, 'SELF_APPROVAL_FORBIDDEN']);
    const decideOverGraphql = async (mutation: string, id: string) =>
      (await gql(s.url, `mutation($id: ID!) { ${mutation} { status } }`, { id }, both)).errors[0].extensions.code;
    expect(await decideOverGraphql('rejectOnboardingRequest(id: $id, reason: "mine")', retried)).toBe(
      'SELF_APPROVAL_FORBIDDEN',
    );

    // A's dry run, applied by B: B cannot approve it (GraphQL too).
    const planned = (await http(s.url, 'POST', '/v1/onboardings', { namespace: fresh(), dryRun: true }, requesterA))
      .body.id;
    expect((await http(s.url, 'POST', `/v1/onboardings/${planned}/apply`, {}, both)).body.status).toBe(
      'PENDING_APPROVAL',
    );
    expect(await decideOverGraphql('approveOnboardingRequest(id: $id)', planned)).toBe('SELF_APPROVAL_FORBIDDEN');

    // B approves A's request, A cancels it: B cannot retry it (its approval would then be its own submission's).
    const approved = (await http(s.url, 'POST', '/v1/onboardings', { namespace: fresh() }, requesterA)).body.id;
    expect((await http(s.url, 'POST', `/v1/onboardings/${approved}/approve`, {}, both)).body.approvalsGiven).toBe(1);
    await http(s.url, 'POST', `/v1/onboardings/${approved}/cancel`, {}, requesterA);
    const retryByApprover = await http(s.url, 'POST', `/v1/onboardings/${approved}/retry`, {}, both);
    expect(refusal(retryByApprover)).toEqual([403, 'SELF_APPROVAL_FORBIDDEN']);
    expect((await http(s.url, 'GET', `/v1/onboardings/${approved}`, undefined, requesterA)).body.status).toBe(
      'CANCELLED',
    );
    // A may retry it: B's approval stays counted and a second approver is still needed.
    expect((await http(s.url, 'POST', `/v1/onboardings/${approved}/retry`, {}, requesterA)).body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsGiven: 1, approvalsRequired: 2 },
    });
    for (const id of [retried, planned, approved])
      await http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, {}, requesterA);
  });

  /** Runs `fn` on a connection of its own to the test database (raw SQL, as another role or retention would). */
  async function withDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  }

  /**
   * A request held in PENDING_APPROVAL (needing `approvals`), then cancelled if `cancelled`, whose trail retention
   * removed up to `last`: only that event is left, as after AUDIT_RETENTION_DAYS dropped the month of its first ones.
   */
  function requestWithoutTrailStart(
    last: { seq: number; actor: string; action: string },
    { approvals, cancelled = false }: { approvals: number; cancelled?: boolean },
  ): Promise<string> {
    return withDb(async (db) => {
      const id = randomUUID();
      const ns = uniqueName('appr');
      await db.query(
        `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                         event_seq, approvals_required, updated_at)
         VALUES ($1, 'ONBOARD', 'emulator', $2, 'osm', $3, 'PENDING_APPROVAL', 'token:gone', $4, $5, now())`,
        [id, ns, JSON.stringify(onboardingOptions({ namespace: ns })), last.seq, approvals],
      );
      if (cancelled)
        await db.query(`UPDATE onboarding_request SET status = 'CANCELLED', finished_at = now() WHERE id = $1`, [id]);
      await db.query(
        `INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace)
         VALUES ($1, $2, $3, $4, 'emulator', $5)`,
        [id, last.seq, last.actor, last.action, ns],
      );
      return id;
    });
  }

  it('never puts forward again a request whose trail retention removed: who submitted it is unknown', async () => {
    // A cancelled request whose first events (who created, applied or retried it) are gone, as after
    // AUDIT_RETENTION_DAYS dropped their month while REQUEST_RETENTION_DAYS keeps the row: only a later event is left.
    const id = await requestWithoutTrailStart(
      { seq: 3, actor: 'token:gone', action: 'request.cancelled' },
      { approvals: 2, cancelled: true },
    );
    const retry = await http(s.url, 'POST', `/v1/onboardings/${id}/retry`, {}, as('requester'));
    expect(refusal(retry)).toEqual([409, 'REQUEST_NOT_RETRYABLE']);
    expect(retry.body.error.message).toContain('AUDIT_RETENTION_DAYS');
    const g = await gql(
      s.url,
      'mutation($id: ID!) { retryOnboardingRequest(id: $id) { status } }',
      { id },
      as('requester'),
    );
    expect(g.errors[0].extensions.code).toBe('REQUEST_NOT_RETRYABLE');
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`, undefined, as('viewer'))).body.status).toBe('CANCELLED');
  });

  it('never approves a waiting request whose trail retention removed: its submitters are unknown', async () => {
    // Retention dropped the month holding its creation and a retry by someone (who may be the approver now) while it
    // waited again: only a later event is left.
    const id = await requestWithoutTrailStart(
      { seq: 5, actor: 'token:someone', action: 'request.retried' },
      { approvals: 1 },
    );
    const approve = await http(s.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as('approver1'));
    expect(refusal(approve)).toEqual([403, 'FORBIDDEN']);
    expect(approve.body.error.message).toContain('AUDIT_RETENTION_DAYS');
    const g = await gql(
      s.url,
      'mutation($id: ID!) { approveOnboardingRequest(id: $id) { status } }',
      { id },
      as('approver1'),
    );
    expect(g.errors[0].extensions.code).toBe('FORBIDDEN');
    const waiting = await http(s.url, 'GET', `/v1/onboardings/${id}`, undefined, as('viewer'));
    expect([waiting.body.status, waiting.body.approvalsGiven]).toEqual(['PENDING_APPROVAL', 0]);
    // Rejecting it stays open.
    const rejected = await http(
      s.url,
      'POST',
      `/v1/onboardings/${id}/reject`,
      { reason: 'trail gone' },
      as('approver1'),
    );
    expect(rejected.body.status).toBe('REJECTED');

    // The decision stays as it was written: the approval table takes no UPDATE, DELETE or TRUNCATE of a request
    // whose trail is left (retention removes a finished request's approvals with it, once its trail is gone).
    await withDb(async (admin) => {
      for (const sql of [
        `UPDATE approval SET approver = 'token:someone-else' WHERE request_id = '${id}'`,
        `DELETE FROM approval WHERE request_id = '${id}'`,
        'TRUNCATE approval',
      ])
        await expect(admin.query(sql)).rejects.toThrow(/approval is append-only/);
      const gone = randomUUID();
      await admin.query(
        `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                       event_seq, approvals_required, updated_at)
       VALUES ($1, 'ONBOARD', 'emulator', $2, 'osm', '{}', 'QUEUED', 'token:gone', 4, 0, now())`,
        [gone, uniqueName('appr')],
      );
      await admin.query(`UPDATE onboarding_request SET status = 'RUNNING' WHERE id = $1`, [gone]);
      await admin.query(`UPDATE onboarding_request SET status = 'SUCCEEDED', finished_at = now() WHERE id = $1`, [
        gone,
      ]);
      await admin.query(
        `INSERT INTO approval (id, request_id, approver, decision) VALUES ($1, $2, 'token:a', 'approve')`,
        [randomUUID(), gone],
      );
      expect((await admin.query('DELETE FROM approval WHERE request_id = $1', [gone])).rowCount).toBe(1);
    });
  });

  it('applies rules by step (permissive mode needs one approval) and leaves other requests alone', async () => {
    const ns = uniqueName('free');
    seedAppNamespace(s.emulator.store, ns);
    const plain = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns }, as('requester'));
    expect(plain.body).toMatchObject({ status: 'QUEUED', request: { approvalsRequired: 0 } });
    await waitForStatus(s.url, plain.body.id, ['SUCCEEDED']);
    const permissive = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, trafficPolicy: { mode: 'permissive' } },
      as('requester'),
    );
    expect(permissive.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: {
        approvalsRequired: 1,
        approvalRule: 'mesh-wide-change, builtin:mesh-wide',
        meshWideChanges: ['permissive-mode-on'],
      },
    });
    // A mesh-wide change is decided only by an approver with a mesh grant.
    const scoped = await http(s.url, 'POST', `/v1/onboardings/${permissive.body.id}/approve`, {}, as('approver2'));
    expect(scoped.status).toBe(403);
    expect(scoped.body.error.code).toBe('MESH_GRANT_REQUIRED');
    const ok = await http(s.url, 'POST', `/v1/onboardings/${permissive.body.id}/approve`, {}, as('meshApprover'));
    expect(ok.body.status).toBe('QUEUED');
    expect((await waitForStatus(s.url, permissive.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });
});
