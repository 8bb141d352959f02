// The request lifecycle: every status a request can have, every allowed change, who takes it, its
// guard and the audit events it writes. One table, used three ways: the executors
// (request-lifecycle.ts for callers, run-store.ts for workers) decide from it, the database enforces
// the same pairs (migration 20261203100000_request_lifecycle: onboarding_request_transition_allowed and
// the lifecycle trigger, checked against this table by test/integration/lifecycle.spec.ts), and the
// lifecycle table in docs/governance.md is this one. Pure: no I/O.
import type { RequestStatus } from '../../generated/prisma/client.js';

export type TransitionName =
  | 'create'
  | 'apply'
  | 'approve'
  | 'reject'
  | 'cancel'
  | 'request-cancel'
  | 'retry'
  | 'hold'
  | 'claim'
  | 'finish'
  | 'release';

export interface TransitionSpec {
  /** Who takes it: the role the caller needs, or the worker. */
  by: 'requester' | 'approver' | 'worker';
  /** null: the request does not exist yet. */
  from: readonly (RequestStatus | null)[];
  to: readonly RequestStatus[];
  /** What must hold, in words (the code and the database check it). */
  guard: string;
  /** The audit actions it writes (one per transition). */
  audit: readonly string[];
}

export const TRANSITIONS: Record<TransitionName, TransitionSpec> = {
  create: {
    by: 'requester',
    from: [null],
    to: ['PLANNED', 'PENDING_APPROVAL', 'QUEUED'],
    guard: 'PLANNED for a dry run; QUEUED only when no approval is needed',
    audit: ['request.created', 'request.planned'],
  },
  apply: {
    by: 'requester',
    from: ['PLANNED'],
    to: ['PENDING_APPROVAL', 'QUEUED'],
    guard:
      'QUEUED only with every approval it needs, the approval need computed again for the caller who applies ' +
      'it (never lower); not one who approved it',
    audit: ['request.queued', 'request.pending-approval'],
  },
  approve: {
    by: 'approver',
    from: ['PENDING_APPROVAL'],
    to: ['PENDING_APPROVAL', 'QUEUED'],
    guard:
      'not one who put it forward (created, applied or retried it); one decision per approver; a mesh grant when ' +
      'the request changes the mesh; QUEUED at the N-th distinct approval',
    audit: ['approval.recorded', 'request.approved'],
  },
  reject: {
    by: 'approver',
    from: ['PENDING_APPROVAL'],
    to: ['REJECTED'],
    guard: 'as approve; one rejection ends the request',
    audit: ['request.rejected'],
  },
  cancel: {
    by: 'requester',
    from: ['PLANNED', 'PENDING_APPROVAL', 'QUEUED'],
    to: ['CANCELLED'],
    guard: 'not started yet: ends at once',
    audit: ['request.cancelled'],
  },
  'request-cancel': {
    by: 'requester',
    from: ['RUNNING'],
    to: ['RUNNING'],
    guard: 'sets the cancellation flag once; the worker stops before its next step or attempt (finish → CANCELLED)',
    audit: ['request.cancel-requested'],
  },
  retry: {
    by: 'requester',
    from: ['FAILED', 'CANCELLED'],
    to: ['PLANNED', 'PENDING_APPROVAL', 'QUEUED'],
    guard:
      'PLANNED for a dry run never applied; PENDING_APPROVAL while approvals are missing (those given stay ' +
      'counted; the need is computed again for the caller who retries, never lower); not one who approved it; ' +
      'otherwise QUEUED, resuming at the first unfinished step',
    audit: ['request.retried'],
  },
  hold: {
    by: 'worker',
    from: ['QUEUED'],
    to: ['PENDING_APPROVAL'],
    guard:
      'instead of the claim, when the policy in force asks more approvals than it has (its need raised, never ' +
      'lower) or refuses it (MESH_WIDE_CHANGES=refuse for a mesh-wide change put forward without a grant); ' +
      'compare-and-swap as the claim',
    audit: ['request.held'],
  },
  claim: {
    by: 'worker',
    from: ['QUEUED', 'RUNNING'],
    to: ['RUNNING'],
    guard:
      'compare-and-swap on status and claim; a RUNNING one only when its heartbeat is stale (resume after a ' +
      'crash); every approval it needs',
    audit: ['request.started', 'request.resumed'],
  },
  finish: {
    by: 'worker',
    from: ['RUNNING'],
    to: ['SUCCEEDED', 'FAILED', 'CANCELLED'],
    guard: 'fenced: only the worker holding the claim',
    audit: ['request.succeeded', 'request.failed', 'request.cancelled'],
  },
  release: {
    by: 'worker',
    from: ['RUNNING'],
    to: ['QUEUED'],
    guard: 'fenced; on shutdown, between steps',
    audit: ['request.released'],
  },
};

/** Statuses a request can be in before it ends; cancellable at once. */
export const WAITING: readonly RequestStatus[] = TRANSITIONS.cancel.from.filter((s): s is RequestStatus => s !== null);

/** Every allowed status change (from → to, from null = a new row), self-loops left out. */
export function allowedChanges(): [RequestStatus | null, RequestStatus][] {
  const pairs: [RequestStatus | null, RequestStatus][] = [];
  for (const t of Object.values(TRANSITIONS)) {
    for (const from of t.from) {
      for (const to of t.to) {
        if (from !== to && !pairs.some(([f, s]) => f === from && s === to)) pairs.push([from, to]);
      }
    }
  }
  return pairs;
}

/** The facts of a request that decide where a transition takes it. */
export interface LifecycleFacts {
  status: RequestStatus;
  approvalsRequired: number;
  approvalsGiven: number;
  dryRun: boolean;
  appliedAt: Date | null;
}

const approved = (r: LifecycleFacts, extra = 0) => r.approvalsGiven + extra >= r.approvalsRequired;

/** A new request: PLANNED (dry run), PENDING_APPROVAL (approvals needed) or QUEUED. */
export const createTarget = (dryRun: boolean, approvalsRequired: number): RequestStatus =>
  dryRun ? 'PLANNED' : approvalsRequired > 0 ? 'PENDING_APPROVAL' : 'QUEUED';

/** Applying a plan: queued only when every approval is there. */
export const applyTarget = (r: LifecycleFacts): RequestStatus => (approved(r) ? 'QUEUED' : 'PENDING_APPROVAL');

/** One more distinct approval: queued at the N-th. */
export const approveTarget = (r: LifecycleFacts): RequestStatus => (approved(r, 1) ? 'QUEUED' : 'PENDING_APPROVAL');

/** A retry goes back to where the request would wait, never past a missing approval. */
export function retryTarget(r: LifecycleFacts): RequestStatus {
  if (r.dryRun && r.appliedAt === null) return 'PLANNED';
  return approved(r) ? 'QUEUED' : 'PENDING_APPROVAL';
}

/** Whether `to` is a status `name` may move a request in `from` to. */
export function permits(name: TransitionName, from: RequestStatus | null, to: RequestStatus): boolean {
  const t = TRANSITIONS[name];
  return t.from.includes(from) && t.to.includes(to);
}
