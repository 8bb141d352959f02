// The request lifecycle under attack: the transition table against the database's own copy, the
// approval invariant on every path (create, approve, reject, cancel, retry, apply, batches, a job
// enqueued behind the lifecycle's back, raw SQL), and the role × scope × path matrix, over REST and
// GraphQL. Every refusal is checked for "no cluster write".
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { QueueService } from '../../src/queue/queue.service.js';
import { allowedChanges, TRANSITIONS } from '../../src/onboarding/lifecycle/transitions.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { namespaceMeta, writesTo } from '../support/kube.js';

const STATUSES = ['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'];
const POLICY = { rules: [{ name: 'two-person', namespaces: ['gov-*'], approvals: 2 }] };

type Who =
  'viewerIn' | 'viewerOut' | 'requesterIn' | 'requesterOut' | 'approverIn' | 'approverOut' | 'approver2' | 'admin';
const TOKENS: Record<Exclude<Who, 'admin'>, { roles: string[]; scopes: string[] }> = {
  viewerIn: { roles: ['viewer'], scopes: ['emulator/gov-*'] },
  viewerOut: { roles: ['viewer'], scopes: ['emulator/other-*'] },
  requesterIn: { roles: ['requester'], scopes: ['emulator/gov-*'] },
  requesterOut: { roles: ['requester'], scopes: ['emulator/other-*'] },
  approverIn: { roles: ['approver'], scopes: ['emulator/gov-*'] },
  approverOut: { roles: ['approver'], scopes: ['emulator/other-*'] },
  approver2: { roles: ['approver'], scopes: ['*/*'] },
};

describe('request lifecycle', () => {
  let s: Stack;
  let db: pg.Client;
  const token = {} as Record<Who, string>;
  const as = (who: Who): Record<string, string> => (who === 'admin' ? {} : { authorization: `Bearer ${token[who]}` });

  beforeAll(async () => {
    s = await startStack({ env: { APPROVAL_POLICY: JSON.stringify(POLICY) } });
    for (const [who, t] of Object.entries(TOKENS)) {
      token[who as Who] = (await http(s.url, 'POST', '/v1/tokens', { name: uniqueName(who), ...t })).body.token;
    }
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await s.close();
  });

  const namespace = async () => {
    const ns = uniqueName('gov');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    return ns;
  };
  const create = async (ns: string, body: Record<string, unknown> = {}) => {
    const res = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...body }, as('requesterIn'));
    expect(res.status).toBeLessThan(300);
    return res.body.id as string;
  };
  const op = (id: string, what: string, who: Who, body: unknown = {}) =>
    http(s.url, 'POST', `/v1/onboardings/${id}/${what}`, body, as(who));
  const status = async (id: string) => (await http(s.url, 'GET', `/v1/onboardings/${id}`)).body;

  it('is the same table in the code and in the database', async () => {
    const allowed = new Set(allowedChanges().map(([f, t]) => `${f ?? ''}>${t}`));
    for (const from of [null, ...STATUSES]) {
      for (const to of STATUSES) {
        if (from === to) continue;
        const { rows } = await db.query('SELECT onboarding_request_transition_allowed($1, $2) AS ok', [from, to]);
        expect({ pair: `${from ?? ''}>${to}`, ok: rows[0].ok }).toEqual({
          pair: `${from ?? ''}>${to}`,
          ok: allowed.has(`${from ?? ''}>${to}`),
        });
      }
    }
  });

  it('is the table docs/governance.md shows', async () => {
    const doc = await readFile(resolve(import.meta.dirname, '../../docs/governance.md'), 'utf8');
    const start = doc.indexOf('## The request lifecycle');
    expect(start).toBeGreaterThan(0);
    const next = doc.indexOf('\n## ', start + 1);
    const table = doc.slice(start, next < 0 ? undefined : next);
    for (const [name, t] of Object.entries(TRANSITIONS)) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, `docs/governance.md row for ${name}`).toBeDefined();
      for (const status of [...t.to, ...t.from.filter((f) => f !== null)]) expect(row, name).toContain(`\`${status}\``);
      for (const action of t.audit) expect(row, name).toContain(`\`${action}\``);
    }
  });

  it('cancel → retry of an unapproved request waits for its approvals again (REST and GraphQL)', async () => {
    const ns = await namespace();
    const writes = writesTo(s.emulator);
    const id = await create(ns);
    expect((await status(id)).status).toBe('PENDING_APPROVAL');
    expect((await op(id, 'cancel', 'requesterIn')).body.status).toBe('CANCELLED');
    const retried = await op(id, 'retry', 'requesterIn');
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      request: { approvalsGiven: 0, approvalsRequired: 2, attempt: 2 },
    });

    // Once more over GraphQL, after one approval: the approval stays counted, the second is still needed.
    expect((await op(id, 'approve', 'approverIn')).body).toMatchObject({
      status: 'PENDING_APPROVAL',
      approvalsGiven: 1,
    });
    const q = (m: string) =>
      gql(s.url, `mutation($id: ID!) { ${m}(id: $id) { status approvalsGiven } }`, { id }, as('requesterIn'));
    expect((await q('cancelOnboardingRequest')).data.cancelOnboardingRequest.status).toBe('CANCELLED');
    expect((await q('retryOnboardingRequest')).data.retryOnboardingRequest).toEqual({
      status: 'PENDING_APPROVAL',
      approvalsGiven: 1,
    });

    await new Promise((r) => setTimeout(r, 300)); // give a wrongly queued job time to run
    expect(writesTo(s.emulator)).toBe(writes);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();

    expect((await op(id, 'approve', 'approver2')).body.status).toBe('QUEUED');
    expect((await waitForStatus(s.url, id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    const trail = (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items.map(
      (e: { action: string }) => e.action,
    );
    expect(trail.slice(0, 9)).toEqual([
      'request.created',
      'request.cancelled',
      'request.retried',
      'approval.recorded',
      'request.cancelled',
      'request.retried',
      'request.approved',
      'request.started',
      'step.started',
    ]);
  });

  it('a cancelled dry run is a plan again on retry, and waits for approvals when applied', async () => {
    const ns = await namespace();
    const writes = writesTo(s.emulator);
    const id = await create(ns, { dryRun: true });
    expect((await status(id)).status).toBe('PLANNED');
    expect((await op(id, 'cancel', 'requesterIn')).body.status).toBe('CANCELLED');
    expect((await op(id, 'retry', 'requesterIn')).body.status).toBe('PLANNED');
    expect((await op(id, 'apply', 'requesterIn')).body.status).toBe('PENDING_APPROVAL');
    // Applied, then cancelled and retried: it stays a request waiting for approvals, not a plan.
    expect((await op(id, 'cancel', 'requesterIn')).body.status).toBe('CANCELLED');
    expect((await op(id, 'retry', 'requesterIn')).body.status).toBe('PENDING_APPROVAL');
    expect(writesTo(s.emulator)).toBe(writes);
  });

  it('batch cancel → retry keeps every member waiting for its approvals', async () => {
    const targets = [{ namespace: await namespace() }, { namespace: await namespace() }];
    const writes = writesTo(s.emulator);
    const batch = await http(s.url, 'POST', '/v1/batches', { kind: 'ONBOARD', targets }, as('requesterIn'));
    expect(batch.status).toBe(202);
    const id = batch.body.id;
    expect((await http(s.url, 'POST', `/v1/batches/${id}/cancel`, {}, as('requesterIn'))).body.batch.status).toBe(
      'CANCELLED',
    );
    const retried = await http(s.url, 'POST', `/v1/batches/${id}/retry`, {}, as('requesterIn'));
    expect(retried.body.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true]);
    expect(retried.body.batch.requests.map((r: { status: string }) => r.status)).toEqual([
      'PENDING_APPROVAL',
      'PENDING_APPROVAL',
    ]);
    const viaGraphql = await gql(
      s.url,
      `mutation($id: ID!) { batchOperation(id: $id, operation: "cancel") { batch { status } } }`,
      { id },
      as('requesterIn'),
    );
    expect(viaGraphql.data.batchOperation.batch.status).toBe('CANCELLED');
    const again = await gql(
      s.url,
      `mutation($id: ID!) { batchOperation(id: $id, operation: "retry") { batch { status } } }`,
      { id },
      as('requesterIn'),
    );
    expect(again.data.batchOperation.batch.status).toBe('PENDING_APPROVAL');
    await new Promise((r) => setTimeout(r, 300));
    expect(writesTo(s.emulator)).toBe(writes);
  });

  it("a job enqueued behind the lifecycle's back does not run an unapproved request", async () => {
    const ns = await namespace();
    const writes = writesTo(s.emulator);
    const id = await create(ns);
    await s.app.get(QueueService).enqueue(id);
    await new Promise((r) => setTimeout(r, 500));
    expect((await status(id)).status).toBe('PENDING_APPROVAL');
    expect(writesTo(s.emulator)).toBe(writes);
  });

  it('the database refuses an unapproved QUEUED or RUNNING request and transitions outside the table', async () => {
    const ns = await namespace();
    const id = await create(ns);
    await expect(db.query(`UPDATE onboarding_request SET status = 'QUEUED' WHERE id = $1`, [id])).rejects.toThrow(
      /needs 2 approval\(s\), has 0/,
    );
    await expect(
      db.query(`UPDATE onboarding_request SET status = 'QUEUED', approvals_required = 0 WHERE id = $1`, [id]),
    ).rejects.toThrow(/approvals cannot be taken back/);
    await expect(db.query(`UPDATE onboarding_request SET status = 'SUCCEEDED' WHERE id = $1`, [id])).rejects.toThrow(
      /PENDING_APPROVAL -> SUCCEEDED is not a transition/,
    );
    await expect(
      db.query(
        `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
           approvals_required, updated_at)
         VALUES (gen_random_uuid(), 'ONBOARD', 'emulator', $1, 'osm', '{}', 'QUEUED', 'x', 1, now())`,
        [uniqueName('gov')],
      ),
    ).rejects.toThrow(/needs 1 approval\(s\), has 0/);
    expect((await status(id)).status).toBe('PENDING_APPROVAL');
  });

  it('rejected requests stay rejected', async () => {
    const ns = await namespace();
    const id = await create(ns);
    expect((await op(id, 'reject', 'approverIn', { reason: 'no' })).body.status).toBe('REJECTED');
    const retry = await op(id, 'retry', 'requesterIn');
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('REQUEST_NOT_RETRYABLE');
  });

  // Every caller-side path × role × in/out of scope; `ok` is the status the request must then have.
  const MATRIX: { path: string; state: 'PENDING_APPROVAL' | 'PLANNED' | 'CANCELLED'; body?: unknown }[] = [
    { path: 'approve', state: 'PENDING_APPROVAL' },
    { path: 'reject', state: 'PENDING_APPROVAL', body: { reason: 'no' } },
    { path: 'cancel', state: 'PENDING_APPROVAL' },
    { path: 'retry', state: 'CANCELLED' },
    { path: 'apply', state: 'PLANNED' },
  ];
  const ALLOWED: Record<string, Who[]> = {
    approve: ['approverIn', 'approver2', 'admin'],
    reject: ['approverIn', 'approver2', 'admin'],
    cancel: ['requesterIn', 'admin'],
    retry: ['requesterIn', 'admin'],
    apply: ['requesterIn', 'admin'],
  };
  const OUTCOME: Record<string, string> = {
    approve: 'PENDING_APPROVAL', // 1 of 2
    reject: 'REJECTED',
    cancel: 'CANCELLED',
    retry: 'PENDING_APPROVAL', // never approved: waits again
    apply: 'PENDING_APPROVAL',
  };

  it('authorises every path by role and scope, and refuses without a cluster write', async () => {
    const ns = await namespace();
    const who: Who[] = ['viewerIn', 'viewerOut', 'requesterIn', 'requesterOut', 'approverIn', 'approverOut', 'admin'];
    const seen: string[] = [];
    for (const m of MATRIX) {
      for (const w of who) {
        const id = await create(ns, m.state === 'PLANNED' ? { dryRun: true } : {});
        if (m.state === 'CANCELLED') await op(id, 'cancel', 'requesterIn');
        const writes = writesTo(s.emulator);
        const res = await op(id, m.path, w, m.body);
        const allowed = ALLOWED[m.path].includes(w);
        seen.push(`${m.path}:${w}:${res.status}`);
        if (allowed) {
          const ok = res.status === 200 || res.status === 202;
          expect({ m: m.path, w, ok, to: res.body.status }).toEqual({ m: m.path, w, ok: true, to: OUTCOME[m.path] });
        } else {
          // Out of scope with the right role: refused as an unknown id (nothing confirms the request exists).
          const hidden = w.endsWith('Out') && ALLOWED[m.path].includes(w.replace('Out', 'In') as Who);
          expect({ m: m.path, w, status: res.status, code: res.body.error.code }).toEqual({
            m: m.path,
            w,
            status: hidden ? 404 : 403,
            code: hidden ? 'REQUEST_NOT_FOUND' : 'FORBIDDEN',
          });
          expect((await status(id)).status).toBe(m.state);
        }
        expect(writesTo(s.emulator)).toBe(writes);
        // Free the namespace for the next case.
        if (['PENDING_APPROVAL', 'QUEUED'].includes((await status(id)).status)) await op(id, 'cancel', 'admin');
      }
    }
    expect(seen).toHaveLength(MATRIX.length * who.length);
  }, 180_000);
});

describe('a cancellation racing a worker’s claim', () => {
  let s: Stack;
  let db: pg.Client;
  beforeAll(async () => {
    // No worker: the claim below is this test's, held open in a transaction at the moment it chooses.
    s = await startStack({ env: { ROLE: 'api' } });
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await s.close();
  });

  it('is flagged and audited when the request was claimed between its read and its write', async () => {
    const ns = uniqueName('race');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const created = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(created.body.status).toBe('QUEUED');
    const id = created.body.id as string;

    // A worker's claim, not yet committed: the cancel reads QUEUED, and its QUEUED → CANCELLED write waits on
    // this row's lock, then finds the row RUNNING and writes nothing.
    const claim = new pg.Client({ connectionString: testDatabaseUrl() });
    await claim.connect();
    try {
      await claim.query('BEGIN');
      await claim.query(
        `UPDATE onboarding_request SET status = 'RUNNING', claimed_by = 'race-worker', heartbeat_at = now()
         WHERE id = $1`,
        [id],
      );
      const cancelling = http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, { reason: 'raced' });
      const blocked = async () =>
        (
          await db.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query ILIKE '%UPDATE onboarding_request%'`,
          )
        ).rows[0].n > 0;
      for (let i = 0; i < 100 && !(await blocked()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await blocked()).toBe(true);
      await claim.query('COMMIT');

      const cancelled = await cancelling;
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('RUNNING');
      // Answered RUNNING only with the flag set and its audit event: the worker stops before its next step.
      const row = await db.query('SELECT cancel_requested FROM onboarding_request WHERE id = $1', [id]);
      expect(row.rows[0].cancel_requested).toBe(true);
      const audit = await http(s.url, 'GET', `/v1/onboardings/${id}/audit`);
      expect(audit.body.items.map((e: { action: string }) => e.action)).toContain('request.cancel-requested');
    } finally {
      await claim.end();
    }
  });
});

describe('a cancellation while a step waits to retry', () => {
  let s: Stack;
  beforeAll(async () => {
    // A back-off long enough to cancel in.
    s = await startStack({ env: { STEP_BACKOFF_MS: '2000' } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('stops before the next attempt: no cluster write after the cancel was accepted', async () => {
    const ns = uniqueName('retrycancel');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 503, times: 1 });
    const id = (await http(s.url, 'POST', '/v1/onboardings', { namespace: ns })).body.id as string;
    const actions = async () =>
      (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items.map((e: { action: string }) => e.action);
    for (let i = 0; i < 100 && !(await actions()).includes('step.retrying'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const cancelled = await http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, { reason: 'no longer needed' });
    expect(cancelled.body.status).toBe('RUNNING');

    const done = await waitForStatus(s.url, id, ['SUCCEEDED', 'FAILED', 'CANCELLED']);
    expect(done.status).toBe('CANCELLED');
    const trail = await actions();
    const flagged = trail.indexOf('request.cancel-requested');
    expect(flagged).toBeGreaterThan(trail.indexOf('step.retrying'));
    // Nothing was attempted after the flag: the namespace step's retry never ran, so the namespace was never joined.
    expect(trail.slice(flagged)).toEqual(['request.cancel-requested', 'request.cancelled']);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();
  });
});
