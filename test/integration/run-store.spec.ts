import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import type { AppConfig } from '../../src/config/config.js';
import { PrismaService } from '../../src/database/prisma.service.js';
import { RunStore } from '../../src/onboarding/lifecycle/run-store.js';

// The runner's single-statement transitions against real Postgres: what they write, and above all
// that a worker which lost its claim (frozen past its heartbeat, taken over) writes nothing at all,
// also when the takeover commits while the stale worker's statement waits for the row.

describe('RunStore (one statement per transition)', () => {
  const db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 3 });
  const prisma = new PrismaService({ databaseUrl: testDatabaseUrl(), databasePoolSize: 3 } as AppConfig);
  const store = new RunStore(prisma);
  const A = 'worker-a';
  const B = 'worker-b';

  beforeAll(() => prisma.$connect());
  afterAll(async () => {
    await prisma.$disconnect();
    await db.end();
  });

  async function newRequest(steps = ['mesh', 'namespace', 'restart'], { approvalsRequired = 0 } = {}) {
    const id = randomUUID();
    const namespace = `rs-${id.slice(0, 8)}`;
    await db.query(
      `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
           approvals_required, event_seq, updated_at)
       VALUES ($1, 'ONBOARD', 'rs', $2, 'osm', '{}', $3, 'tester', $4, 1, now())`,
      [id, namespace, approvalsRequired ? 'PENDING_APPROVAL' : 'QUEUED', approvalsRequired],
    );
    await db.query(
      `INSERT INTO audit_event (request_id, seq, actor, action) VALUES ($1, 1, 'tester', 'request.created')`,
      [id],
    );
    const stepIds: string[] = [];
    for (const [i, name] of steps.entries()) {
      const sid = randomUUID();
      stepIds.push(sid);
      await db.query(`INSERT INTO step_run (id, request_id, position, name) VALUES ($1, $2, $3, $4)`, [
        sid,
        id,
        i,
        name,
      ]);
    }
    return { id, namespace, stepIds };
  }

  const snapshot = async (id: string) => ({
    request: (
      await db.query(
        `SELECT status, claimed_by, heartbeat_at, event_seq, cancel_requested, updated_at, finished_at, error_code ` +
          `FROM onboarding_request WHERE id = $1`,
        [id],
      )
    ).rows[0],
    steps: (
      await db.query(
        `SELECT name, status, attempts, result, before, after, output, error_code FROM step_run WHERE request_id = ` +
          `$1 ORDER BY position`,
        [id],
      )
    ).rows,
    events: (await db.query(`SELECT seq, action FROM audit_event WHERE request_id = $1 ORDER BY seq`, [id])).rows,
  });

  const event = (id: string, action: string, data: Record<string, unknown> = {}, step?: string) => ({
    requestId: id,
    actor: 'system:worker',
    action,
    cluster: 'rs',
    namespace: 'ns',
    target: 'namespaces/ns',
    step,
    data,
  });

  async function claimed(steps?: string[]) {
    const r = await newRequest(steps);
    const row = await store.claim(
      r.id,
      A,
      { eventSeq: 1, status: 'QUEUED', claimedBy: null, heartbeatAt: null, startedAt: null },
      event(r.id, 'request.started', { worker: A }),
    );
    expect(row).toMatchObject({ seq: 2, action: 'request.started', requestId: r.id, cancelRequested: false });
    return r;
  }

  it(
    'claims by compare-and-swap: the event comes back with the next cursor; a second claim on the same view writes ' +
      'nothing',
    async () => {
      const r = await claimed();
      const after = await snapshot(r.id);
      expect(after.request).toMatchObject({ status: 'RUNNING', claimed_by: A, event_seq: 2 });
      expect(after.request.heartbeat_at).toBeInstanceOf(Date);
      const again = await store.claim(
        r.id,
        B,
        { eventSeq: 1, status: 'QUEUED', claimedBy: null, heartbeatAt: null, startedAt: null },
        event(r.id, 'request.started', { worker: B }),
      );
      expect(again).toBeUndefined();
      expect(await snapshot(r.id)).toEqual(after);
    },
  );

  it(
    'writes the step run, the heartbeat, the cursor and the audit row together; undefined JSON leaves a column as ' +
      'it is',
    async () => {
      const r = await claimed();
      const started = await store.transition(
        r.id,
        A,
        {
          step: { kind: 'started', stepId: r.stepIds[0], attempts: 1, startedAt: new Date() },
          unlessCancelRequested: true,
        },
        event(r.id, 'step.started', { attempt: 1 }, 'mesh'),
      );
      expect(started).toMatchObject({ seq: 3, action: 'step.started', step: 'mesh', data: { attempt: 1 } });
      expect(started!.id).toEqual(expect.any(BigInt));
      expect(started!.createdAt).toBeInstanceOf(Date);
      await db.query(`UPDATE step_run SET before = '{"kept":true}' WHERE id = $1`, [r.stepIds[0]]);
      await store.transition(
        r.id,
        A,
        {
          step: {
            kind: 'succeeded',
            stepId: r.stepIds[0],
            result: 'CHANGED',
            before: undefined,
            after: { x: [1, 'a'] },
            output: { summary: 's', apiCalls: 2 },
            finishedAt: new Date(),
            durationMs: 12,
          },
        },
        event(r.id, 'step.succeeded', {}, 'mesh'),
      );
      const s = await snapshot(r.id);
      expect(s.steps[0]).toMatchObject({
        status: 'SUCCEEDED',
        attempts: 1,
        result: 'CHANGED',
        before: { kept: true },
        after: { x: [1, 'a'] },
        output: { summary: 's', apiCalls: 2 },
      });
      expect(s.events.map((e) => e.action)).toEqual([
        'request.created',
        'request.started',
        'step.started',
        'step.succeeded',
      ]);
      expect(s.request).toMatchObject({ status: 'RUNNING', claimed_by: A, event_seq: 4 });
    },
  );

  it('a worker that lost its claim writes nothing: no step change, no audit row, no cursor, no heartbeat', async () => {
    const r = await claimed();
    await store.transition(
      r.id,
      A,
      { step: { kind: 'started', stepId: r.stepIds[0], attempts: 1, startedAt: new Date() } },
      event(r.id, 'step.started', {}, 'mesh'),
    );
    // taken over
    await db.query(`UPDATE onboarding_request SET claimed_by = $2, heartbeat_at = now() WHERE id = $1`, [r.id, B]);
    const before = await snapshot(r.id);
    const changes = [
      {
        step: {
          kind: 'succeeded' as const,
          stepId: r.stepIds[0],
          result: 'CHANGED' as const,
          before: {},
          after: {},
          output: {},
          finishedAt: new Date(),
          durationMs: 1,
        },
      },
      {
        step: {
          kind: 'failed' as const,
          stepId: r.stepIds[0],
          errorCode: 'X',
          errorMessage: 'x',
          output: {},
          finishedAt: new Date(),
          durationMs: 1,
        },
      },
      {
        step: { kind: 'started' as const, stepId: r.stepIds[1], attempts: 1, startedAt: new Date() },
        unlessCancelRequested: true,
      },
      {
        request: {
          kind: 'finish' as const,
          status: 'SUCCEEDED' as const,
          finishedAt: new Date(),
          errorCode: null,
          errorMessage: null,
        },
      },
      {
        step: { kind: 'cancel-open' as const },
        request: {
          kind: 'finish' as const,
          status: 'CANCELLED' as const,
          finishedAt: new Date(),
          errorCode: 'CANCELLED',
          errorMessage: 'c',
        },
      },
      { request: { kind: 'release' as const } },
      {},
    ];
    for (const change of changes) expect(await store.transition(r.id, A, change, event(r.id, 'x'))).toBeUndefined();
    expect(await snapshot(r.id)).toEqual(before);
    expect(await store.state(r.id)).toEqual({ claimedBy: B, cancelRequested: false });
  });

  it(
    're-checks the fence after waiting for a takeover that commits while the stale worker waits for the ' + 'row',
    async () => {
      const r = await claimed();
      const takeover = await db.connect();
      try {
        await takeover.query('BEGIN');
        await takeover.query(
          'UPDATE onboarding_request SET claimed_by = $2, heartbeat_at = now(), event_seq = event_seq + 1 ' +
            'WHERE id = $1',
          [r.id, B],
        );
        await takeover.query(
          `INSERT INTO audit_event (request_id, seq, actor, action) VALUES ($1, 3, 'system:worker', 'request.resumed')`,
          [r.id],
        );
        const stale = store.transition(
          r.id,
          A,
          { step: { kind: 'started', stepId: r.stepIds[0], attempts: 1, startedAt: new Date() } },
          event(r.id, 'step.started', {}, 'mesh'),
        );
        await new Promise((res) => setTimeout(res, 300)); // the stale statement now waits for the row lock
        await takeover.query('COMMIT');
        expect(await stale).toBeUndefined();
      } finally {
        takeover.release();
      }
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ claimed_by: B, event_seq: 3 });
      expect(s.steps[0]).toMatchObject({ status: 'PENDING', attempts: 0 });
      expect(s.events.map((e) => e.action)).toEqual(['request.created', 'request.started', 'request.resumed']);
    },
  );

  it(
    'a step does not start once cancellation was requested (nothing written); cancelling closes the open steps and ' +
      'drops the claim',
    async () => {
      const r = await claimed();
      await db.query(`UPDATE onboarding_request SET cancel_requested = true WHERE id = $1`, [r.id]);
      const before = await snapshot(r.id);
      expect(
        await store.transition(
          r.id,
          A,
          {
            step: { kind: 'started', stepId: r.stepIds[0], attempts: 1, startedAt: new Date() },
            unlessCancelRequested: true,
          },
          event(r.id, 'step.started', {}, 'mesh'),
        ),
      ).toBeUndefined();
      expect(await snapshot(r.id)).toEqual(before);
      expect(await store.state(r.id)).toEqual({ claimedBy: A, cancelRequested: true });
      // Without the condition (a retry attempt, an event) the flag only comes back with the row.
      expect(await store.transition(r.id, A, {}, event(r.id, 'step.retrying'))).toMatchObject({
        seq: 3,
        cancelRequested: true,
      });
      const done = await store.transition(
        r.id,
        A,
        {
          step: { kind: 'cancel-open' },
          request: {
            kind: 'finish',
            status: 'CANCELLED',
            finishedAt: new Date(),
            errorCode: 'CANCELLED',
            errorMessage: 'cancelled before step mesh',
          },
        },
        event(r.id, 'request.cancelled', { stoppedBefore: 'mesh' }),
      );
      expect(done).toMatchObject({ seq: 4, action: 'request.cancelled', data: { stoppedBefore: 'mesh' } });
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ status: 'CANCELLED', claimed_by: null, error_code: 'CANCELLED', event_seq: 4 });
      expect(s.request.finished_at).toBeInstanceOf(Date);
      expect(s.steps.map((x) => x.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    },
  );

  /** The 'succeeded' change of a step run. */
  const succeededChange = (
    stepId: string,
    result: 'CHANGED' | 'UNCHANGED',
    o: { before?: unknown; after?: unknown; summary: string; durationMs: number },
  ) => ({
    kind: 'succeeded' as const,
    stepId,
    result,
    before: o.before,
    after: o.after,
    output: { summary: o.summary },
    finishedAt: new Date(),
    durationMs: o.durationMs,
  });

  /** A claimed request whose first step is RUNNING (attempt 1). */
  async function firstStepStarted(steps?: string[]) {
    const r = await claimed(steps);
    const start = { kind: 'started' as const, stepId: r.stepIds[0], attempts: 1, startedAt: new Date() };
    await store.transition(r.id, A, { step: start }, event(r.id, 'step.started'));
    return r;
  }

  describe("a step's success and the next step's start in one statement", () => {
    const pair = (r: { id: string; stepIds: string[] }) =>
      [
        {
          change: succeededChange(r.stepIds[0], 'CHANGED', {
            before: { a: 1 },
            after: { a: 2 },
            summary: 'done',
            durationMs: 5,
          }),
          event: event(r.id, 'step.succeeded', { result: 'CHANGED' }, 'mesh'),
        },
        {
          change: { kind: 'started' as const, stepId: r.stepIds[1], attempts: 1, startedAt: new Date() },
          event: event(r.id, 'step.started', { attempt: 1 }, 'namespace'),
        },
      ] as const;
    const started = () => firstStepStarted();

    it('writes both step runs and both events, in order (cursors n, n+1; ids ascending)', async () => {
      const r = await started();
      const rows = await store.succeedAndStart(r.id, A, ...pair(r));
      expect(rows.map((e) => [e.seq, e.action, e.step])).toEqual([
        [4, 'step.succeeded', 'mesh'],
        [5, 'step.started', 'namespace'],
      ]);
      expect(rows[0].id < rows[1].id).toBe(true);
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ claimed_by: A, event_seq: 5 });
      expect(s.steps.map((x) => [x.status, x.attempts])).toEqual([
        ['SUCCEEDED', 1],
        ['RUNNING', 1],
        ['PENDING', 0],
      ]);
      expect(s.steps[0]).toMatchObject({ result: 'CHANGED', after: { a: 2 }, output: { summary: 'done' } });
    });

    it('with cancellation requested: the success alone is written, the next step stays PENDING', async () => {
      const r = await started();
      await db.query(`UPDATE onboarding_request SET cancel_requested = true WHERE id = $1`, [r.id]);
      const rows = await store.succeedAndStart(r.id, A, ...pair(r));
      expect(rows.map((e) => [e.seq, e.action, e.cancelRequested])).toEqual([[4, 'step.succeeded', true]]);
      const s = await snapshot(r.id);
      expect(s.request.event_seq).toBe(4);
      expect(s.steps.map((x) => x.status)).toEqual(['SUCCEEDED', 'PENDING', 'PENDING']);
    });

    it('a worker that lost its claim writes nothing', async () => {
      const r = await started();
      await db.query(`UPDATE onboarding_request SET claimed_by = $2, heartbeat_at = now() WHERE id = $1`, [r.id, B]);
      const before = await snapshot(r.id);
      expect(await store.succeedAndStart(r.id, A, ...pair(r))).toEqual([]);
      expect(await snapshot(r.id)).toEqual(before);
    });
  });

  describe("the claim and the first open step's start in one statement", () => {
    const queued = { eventSeq: 1, status: 'QUEUED' as const, claimedBy: null, heartbeatAt: null, startedAt: null };
    const start = (r: { id: string; stepIds: string[] }, worker = A) => ({
      claimed: event(r.id, 'request.started', { worker }),
      started: {
        change: { kind: 'started' as const, stepId: r.stepIds[0], attempts: 1, startedAt: new Date() },
        event: event(r.id, 'step.started', { attempt: 1 }, 'mesh'),
      },
    });

    it('writes the claim and the start (cursors n, n+1); another claim on that view writes nothing', async () => {
      const r = await newRequest();
      const rows = await store.claimAndStart(r.id, A, queued, start(r));
      expect(rows.map((e) => [e.seq, e.action, e.step, e.cancelRequested])).toEqual([
        [2, 'request.started', null, false],
        [3, 'step.started', 'mesh', false],
      ]);
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ status: 'RUNNING', claimed_by: A, event_seq: 3 });
      expect(s.steps.map((x) => [x.status, x.attempts])).toEqual([
        ['RUNNING', 1],
        ['PENDING', 0],
        ['PENDING', 0],
      ]);
      expect(await store.claimAndStart(r.id, B, queued, start(r, B))).toEqual([]);
      expect(await snapshot(r.id)).toEqual(s);
    });

    it('with cancellation requested: the claim alone is written, the step stays PENDING', async () => {
      const r = await newRequest();
      await db.query(`UPDATE onboarding_request SET cancel_requested = true WHERE id = $1`, [r.id]);
      const rows = await store.claimAndStart(r.id, A, queued, start(r));
      expect(rows.map((e) => [e.seq, e.action, e.cancelRequested])).toEqual([[2, 'request.started', true]]);
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ status: 'RUNNING', claimed_by: A, event_seq: 2 });
      expect(s.steps.map((x) => x.status)).toEqual(['PENDING', 'PENDING', 'PENDING']);
    });

    it('never claims a request that waits for approval', async () => {
      const r = await newRequest(undefined, { approvalsRequired: 1 });
      const before = await snapshot(r.id);
      const pending = { ...queued, status: 'PENDING_APPROVAL' as const };
      expect(await store.claimAndStart(r.id, A, pending, start(r))).toEqual([]);
      expect(await snapshot(r.id)).toEqual(before);
    });
  });

  describe("the last step's success and the request's success in one statement", () => {
    const last = (r: { id: string; stepIds: string[] }) =>
      [
        {
          change: succeededChange(r.stepIds[0], 'UNCHANGED', { summary: 'verified', durationMs: 7 }),
          event: event(r.id, 'step.succeeded', { result: 'UNCHANGED' }, 'verify'),
        },
        { finishedAt: new Date(), event: event(r.id, 'request.succeeded', { status: 'SUCCEEDED' }) },
      ] as const;
    const started = () => firstStepStarted(['verify']);

    it('writes the step run, ends the request unclaimed, and both events in order (cursors n, n+1)', async () => {
      const r = await started();
      const rows = await store.succeedAndFinish(r.id, A, ...last(r));
      expect(rows.map((e) => [e.seq, e.action, e.step])).toEqual([
        [4, 'step.succeeded', 'verify'],
        [5, 'request.succeeded', null],
      ]);
      expect(rows[0].id < rows[1].id).toBe(true);
      const s = await snapshot(r.id);
      expect(s.request).toMatchObject({ status: 'SUCCEEDED', claimed_by: null, event_seq: 5, error_code: null });
      expect(s.request.finished_at).toBeInstanceOf(Date);
      expect(s.steps.map((x) => [x.status, x.result])).toEqual([['SUCCEEDED', 'UNCHANGED']]);
    });

    it('a worker that lost its claim writes nothing', async () => {
      const r = await started();
      await db.query(`UPDATE onboarding_request SET claimed_by = $2, heartbeat_at = now() WHERE id = $1`, [r.id, B]);
      const before = await snapshot(r.id);
      expect(await store.succeedAndFinish(r.id, A, ...last(r))).toEqual([]);
      expect(await snapshot(r.id)).toEqual(before);
    });
  });

  it('release gives the request back unclaimed, without a heartbeat', async () => {
    const r = await claimed();
    expect(
      await store.transition(r.id, A, { request: { kind: 'release' } }, event(r.id, 'request.released')),
    ).toMatchObject({ seq: 3 });
    expect((await snapshot(r.id)).request).toMatchObject({
      status: 'QUEUED',
      claimed_by: null,
      heartbeat_at: null,
      event_seq: 3,
    });
  });

  it('loads a request and its steps in one statement exactly as Prisma reads them', async () => {
    const { id, stepIds } = await newRequest(['mesh', 'namespace', 'restart', 'verify']);
    // Every kind of column set: JSON objects and null, arrays, dates, enums, counters.
    await db.query(
      `UPDATE onboarding_request SET options = '{"restart":{"mode":"all"}}', origin = '{"httpRequestId":"x"}',
         mesh_wide_changes = '{enableEgress}', heartbeat_at = now(), started_at = now(), approval_rule = 'r'
       WHERE id = $1`,
      [id],
    );
    await db.query(
      `UPDATE step_run SET status = 'SUCCEEDED', result = 'CHANGED', attempts = 2, before = '{"a":1}',
         after = 'null', output = '{"changes":[{"target":"ns"}]}', started_at = now(), finished_at = now(),
         duration_ms = 7 WHERE id = $1`,
      [stepIds[1]],
    );
    const loaded = await store.load(id);
    const request = await prisma.onboardingRequest.findUnique({ where: { id } });
    const steps = await prisma.stepRun.findMany({ where: { requestId: id }, orderBy: { position: 'asc' } });
    expect(loaded).toEqual({ request, steps });
    expect(loaded?.steps.map((s) => s.name)).toEqual(['mesh', 'namespace', 'restart', 'verify']);
    expect(Object.keys(loaded!.request).sort()).toEqual(Object.keys(request!).sort());
    expect(Object.keys(loaded!.steps[0]).sort()).toEqual(Object.keys(steps[0]).sort());
  });

  it('claims nothing when the request moved on and came back to the status it was seen in', async () => {
    const r = await newRequest();
    const seen = await store.load(r.id);
    // What a cancel and a retry leave behind between the claim's read and its compare-and-swap: QUEUED again,
    // unclaimed, but two audit events later (and step runs the read did not see).
    await db.query(`UPDATE onboarding_request SET event_seq = event_seq + 2 WHERE id = $1`, [r.id]);
    await db.query(`UPDATE step_run SET attempts = 3 WHERE request_id = $1`, [r.id]);
    const row = await store.claim(r.id, A, seen!.request, event(r.id, 'request.started', { worker: A }));
    expect(row).toBeUndefined();
    expect((await snapshot(r.id)).request).toMatchObject({ status: 'QUEUED', claimed_by: null, event_seq: 3 });
  });

  it('loads a request without steps, and nothing for an unknown id', async () => {
    const { id } = await newRequest([]);
    expect((await store.load(id))?.steps).toEqual([]);
    expect(await store.load(randomUUID())).toBeUndefined();
  });
});
