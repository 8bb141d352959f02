import { Prisma } from '../../generated/prisma/client.js';
import type { AuditEvent, OnboardingRequest, RequestStatus, StepRun } from '../../generated/prisma/client.js';
import type { PrismaService } from '../../database/prisma.service.js';
import type { NewAuditEvent } from '../../audit/audit.repository.js';
import { permits } from './transitions.js';
import type { Change } from '../../mesh/change.js';

const { sql, join, empty } = Prisma;

/** What a transition does to the step run, besides its audit event. */
export type StepChange =
  | { kind: 'started'; stepId: string; attempts: number; startedAt: Date }
  | {
      kind: 'succeeded';
      stepId: string;
      result: 'CHANGED' | 'UNCHANGED';
      before: unknown;
      after: unknown;
      output: unknown;
      finishedAt: Date;
      durationMs: number;
    }
  | {
      kind: 'failed';
      stepId: string;
      errorCode: string;
      errorMessage: string;
      output: unknown;
      finishedAt: Date;
      durationMs: number;
    }
  /** Cancellation: every step run still PENDING or RUNNING becomes CANCELLED. */
  | { kind: 'cancel-open' };

/** What a transition does to the request row, besides the fencing heartbeat and the event cursor. */
export type RequestChange =
  /** The request ends (SUCCEEDED, FAILED or CANCELLED) and drops its claim. */
  | { kind: 'finish'; status: RequestStatus; finishedAt: Date; errorCode: string | null; errorMessage: string | null }
  /** Shutdown: back to QUEUED, unclaimed, no heartbeat. */
  | { kind: 'release' };

export interface Transition {
  request?: RequestChange;
  step?: StepChange;
  /** Write nothing when the request's cancellation flag is set (the start of a step). */
  unlessCancelRequested?: boolean;
}

export type WrittenEvent = AuditEvent & { cancelRequested: boolean };

/** A step's start as a two-event statement writes it: the step-run change and its step.started event. */
export type StepStart = { change: Extract<StepChange, { kind: 'started' }>; event: NewAuditEvent };

/** The request as the claim compare-and-swap saw it. */
export interface ClaimExpectation {
  /** The audit cursor: every write to the request or its steps but the heartbeat's moves it. */
  eventSeq: number;
  status: RequestStatus;
  claimedBy: string | null;
  heartbeatAt: Date | null;
  startedAt: Date | null;
}

/** Every column of the two models, as [column, field] (prisma/schema.prisma); `load` returns whole rows. */
const REQUEST_FIELDS = [
  ['id', 'id'],
  ['kind', 'kind'],
  ['cluster', 'cluster'],
  ['namespace', 'namespace'],
  ['mesh_name', 'meshName'],
  ['options', 'options'],
  ['status', 'status'],
  ['requested_by', 'requestedBy'],
  ['idempotency_key', 'idempotencyKey'],
  ['body_hash', 'bodyHash'],
  ['error_code', 'errorCode'],
  ['error_message', 'errorMessage'],
  ['attempt', 'attempt'],
  ['event_seq', 'eventSeq'],
  ['claimed_by', 'claimedBy'],
  ['heartbeat_at', 'heartbeatAt'],
  ['cancel_requested', 'cancelRequested'],
  ['approvals_required', 'approvalsRequired'],
  ['approval_rule', 'approvalRule'],
  ['approvals_given', 'approvalsGiven'],
  ['dry_run', 'dryRun'],
  ['applied_at', 'appliedAt'],
  ['mesh_wide_changes', 'meshWideChanges'],
  ['batch_id', 'batchId'],
  ['origin', 'origin'],
  ['created_at', 'createdAt'],
  ['updated_at', 'updatedAt'],
  ['started_at', 'startedAt'],
  ['finished_at', 'finishedAt'],
] as const satisfies readonly (readonly [string, keyof OnboardingRequest])[];
const STEP_FIELDS = [
  ['id', 'id'],
  ['request_id', 'requestId'],
  ['position', 'position'],
  ['name', 'name'],
  ['status', 'status'],
  ['result', 'result'],
  ['attempts', 'attempts'],
  ['before', 'before'],
  ['after', 'after'],
  ['output', 'output'],
  ['error_code', 'errorCode'],
  ['error_message', 'errorMessage'],
  ['started_at', 'startedAt'],
  ['finished_at', 'finishedAt'],
  ['duration_ms', 'durationMs'],
] as const satisfies readonly (readonly [string, keyof StepRun])[];
const LOAD_COLUMNS = Prisma.raw(
  [
    ...REQUEST_FIELDS.map(([column, field]) => `r.${column} AS "r.${field}"`),
    ...STEP_FIELDS.map(([column, field]) => `s.${column} AS "s.${field}"`),
  ].join(', '),
);

/** `undefined` leaves a JSON column as it is (as Prisma does for an undefined field). */
const jsonOrKeep = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/**
 * The runner's writes, each ONE SQL statement (no interactive transaction, so one round trip):
 * a data-modifying CTE that updates the request row (the fencing check `claimed_by = worker`,
 * the heartbeat, the event cursor and any status change, all in one UPDATE of the row), the step
 * run, and inserts the audit event, which it returns with the request's cancellation flag. The
 * step run and the audit row are written only FROM the request row the UPDATE returned, so a
 * worker that lost its claim writes nothing at all; the statement is atomic like the transaction
 * it replaces, and Postgres re-checks the fence on the newest row version (READ COMMITTED
 * re-evaluates an UPDATE's WHERE after waiting for a concurrent writer of the row).
 */
export class RunStore {
  constructor(private readonly prisma: PrismaService) {}

  /** The claim: compare-and-swap on what `expected` saw, with the request.started/resumed event. */
  async claim(
    requestId: string,
    workerId: string,
    expected: ClaimExpectation,
    event: NewAuditEvent,
  ): Promise<WrittenEvent | undefined> {
    if (!permits('claim', expected.status, 'RUNNING')) return undefined;
    const { sets, where } = claimSql(requestId, workerId, expected, new Date());
    const rows = await this.prisma.prepared<WrittenEvent>(
      this.statement(sql`${sets}, event_seq = event_seq + 1`, where, empty, event),
    );
    return rows[0];
  }

  /**
   * Instead of the claim, the request goes back to PENDING_APPROVAL: the policy in force asks `approvals` (its
   * approvals required raised to them, never lowered) under `rule`. The same compare-and-swap as the claim's on what
   * `expected` saw, with the request.held event. Returns it, or undefined when another worker or a caller got there
   * first.
   */
  async hold(
    requestId: string,
    expected: ClaimExpectation,
    need: { approvals: number; rule: string | null },
    event: NewAuditEvent,
  ): Promise<WrittenEvent | undefined> {
    if (!permits('hold', expected.status, 'PENDING_APPROVAL')) return undefined;
    const rows = await this.prisma.prepared<WrittenEvent>(
      this.statement(
        sql`status = 'PENDING_APPROVAL', approvals_required = GREATEST(approvals_required, ${need.approvals}::int),
          approval_rule = ${need.rule}::text, updated_at = ${new Date()}::timestamptz, event_seq = event_seq + 1`,
        sql`id = ${requestId}::uuid AND status = ${expected.status}::"RequestStatus"
          AND event_seq = ${expected.eventSeq}::int AND claimed_by IS NULL`,
        empty,
        event,
      ),
    );
    return rows[0];
  }

  /**
   * The claim and the first open step's start in ONE statement (one round trip instead of two), with the claim's
   * compare-and-swap and the same two audit events in the same order (cursors n and n+1). The start is held back
   * as `transition` holds it with `unlessCancelRequested`: when the request's cancellation flag is set the claim
   * alone is written. Returns the events written (none: another worker claimed first, or the guard refused).
   */
  async claimAndStart(
    requestId: string,
    workerId: string,
    expected: ClaimExpectation,
    { claimed, started }: { claimed: NewAuditEvent; started: StepStart },
  ): Promise<WrittenEvent[]> {
    if (!permits('claim', expected.status, 'RUNNING')) return [];
    const { sets, where } = claimSql(requestId, workerId, expected, new Date());
    return this.prisma.prepared<WrittenEvent>(sql`/* prepared */
      WITH r AS (
        UPDATE onboarding_request SET ${sets},
          event_seq = event_seq + CASE WHEN cancel_requested THEN 1 ELSE 2 END
        WHERE ${where}
        RETURNING event_seq, cancel_requested
      )${startAfter(requestId, claimed, started)}`);
  }

  /**
   * A fenced transition by the worker holding the claim. Returns the audit row, or undefined when
   * nothing was written: the claim is lost, or (with `unlessCancelRequested`) cancellation was
   * requested; `state` tells which.
   */
  async transition(
    requestId: string,
    workerId: string,
    change: Transition,
    event: NewAuditEvent,
  ): Promise<WrittenEvent | undefined> {
    const now = new Date();
    const sets = [sql`event_seq = event_seq + 1`, sql`updated_at = ${now}::timestamptz`];
    const r = change.request;
    if (r?.kind === 'release') sets.push(sql`status = 'QUEUED', claimed_by = NULL, heartbeat_at = NULL`);
    else {
      sets.push(sql`heartbeat_at = ${now}::timestamptz`);
      if (r?.kind === 'finish') {
        if (!permits('finish', 'RUNNING', r.status))
          throw new Error(`finish to ${r.status} is not a lifecycle transition`);
        sets.push(sql`status = ${r.status}::"RequestStatus", finished_at = ${r.finishedAt}::timestamptz,
          claimed_by = NULL,
                      error_code = ${r.errorCode}::text, error_message = ${r.errorMessage}::text`);
      }
    }
    const where = change.unlessCancelRequested
      ? sql`id = ${requestId}::uuid AND claimed_by = ${workerId} AND NOT cancel_requested`
      : sql`id = ${requestId}::uuid AND claimed_by = ${workerId}`;
    const rows = await this.prisma.prepared<WrittenEvent>(
      this.statement(join(sets, ', '), where, stepSql(requestId, change.step), event),
    );
    return rows[0];
  }

  /**
   * A step's success and the next step's start in ONE statement (one round trip instead of two), with
   * the same fence and the same two audit events in the same order (cursors n and n+1). The start is
   * held back as `transition` holds it with `unlessCancelRequested`: when the request's cancellation
   * flag is set the success alone is written. Returns the events written (none: the claim is lost).
   */
  async succeedAndStart(
    requestId: string,
    workerId: string,
    succeeded: { change: Extract<StepChange, { kind: 'succeeded' }>; event: NewAuditEvent },
    started: StepStart,
  ): Promise<WrittenEvent[]> {
    const now = new Date();
    return this.prisma.prepared<WrittenEvent>(sql`/* prepared */
      WITH r AS (
        UPDATE onboarding_request SET event_seq = event_seq + CASE WHEN cancel_requested THEN 1 ELSE 2 END,
          updated_at = ${now}::timestamptz, heartbeat_at = ${now}::timestamptz
        WHERE id = ${requestId}::uuid AND claimed_by = ${workerId}
        RETURNING event_seq, cancel_requested
      )${stepSql(requestId, succeeded.change)}${startAfter(requestId, succeeded.event, started)}`);
  }

  /**
   * The last step's success and the request's success in ONE statement (one round trip instead of two), with
   * the same fence and the same two audit events in the same order (cursors n and n+1): the step run becomes
   * SUCCEEDED, the request SUCCEEDED and unclaimed. Like `transition`'s finish it does not look at the
   * cancellation flag (a request whose every step succeeded has nothing left to cancel). Returns the events
   * written (none: the claim is lost).
   */
  async succeedAndFinish(
    requestId: string,
    workerId: string,
    succeeded: { change: Extract<StepChange, { kind: 'succeeded' }>; event: NewAuditEvent },
    finished: { finishedAt: Date; event: NewAuditEvent },
  ): Promise<WrittenEvent[]> {
    if (!permits('finish', 'RUNNING', 'SUCCEEDED'))
      throw new Error('finish to SUCCEEDED is not a lifecycle transition');
    const [done, end] = [succeeded.event, finished.event];
    const now = new Date();
    return this.prisma.prepared<WrittenEvent>(sql`/* prepared */
      WITH r AS (
        UPDATE onboarding_request SET event_seq = event_seq + 2, updated_at = ${now}::timestamptz,
          heartbeat_at = ${now}::timestamptz, status = 'SUCCEEDED', finished_at = ${finished.finishedAt}::timestamptz,
          claimed_by = NULL, error_code = NULL, error_message = NULL
        WHERE id = ${requestId}::uuid AND claimed_by = ${workerId}
        RETURNING event_seq, cancel_requested
      )${stepSql(requestId, succeeded.change)}, e AS (
        INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, step, data)
        SELECT ${requestId}::uuid, r.event_seq - 2 + v.k, ${done.actor}, v.action, ${done.cluster ?? null}::text,
          ${done.namespace ?? null}::text, v.target, v.step, v.data
        FROM r, (VALUES ${eventRow(1, done)}, ${eventRow(2, end)}) AS v(k, action, target, step, data)
        ORDER BY v.k
        RETURNING id, request_id, seq, actor, action, cluster, namespace, target, step, data, created_at
      )
      SELECT e.id, e.request_id AS "requestId", e.seq, e.actor, e.action, e.cluster, e.namespace, e.target, e.step,
        e.data, e.created_at AS "createdAt", r.cancel_requested AS "cancelRequested"
      FROM e, r ORDER BY e.seq`);
  }

  /**
   * The request and its step runs in position order: what a claim reads, in ONE statement (one round trip, one
   * snapshot, past Prisma's runtime) instead of a findUnique and, once claimed, a findMany. Reading the steps before
   * the claim is safe: every write to them (a worker's transition, a caller's cancel or retry) moves the request's
   * audit cursor, `event_seq`, which the claim's compare-and-swap checks, so a claim that succeeds saw the steps as
   * they are.
   */
  async load(requestId: string): Promise<{ request: OnboardingRequest; steps: StepRun[] } | undefined> {
    const rows = await this.prisma.prepared<Record<string, unknown>>(sql`/* prepared */
      SELECT ${LOAD_COLUMNS} FROM onboarding_request r LEFT JOIN step_run s ON s.request_id = r.id
       WHERE r.id = ${requestId}::uuid ORDER BY s.position`);
    if (rows.length === 0) return undefined;
    const pick = (row: Record<string, unknown>, prefix: string, fields: readonly (readonly [string, string])[]) =>
      Object.fromEntries(fields.map(([, field]) => [field, row[`${prefix}${field}`]]));
    return {
      request: pick(rows[0], 'r.', REQUEST_FIELDS) as unknown as OnboardingRequest,
      steps: rows
        .filter((row) => row['s.id'] !== null)
        .map((row) => pick(row, 's.', STEP_FIELDS) as unknown as StepRun),
    };
  }

  /**
   * What the step's earlier attempts of this request set out to write (their `step.applying` events, each the targets
   * of its plan): read when a step is resumed (a worker that died, a retried request), to know that the cluster may
   * have taken those writes although the resumed attempt finds nothing left to do.
   */
  async intents(requestId: string, step: string): Promise<Change['target'][]> {
    const rows = await this.prisma.$queryRaw<{ changes: unknown }[]>`
      SELECT data->'changes' AS changes FROM audit_event
       WHERE request_id = ${requestId}::uuid AND action = 'step.applying' AND step = ${step}`;
    return rows.flatMap(({ changes }) =>
      Array.isArray(changes) ? changes.flatMap((c: Partial<Change> | null) => (c?.target ? [c.target] : [])) : [],
    );
  }

  /** The claim's heartbeat: false when this worker no longer holds the claim (another took the request over). */
  async heartbeat(requestId: string, workerId: string): Promise<boolean> {
    const { count } = await this.prisma.onboardingRequest.updateMany({
      where: { id: requestId, claimedBy: workerId },
      data: { heartbeatAt: new Date() },
    });
    return count > 0;
  }

  /** Why a transition wrote nothing: who holds the claim now, and whether cancellation was asked for. */
  async state(requestId: string): Promise<{ claimedBy: string | null; cancelRequested: boolean } | undefined> {
    const rows = await this.prisma.$queryRaw<{ claimedBy: string | null; cancelRequested: boolean }[]>`
      SELECT claimed_by AS "claimedBy",
        cancel_requested AS "cancelRequested" FROM onboarding_request WHERE id = ${requestId}::uuid`;
    return rows[0];
  }

  private statement(sets: Prisma.Sql, where: Prisma.Sql, step: Prisma.Sql, e: NewAuditEvent): Prisma.Sql {
    // Prepared (PREPARED in database/prisma.service.ts): a dozen fixed texts (which columns a
    // transition sets, which step change), every value a parameter.
    return sql`/* prepared */
      WITH r AS (
        UPDATE onboarding_request SET ${sets} WHERE ${where}
        RETURNING event_seq, cancel_requested
      )${step}, e AS (
        INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, step, data)
        SELECT ${e.requestId}::uuid, r.event_seq, ${e.actor}, ${e.action}, ${e.cluster ?? null}::text,
          ${e.namespace ?? null}::text,
               ${e.target ?? null}::text, ${e.step ?? null}::text, ${JSON.stringify(e.data ?? {})}::jsonb
        FROM r
        RETURNING id, request_id, seq, actor, action, cluster, namespace, target, step, data, created_at
      )
      SELECT e.id, e.request_id AS "requestId", e.seq, e.actor, e.action, e.cluster, e.namespace, e.target, e.step,
        e.data,
             e.created_at AS "createdAt", r.cancel_requested AS "cancelRequested"
      FROM e, r`;
  }
}

/** The claim's column changes (all but the cursor's) and its compare-and-swap guard. */
function claimSql(requestId: string, workerId: string, expected: ClaimExpectation, now: Date) {
  return {
    sets: sql`status = 'RUNNING', claimed_by = ${workerId}, heartbeat_at = ${now}::timestamptz,
      started_at = ${expected.startedAt ?? now}::timestamptz, updated_at = ${now}::timestamptz`,
    // The lifecycle's claim guard (lifecycle/transitions.ts): never without every approval it needs.
    where: sql`id = ${requestId}::uuid AND status = ${expected.status}::"RequestStatus"
      AND event_seq = ${expected.eventSeq}::int AND approvals_given >= approvals_required
      AND claimed_by IS NOT DISTINCT FROM ${expected.claimedBy}::text
      AND heartbeat_at IS NOT DISTINCT FROM ${expected.heartbeatAt}::timestamptz`,
  };
}

/**
 * The tail of a two-event statement whose CTE `r` (the request's UPDATE) moved the cursor by 2, or by 1 when the
 * request's cancellation flag is set: a step's start (step run RUNNING, its attempt counted) unless that flag is
 * set, the `first` event (cursor n) and the start's event (n + 1, not written under the flag), and the SELECT of
 * the events written, in cursor order.
 */
function startAfter(requestId: string, first: NewAuditEvent, started: StepStart): Prisma.Sql {
  const [start, next] = [started.event, started.change];
  return sql`, n AS (
        UPDATE step_run SET status = 'RUNNING', attempts = ${next.attempts}::int,
          started_at = ${next.startedAt}::timestamptz, error_code = NULL, error_message = NULL
        FROM r WHERE step_run.id = ${next.stepId}::uuid AND NOT r.cancel_requested RETURNING step_run.id
      ), e AS (
        INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, step, data)
        SELECT ${requestId}::uuid, r.event_seq - CASE WHEN r.cancel_requested THEN 0 ELSE 2 - v.k END,
          ${first.actor}, v.action, ${first.cluster ?? null}::text, ${first.namespace ?? null}::text, v.target,
          v.step, v.data
        FROM r, (VALUES ${eventRow(1, first)}, ${eventRow(2, start)}) AS v(k, action, target, step, data)
        WHERE v.k = 1 OR NOT r.cancel_requested
        ORDER BY v.k
        RETURNING id, request_id, seq, actor, action, cluster, namespace, target, step, data, created_at
      )
      SELECT e.id, e.request_id AS "requestId", e.seq, e.actor, e.action, e.cluster, e.namespace, e.target, e.step,
        e.data, e.created_at AS "createdAt", r.cancel_requested AS "cancelRequested"
      FROM e, r ORDER BY e.seq`;
}

/** One audit event of a two-event statement, as a VALUES row (k: its order). */
function eventRow(k: number, e: NewAuditEvent): Prisma.Sql {
  return sql`(${k}::int, ${e.action}::text, ${e.target ?? null}::text, ${e.step ?? null}::text,
    ${JSON.stringify(e.data ?? {})}::jsonb)`;
}

/** The step-run UPDATE as a CTE joined to `r`: it runs only when the fenced request UPDATE did. */
function stepSql(requestId: string, s: StepChange | undefined): Prisma.Sql {
  if (!s) return empty;
  switch (s.kind) {
    case 'started':
      return sql`, s AS (
        UPDATE step_run SET status = 'RUNNING', attempts = ${s.attempts}::int,
          started_at = ${s.startedAt}::timestamptz, error_code = NULL, error_message = NULL
        FROM r WHERE step_run.id = ${s.stepId}::uuid RETURNING step_run.id)`;
    case 'succeeded':
      return sql`, s AS (
        UPDATE step_run SET status = 'SUCCEEDED', result = ${s.result}::"StepResult",
               before = COALESCE(${jsonOrKeep(s.before)}::jsonb, step_run.before),
                 after = COALESCE(${jsonOrKeep(s.after)}::jsonb, step_run.after),
               output = ${JSON.stringify(s.output)}::jsonb, finished_at = ${s.finishedAt}::timestamptz,
                 duration_ms = ${s.durationMs}::int
        FROM r WHERE step_run.id = ${s.stepId}::uuid RETURNING step_run.id)`;
    case 'failed':
      return sql`, s AS (
        UPDATE step_run SET status = 'FAILED', error_code = ${s.errorCode}::text,
          error_message = ${s.errorMessage}::text,
               output = ${JSON.stringify(s.output)}::jsonb, finished_at = ${s.finishedAt}::timestamptz,
                 duration_ms = ${s.durationMs}::int
        FROM r WHERE step_run.id = ${s.stepId}::uuid RETURNING step_run.id)`;
    case 'cancel-open':
      return sql`, s AS (
        UPDATE step_run SET status = 'CANCELLED'
        FROM r WHERE step_run.request_id = ${requestId}::uuid AND step_run.status IN ('PENDING',
          'RUNNING') RETURNING step_run.id)`;
  }
}
