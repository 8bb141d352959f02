// Executes the callers' transitions of the request lifecycle (transitions.ts): apply, approve, reject,
// cancel, request-cancel and retry. Each is ONE guarded SQL statement that changes the request row,
// its step runs and (for approve/reject) the approval row, and appends the audit event, all from the
// row the guarded UPDATE returned: when the guard fails nothing is written. After commit it publishes
// the progress event, counts the metric and enqueues (QUEUED) or drops the job (CANCELLED).
// Authorization (roles, scopes, self-approval, mesh grant) is the callers'; a caller's check that depends on the
// request (who submitted or approved it) runs here on the very row the guarded write is decided from (a
// `Check`), so a concurrent cancel → retry cannot slip between the check and the write. The state rules are here
// and, as the last line, in the database's lifecycle trigger. The worker's transitions (claim,
// finish, release) are run-store.ts's, fenced by the claim.
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import pg from 'pg';
import { Prisma } from '../../generated/prisma/client.js';
import type { AuditEvent, RequestStatus } from '../../generated/prisma/client.js';
import { DomainError, type ErrorCode, isOurId, shownId } from '../../common/domain-error.js';
import { PrismaService } from '../../database/prisma.service.js';
import { EventBus } from '../../events/event-bus.service.js';
import { toProgressEvent } from '../../events/progress-event.js';
import { MetricsService } from '../../observability/metrics.service.js';
import { QueueService } from '../../queue/queue.service.js';
import { ACTIVE_TARGET_INDEX, OnboardingRepository } from '../onboarding.repository.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import type { RequestWithSteps } from '../onboarding.repository.js';
import { raisedNeed } from '../approval-policy.js';
import {
  applyTarget,
  approveTarget,
  permits,
  retryTarget,
  TRANSITIONS,
  WAITING,
  type TransitionName,
} from './transitions.js';

const { sql, empty } = Prisma;

/** Who takes a transition: an actor id, for the audit trail and the approval row. */
export interface By {
  id: string;
}

/**
 * A caller's check of the request as read for this decision (it throws to refuse); it runs again on every
 * re-read, and the write is guarded by the event cursor of the row it checked.
 */
export type Check = (request: RequestWithSteps) => Promise<void> | void;

/**
 * What (re)submitting a stored request (apply, retry) needs from the caller who submits it: the approvals the
 * approval policy asks of THAT caller now (their mesh grant, the policy in force), never fewer than the request
 * already needs, and the caller's own check.
 */
export interface Submission {
  approvals: number;
  rule: string | null;
  check?: Check;
}

/** The audit actions of the transitions that put a request forward: creating it, applying its plan, retrying it. */
export const SUBMITTING_ACTIONS: readonly string[] = [
  ...TRANSITIONS.create.audit,
  ...TRANSITIONS.apply.audit,
  ...TRANSITIONS.retry.audit,
];

/** How a transition's UPDATE is guarded besides its allowed `from` statuses. */
type Guard =
  /** Compare-and-swap on the event cursor: nothing changed since the row the decision read. */
  | { kind: 'seen'; eventSeq: number }
  /** Only the statuses (the decision read nothing else). */
  | { kind: 'status' };

interface Write {
  name: TransitionName;
  request: RequestWithSteps;
  from: readonly RequestStatus[];
  to: RequestStatus;
  guard: Guard;
  /** Other columns it sets (besides status, event cursor, timestamps). */
  sets?: Prisma.Sql;
  /** Step runs in these statuses become `stepsTo`. */
  steps?: { from: string[]; to: 'PENDING' | 'CANCELLED' };
  approval?: { approver: string; decision: 'approve' | 'reject'; reason: string | null };
  by: By;
  action: string;
  data: Record<string, unknown>;
}

/** Compare-and-swap attempts before a busy request gives up (each re-reads and re-decides). */
const MAX_ATTEMPTS = 8;

@Injectable()
export class RequestLifecycle {
  private readonly logger = new Logger(RequestLifecycle.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly requests: OnboardingRepository,
    private readonly bus: EventBus,
    private readonly queue: QueueService,
    private readonly metrics: MetricsService,
  ) {}

  /** PLANNED → PENDING_APPROVAL | QUEUED. */
  apply(id: string, by: By, submission: Submission): Promise<RequestWithSteps> {
    return this.decide(
      id,
      'REQUEST_NOT_PLANNED',
      (loaded) => {
        const { r, raised } = needing(loaded, submission);
        const to = applyTarget(r);
        const waiting = to === 'PENDING_APPROVAL';
        return {
          name: 'apply',
          to,
          sets: raised ? sql`applied_at = now(), ${raised}` : sql`applied_at = now()`,
          action: waiting ? 'request.pending-approval' : 'request.queued',
          data: {
            message:
              `planned request applied by ${by.id}` +
              (waiting
                ? `; waits for ${r.approvalsRequired - r.approvalsGiven} more approval(s) (rule ${r.approvalRule})`
                : ''),
            status: to,
            approvals: r.approvalsGiven,
            required: r.approvalsRequired,
          },
        };
      },
      { by, check: submission.check },
    );
  }

  /**
   * PENDING_APPROVAL → PENDING_APPROVAL (one more approval) | QUEUED (the N-th). `need`: what the policy in force
   * asks of the request now; its approvals required are raised to it first (never lowered).
   */
  approve(
    id: string,
    by: By,
    { comment, check, need }: { comment: string | null; check?: Check; need?: Pick<Submission, 'approvals' | 'rule'> },
  ): Promise<RequestWithSteps> {
    return this.decide(
      id,
      'REQUEST_NOT_PENDING_APPROVAL',
      (loaded) => {
        const { r, raised } = need ? needing(loaded, need) : { r: loaded, raised: undefined };
        const to = approveTarget(r);
        const approvals = r.approvalsGiven + 1;
        const count = `${approvals}/${r.approvalsRequired}`;
        return {
          name: 'approve',
          to,
          sets: raised
            ? sql`approvals_given = approvals_given + 1, ${raised}`
            : sql`approvals_given = approvals_given + 1`,
          approval: { approver: by.id, decision: 'approve', reason: comment },
          action: to === 'QUEUED' ? 'request.approved' : 'approval.recorded',
          data: {
            message:
              to === 'QUEUED' ? `approved (${count}, last by ${by.id}); queued` : `approved by ${by.id} (${count})`,
            approvals,
            required: r.approvalsRequired,
            comment,
            ...(to === 'QUEUED' ? { status: to } : {}),
          },
        };
      },
      { by, check },
    );
  }

  /** PENDING_APPROVAL → REJECTED. */
  reject(id: string, by: By, reason: string, check?: Check): Promise<RequestWithSteps> {
    return this.decide(
      id,
      'REQUEST_NOT_PENDING_APPROVAL',
      () => ({
        name: 'reject',
        to: 'REJECTED',
        sets: sql`finished_at = now(), error_code = 'REJECTED',
                  error_message = ${`rejected by ${by.id}: ${reason}`}::text`,
        steps: { from: ['PENDING'], to: 'CANCELLED' },
        approval: { approver: by.id, decision: 'reject', reason },
        action: 'request.rejected',
        data: { message: `rejected by ${by.id}: ${reason}`, reason, status: 'REJECTED' },
      }),
      { by, check },
    );
  }

  /**
   * A waiting request (PLANNED, PENDING_APPROVAL, QUEUED) ends at once; a RUNNING one is flagged and
   * stops before its next step or attempt. Cancelling a flagged RUNNING request again answers it unchanged.
   */
  cancel(id: string, by: By, reason: string | null): Promise<RequestWithSteps> {
    return this.cancelDecided(id, by, reason, 0);
  }

  /** `cancel`, decided afresh when the request moved between its read and its write (`decided`: times so far). */
  private async cancelDecided(id: string, by: By, reason: string | null, decided: number): Promise<RequestWithSteps> {
    const request = await this.load(id);
    if (WAITING.includes(request.status)) {
      const event = await this.write({
        name: 'cancel',
        request,
        from: WAITING,
        to: 'CANCELLED',
        guard: { kind: 'status' },
        sets: sql`finished_at = now(), cancel_requested = true, error_code = 'CANCELLED',
                  error_message = ${reason ?? 'cancelled'}::text`,
        steps: { from: ['PENDING'], to: 'CANCELLED' },
        by,
        action: 'request.cancelled',
        data: { message: `cancelled by ${by.id} before it started`, reason, status: 'CANCELLED' },
      });
      if (event) return this.after(request, 'CANCELLED', event);
    } else if (request.status === 'RUNNING' && !request.cancelRequested) {
      const event = await this.write({
        name: 'request-cancel',
        request,
        from: ['RUNNING'],
        to: 'RUNNING',
        guard: { kind: 'status' },
        sets: sql`cancel_requested = true`,
        by,
        action: 'request.cancel-requested',
        data: { message: `cancellation requested by ${by.id}; stops before the next step`, reason },
      });
      if (event) return this.after(request, 'RUNNING', event);
    }
    const current = await this.load(id);
    // Flagged: by this call's write, by an earlier cancel, or by one that raced it. A RUNNING request that is not
    // flagged was claimed (or retried and claimed) between the read and the write: it is decided again, so the
    // cancellation is never answered "RUNNING" without its flag and its audit event.
    if (current.status === 'RUNNING' && current.cancelRequested) return current;
    const moved = current.status !== request.status || current.status === 'RUNNING';
    if (!moved) throw new DomainError('REQUEST_NOT_CANCELLABLE', `request ${id} is ${current.status}`, { field: 'id' });
    if (decided + 1 < MAX_ATTEMPTS) return this.cancelDecided(id, by, reason, decided + 1);
    throw new DomainError('REQUEST_CONFLICT', `request ${id} kept changing; try again`, { field: 'id' });
  }

  /** FAILED | CANCELLED → PLANNED | PENDING_APPROVAL | QUEUED, as a new attempt from the first unfinished step. */
  retry(id: string, by: By, submission: Submission): Promise<RequestWithSteps> {
    return this.decide(
      id,
      'REQUEST_NOT_RETRYABLE',
      (loaded) => {
        const { r, raised } = needing(loaded, submission);
        const to = retryTarget(r);
        const from = r.steps.find((s) => s.status !== 'SUCCEEDED' && s.status !== 'SKIPPED')?.name ?? null;
        const waiting =
          to === 'PENDING_APPROVAL' ? `; waits for ${r.approvalsRequired - r.approvalsGiven} more approval(s)` : '';
        return {
          name: 'retry',
          to,
          sets: sql`attempt = attempt + 1, cancel_requested = false, error_code = NULL, error_message = NULL,
                  finished_at = NULL, claimed_by = NULL, heartbeat_at = NULL${raised ? sql`, ${raised}` : empty}`,
          steps: { from: ['FAILED', 'CANCELLED', 'RUNNING'], to: 'PENDING' },
          action: 'request.retried',
          data: {
            message:
              `attempt ${r.attempt + 1} requested by ${by.id}` +
              (to === 'PLANNED' ? '; the plan waits to be applied' : from ? `, resuming at step ${from}` : '') +
              waiting,
            attempt: r.attempt + 1,
            fromStep: from,
            status: to,
            approvals: r.approvalsGiven,
            required: r.approvalsRequired,
          },
        };
      },
      { by, check: submission.check },
    );
  }

  /**
   * Whether the request's audit trail still begins with its first event (seq 1). Retention drops whole months of
   * events once their requests have finished (AUDIT_RETENTION_DAYS), and may keep the request row longer
   * (REQUEST_RETENTION_DAYS): without its trail, who submitted it cannot be told (submittedBy).
   */
  async trailWhole(requestId: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<unknown[]>`
      SELECT 1 FROM audit_event WHERE request_id = ${requestId}::uuid AND seq = 1 LIMIT 1`;
    return rows.length > 0;
  }

  /**
   * Whether `actor` put the request forward: created it, applied its plan or retried it (its audit trail says who
   * took those transitions). Such a caller never approves or rejects it. Only asked of a request whose trail is
   * whole: a request whose trail retention removed is never put forward again (OnboardingService.retry).
   */
  async submittedBy(requestId: string, actor: string): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<unknown[]>`
      SELECT 1 FROM audit_event
      WHERE request_id = ${requestId}::uuid AND actor = ${actor} AND action = ANY(${[...SUBMITTING_ACTIONS]}::text[])
      LIMIT 1`;
    return rows.length > 0;
  }

  /**
   * Reads the request, decides its target from what it read, and writes with a compare-and-swap on
   * the event cursor; a concurrent change (another approver, the worker) makes it read and decide again.
   */
  private async decide(
    id: string,
    notAllowed: ErrorCode,
    decision: (r: RequestWithSteps) => Omit<Write, 'request' | 'from' | 'guard' | 'by'>,
    { by, check }: { by: By; check?: Check },
  ): Promise<RequestWithSteps> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const request = await this.load(id);
      const d = decision(request);
      const from = TRANSITIONS[d.name].from.filter((s): s is RequestStatus => s !== null);
      if (!from.includes(request.status)) {
        throw new DomainError(notAllowed, `request ${id} is ${request.status}; ${d.name} needs ${from.join(' or ')}`, {
          field: 'id',
          details: { status: request.status },
        });
      }
      await check?.(request);
      const event = await this.write({ ...d, request, from, guard: { kind: 'seen', eventSeq: request.eventSeq }, by });
      if (event) return this.after(request, d.to, event);
    }
    throw new DomainError('REQUEST_CONFLICT', `request ${id} kept changing; try again`, { field: 'id' });
  }

  /** One statement: the guarded UPDATE, then (from its row only) approval, step runs and audit event. */
  private async write(w: Write): Promise<AuditEvent | undefined> {
    if (!permits(w.name, w.request.status, w.to)) {
      throw new Error(`${w.name}: ${w.request.status} → ${w.to} is not in the lifecycle table`);
    }
    const guard = w.guard.kind === 'seen' ? sql`AND event_seq = ${w.guard.eventSeq}::int` : empty;
    const approval = w.approval
      ? sql`, a AS (
          INSERT INTO approval (id, request_id, approver, decision, reason)
          SELECT ${randomUUID()}::uuid, r.id, ${w.approval.approver}, ${w.approval.decision}, ${w.approval.reason}::text
          FROM r
          RETURNING id)`
      : empty;
    const steps = w.steps
      ? sql`, s AS (
          UPDATE step_run SET status = ${w.steps.to}::"StepStatus" FROM r
          WHERE step_run.request_id = r.id AND step_run.status::text = ANY(${w.steps.from}::text[])
          RETURNING step_run.id)`
      : empty;
    const r = w.request;
    try {
      const rows = await this.prisma.$queryRaw<AuditEvent[]>`
        WITH r AS (
          UPDATE onboarding_request
          SET status = ${w.to}::"RequestStatus", event_seq = event_seq + 1, updated_at = now()
              ${w.sets ? sql`, ${w.sets}` : empty}
          WHERE id = ${r.id}::uuid AND status::text = ANY(${[...w.from]}::text[]) ${guard}
          RETURNING id, event_seq
        )${approval}${steps}
        INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, data)
        SELECT r.id, r.event_seq, ${w.by.id}, ${w.action}, ${r.cluster}, ${r.namespace}, ${`namespaces/${r.namespace}`},
               ${JSON.stringify(w.data)}::jsonb
        FROM r
        RETURNING id, request_id AS "requestId", seq, actor, action, cluster, namespace, target, step, data,
                  created_at AS "createdAt"`;
      return rows[0];
    } catch (err) {
      throw await this.translate(err, w);
    }
  }

  private async translate(err: unknown, w: Write): Promise<unknown> {
    if (isUniqueViolation(err, ACTIVE_TARGET_INDEX)) {
      const active = await this.requests.findActive(w.request.cluster, w.request.namespace);
      return new DomainError(
        'REQUEST_CONFLICT',
        `namespace ${w.request.cluster}/${w.request.namespace} already has an active request` +
          (active ? ` (${active.id})` : ''),
        { field: 'namespace', details: { activeRequestId: active?.id ?? null } },
      );
    }
    if (w.approval && isUniqueViolation(err)) {
      return new DomainError('ALREADY_DECIDED', `${w.approval.approver} already decided on request ${w.request.id}`, {
        field: 'id',
      });
    }
    if (isLifecycleViolation(err)) {
      // The database refused what the code allowed: a bug, but never a state the lifecycle forbids.
      this.logger.error(`lifecycle trigger refused ${w.name} of ${w.request.id} (${w.request.status} → ${w.to})`);
      return new DomainError('LIFECYCLE_VIOLATION', `request ${w.request.id}: ${w.name} is not allowed now`, {
        field: 'id',
      });
    }
    return err;
  }

  /** After commit: the progress event, the metric, the queue. */
  private async after(request: RequestWithSteps, to: RequestStatus, event: AuditEvent): Promise<RequestWithSteps> {
    await this.bus.publish([toProgressEvent(event)]);
    if (to !== request.status) this.metrics.requests.inc({ kind: request.kind, status: to });
    if (to === 'QUEUED') await this.enqueue(request.id, request.cluster);
    if (to === 'CANCELLED') await this.queue.remove(request.id).catch(() => undefined);
    return this.load(request.id);
  }

  /** Enqueue after commit; if Redis is away the sweeper enqueues it later from Postgres. */
  async enqueue(id: string, cluster?: string): Promise<void> {
    try {
      await this.queue.enqueue(id, { cluster });
    } catch (err) {
      this.logger.warn(`request ${id} stored but not enqueued yet: ${(err as Error).message}`);
    }
  }

  private async load(id: string): Promise<RequestWithSteps> {
    const request = isOurId(id) ? await this.requests.findById(id) : null;
    if (!request)
      throw new DomainError('REQUEST_NOT_FOUND', `onboarding request ${shownId(id)} not found`, { field: 'id' });
    return request;
  }
}

/**
 * The request as a submission sees it: its approvals required raised to what the submitter's need is (never
 * lowered: the trigger refuses that too), and the SET clause that stores the change (undefined: none). Once a
 * submitter without a mesh grant has put it forward, its rule names the built-in rule for good, raised or not: an
 * approval under a tightened MESH_WIDE_CHANGES or MESH_WIDE_APPROVALS reads it (OnboardingService.currentNeed).
 */
function needing(
  r: RequestWithSteps,
  s: Pick<Submission, 'approvals' | 'rule'>,
): { r: RequestWithSteps; raised?: Prisma.Sql } {
  const { approvals, rule } = raisedNeed(r, s);
  if (approvals === r.approvalsRequired && rule === r.approvalRule) return { r };
  return {
    r: { ...r, approvalsRequired: approvals, approvalRule: rule },
    raised: sql`approvals_required = ${approvals}::int, approval_rule = ${rule}::text`,
  };
}

/** SQLSTATE 23514 raised by the lifecycle trigger (migration 20261203100000_request_lifecycle). */
export function isLifecycleViolation(err: unknown): boolean {
  // pg's own error: a PREPARED statement run past Prisma's runtime (PrismaService.prepared).
  if (err instanceof pg.DatabaseError) return err.code === '23514';
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return false;
  return (
    JSON.stringify(err.meta ?? {}).includes('23514') ||
    err.message.includes('request lifecycle') ||
    err.message.includes('approval(s), has')
  );
}
