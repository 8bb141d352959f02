// Owns onboarding and offboarding requests as callers make them: validating and storing new ones (single and in
// batches, idempotency keys, dry runs), plans, the approval need (with the approval policy), apply, retry, cancel,
// reads and audit pages. The lifecycle's guarded transitions are RequestLifecycle's; running them is the worker's.
import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { IdempotencyKey } from '../common/idempotency-key.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { approvalNeed, type NeedFacts, readsRestartCoverage, submittedWithoutGrant } from './approval-policy.js';
import { meshWideChanges } from '../mesh/mesh-wide.js';
import pg from 'pg';
import {
  Prisma,
  type AuditEvent,
  type OnboardingRequest,
  type RequestKind,
  type RequestStatus,
  type StepRun,
} from '../generated/prisma/client.js';
import { DomainError, isOurId } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { toProgressEvent } from '../events/progress-event.js';
import { MetricsService } from '../observability/metrics.service.js';
import { currentOrigin } from '../observability/log-context.js';
import type { Actor } from '../auth/actor.js';
import {
  assertRequestInScope,
  assertRole,
  assertScope,
  hasMeshGrant,
  hasRole,
  requestNotFound,
} from '../auth/scopes.js';
import { ACTIVE_TARGET_INDEX, OnboardingRepository, RequestFilter, RequestWithSteps } from './onboarding.repository.js';
import { isUniqueViolation } from '../common/unique-violation.js';
import { ListCursors } from './list-cursors.js';
import { OnboardingPlan, PlannerService } from './planner.service.js';
import type { ReadShare } from '../kubernetes/read-share.js';
import { type Authorization, NormalizedRequest, RequestValidator } from './request-validator.js';
import { plannedSteps } from './steps/step-registry.js';
import { RequestLifecycle, type Submission } from './lifecycle/request-lifecycle.js';
import type { RequestOptions } from './onboarding.input.js';
import { createTarget } from './lifecycle/transitions.js';
import { mapBounded } from '../common/map-bounded.js';

/**
 * Creating and planning need the requester role (checked before the cluster is looked up) and the target in scope.
 */
const requester = (actor: Actor): Authorization =>
  Object.assign((req: NormalizedRequest) => assertScope(actor, req.cluster, req.namespace), {
    role: () => assertRole(actor, 'requester'),
  });

/** What submitting a planned request would need (shown by plan and dry run). */
export interface PlanApproval {
  meshWideChanges: string[];
  meshGrant: boolean;
  outcome: 'allowed' | 'needs-approval' | 'forbidden';
  approvalsRequired: number;
  rule: string | null;
}

export type PlanWithApproval = OnboardingPlan & { approval: PlanApproval };

export interface CreateResult {
  request: RequestWithSteps;
  /** True when an Idempotency-Key matched an earlier identical request. */
  replayed: boolean;
}

/**
 * How many targets of one batch read the cluster at once (its plans, a dry-run batch's drafts): a 500-target batch
 * does not put all its calls at once in the cluster's call budget (rate-limiter.ts, a FIFO queue per process) ahead
 * of every other caller's.
 */
export const BATCH_READ_CONCURRENCY = 4;

/** A request's audit trail is read a page at a time: this many events unless the caller asks for fewer or more. */
export const AUDIT_PAGE = 1000;
export const MAX_AUDIT_PAGE = 10_000;

/** Which page of a request's audit trail: the events after cursor `after` (0: from the start), at most `limit`. */
export interface AuditPage {
  after?: number;
  limit?: number;
}

/** Accepts onboarding/offboarding requests: validate, record with the first audit event, then enqueue. */
@Injectable()
export class OnboardingService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly requests: OnboardingRepository,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    private readonly validator: RequestValidator,
    private readonly planner: PlannerService,
    private readonly metrics: MetricsService,
    private readonly lifecycle: RequestLifecycle,
    private readonly cursors: ListCursors,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * `recorded`: for a caller that records more of a new request's story (a re-apply's origin), run after the request
   * is stored and before it is enqueued, so that its events come before the worker's claim (which would otherwise
   * find the request changed and leave it to the sweeper); the events it answers are published after the first.
   */
  async requestOnboarding(
    input: unknown,
    actor: Actor,
    key?: IdempotencyKey,
    recorded?: (request: RequestWithSteps) => Promise<AuditEvent[]>,
  ): Promise<CreateResult> {
    return this.create(
      await this.validator.validate('ONBOARD', input, this.authorizeCreate(actor)),
      actor,
      key,
      recorded,
    );
  }

  async requestOffboarding(input: unknown, actor: Actor, key?: IdempotencyKey): Promise<CreateResult> {
    return this.create(await this.validator.validate('OFFBOARD', input, this.authorizeCreate(actor)), actor, key);
  }

  /** Plan only: nothing is stored, nothing is written to the cluster. Says what submitting it would need. */
  async plan(kind: RequestKind, input: unknown, actor: Actor): Promise<PlanWithApproval> {
    return this.planNormalized(await this.validator.validate(kind, input, this.authorizePlan(actor)), actor);
  }

  /**
   * The plans of a batch's validated targets, in their order. The kinds every plan lists are read cluster-wide once
   * where that takes fewer calls (PlannerService.sharedReads); then a few plans at a time: each plan's calls wait in
   * the cluster's shared budget, behind whatever is already queued.
   */
  async planMany(targets: NormalizedRequest[], actor: Actor): Promise<PlanWithApproval[]> {
    const reads = await this.planner.sharedReads(targets);
    return mapBounded(targets, (t) => this.planNormalized(t, actor, reads), BATCH_READ_CONCURRENCY);
  }

  /** The plan of an already validated request; `reads`: shared with other plans (planMany). */
  async planNormalized(req: NormalizedRequest, actor: Actor, reads?: ReadShare): Promise<PlanWithApproval> {
    const [plan, facts] = await Promise.all([this.planner.plan(req, { reads }), this.needFacts(req)]);
    return { ...plan, approval: this.planApproval(req, actor, facts) };
  }

  /**
   * What the approval policy in force (APPROVAL_POLICY, MESH_WIDE_CHANGES) asks of a stored request now, for its
   * submitter's mesh grant as recorded (approval-policy.ts, submittedWithoutGrant): an approval applies a policy
   * tightened since the request was put forward. Refuses (MESH_WIDE_CHANGE_FORBIDDEN) what the policy now refuses.
   */
  async currentNeed(request: OnboardingRequest): Promise<Pick<Submission, 'approvals' | 'rule'>> {
    const req = { ...request, options: request.options as unknown as RequestOptions };
    const grant = !submittedWithoutGrant(request.approvalRule);
    const facts = await this.needFacts(req);
    return approvalNeed(this.config.approvalPolicy, this.config.meshWide, req, { meshGrant: grant, facts });
  }

  /**
   * The approval a request needs, with the caller's mesh grant; refuses (403, nothing stored) a
   * mesh-wide change without one when MESH_WIDE_CHANGES=refuse. `facts`: needFacts, for the rules that read them.
   */
  private approvalNeed(
    req: NormalizedRequest,
    actor: Actor,
    { grant = hasMeshGrant(actor, req.cluster, req.meshName), facts = {} }: { grant?: boolean; facts?: NeedFacts } = {},
  ) {
    return approvalNeed(this.config.approvalPolicy, this.config.meshWide, req, { meshGrant: grant, facts });
  }

  /** The cluster facts the policy's rules read for this request (approval-policy.ts, NeedFacts); none usually. */
  private async needFacts(req: Pick<NormalizedRequest, 'cluster' | 'namespace' | 'options'>): Promise<NeedFacts> {
    if (!readsRestartCoverage(this.config.approvalPolicy, req.options)) return {};
    return { selectedCoversAll: await this.validator.selectedCoversAll(req) };
  }

  private planApproval(req: NormalizedRequest, actor: Actor, facts: NeedFacts): PlanApproval {
    const meshGrant = hasMeshGrant(actor, req.cluster, req.meshName);
    try {
      const need = this.approvalNeed(req, actor, { grant: meshGrant, facts });
      return {
        meshWideChanges: need.meshWideChanges,
        meshGrant,
        outcome: need.approvals > 0 ? 'needs-approval' : 'allowed',
        approvalsRequired: need.approvals,
        rule: need.rule,
      };
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'MESH_WIDE_CHANGE_FORBIDDEN') throw err;
      const changes = meshWideChanges(req.kind, req.options);
      return { meshWideChanges: changes, meshGrant, outcome: 'forbidden', approvalsRequired: 0, rule: null };
    }
  }

  /**
   * Creating needs the requester role, the target in scope and, for a mesh-wide change, a grant or an approval:
   * the validator's authorization of a new request (single and batch), before any cluster read.
   */
  authorizeCreate(actor: Actor): Authorization {
    const authorize = requester(actor);
    return Object.assign(
      (req: NormalizedRequest) => {
        authorize(req);
        this.approvalNeed(req, actor); // refuses before any cluster read or write
      },
      { role: authorize.role },
    );
  }

  /**
   * Planning needs the requester role and the target in scope, not what submitting needs: a mesh-wide change the
   * caller may not submit is planned with `approval.outcome: "forbidden"` (single and batch plans alike).
   */
  authorizePlan(actor: Actor): Authorization {
    return requester(actor);
  }

  /** A request the caller may see (viewer and up, within its scopes). */
  async read(id: string, actor: Actor): Promise<RequestWithSteps> {
    assertRole(actor, 'viewer', 'requester', 'approver');
    return this.visible(id, actor);
  }

  /** A request the caller may act on (requester, within its scopes). */
  private async own(id: string, actor: Actor): Promise<RequestWithSteps> {
    assertRole(actor, 'requester');
    return this.visible(id, actor);
  }

  /**
   * The request, if it is in the caller's scopes (REQUEST_NOT_FOUND otherwise, as for an unknown id). Its target is
   * read and checked before the rest (steps, approvals) is loaded, so a request the caller may not see is refused
   * after the same one read as an unknown id: the time does not tell them apart either.
   */
  async visible(id: string, actor: Actor): Promise<RequestWithSteps> {
    if (!hasRole(actor, 'admin')) {
      const target = isOurId(id) ? await this.requests.findTarget(id) : null;
      if (!target) throw requestNotFound(id);
      assertRequestInScope(actor, { id, ...target });
    }
    return this.get(id);
  }

  /** Queues a request stored by a dry run (or holds it for its approvals); steps then report drift from the plan. */
  async applyPlanned(id: string, actor: Actor): Promise<RequestWithSteps> {
    return this.lifecycle.apply(id, actor, await this.submission(await this.own(id, actor), actor));
  }

  /**
   * Cancels a request. One that has not started ends at once; a running one is flagged
   * and stops before its next step or attempt (never in the middle of a write).
   */
  async cancel(id: string, actor: Actor, reason?: string | null): Promise<RequestWithSteps> {
    await this.own(id, actor);
    return this.lifecycle.cancel(id, actor, reason ?? null);
  }

  /**
   * Retries a failed or cancelled request as a new attempt, from its first unfinished step; one that
   * still lacks approvals waits for them again, a dry run never applied is a plan again.
   */
  async retry(id: string, actor: Actor): Promise<RequestWithSteps> {
    const request = await this.own(id, actor);
    // Four-eyes rests on the trail (who submitted it before may not approve it): a request whose trail retention
    // removed would come back without it.
    if (!(await this.lifecycle.trailWhole(id))) {
      throw new DomainError(
        'REQUEST_NOT_RETRYABLE',
        `request ${id} finished before its audit trail's retention period (AUDIT_RETENTION_DAYS): it cannot be ` +
          'put forward again without it',
        { field: 'id', hint: 'submit a new request for the namespace', details: { status: request.status } },
      );
    }
    // A retry resumes at the first unfinished step, trusting the finished ones to hold. Once another request for the
    // namespace has run since this one was made (an offboarding that took the label away, say), they may not. A
    // request that never ran has no finished step to trust: it goes back to its start, as always.
    const since = request.startedAt ? await this.requests.ranSince(request) : null;
    if (since) {
      throw new DomainError(
        'REQUEST_NOT_RETRYABLE',
        `request ${since.id} (${since.kind.toLowerCase()}) ran for ${request.cluster}/${request.namespace} after ` +
          "this one was made: this request's finished steps may no longer hold, so it is not resumed",
        {
          field: 'id',
          hint: 'submit a new request for the namespace',
          details: { status: request.status, supersededBy: since.id },
        },
      );
    }
    return this.lifecycle.retry(id, actor, await this.submission(request, actor));
  }

  /**
   * Applying or retrying puts a stored request forward again, as the caller: it needs what creating it would need
   * of THIS caller (docs/governance.md, "Who submits"). The approval need is computed again for them (their mesh
   * grant, the policy in force): a mesh-wide change by a caller without a grant waits for its approvals again, or
   * is refused (MESH_WIDE_CHANGE_FORBIDDEN) when MESH_WIDE_CHANGES=refuse, whoever created the request; it never
   * needs fewer approvals than it already does. And a caller who approved the request cannot also submit it: one
   * person would then both ask for and approve the change.
   */
  private async submission(request: RequestWithSteps, actor: Actor): Promise<Submission> {
    const req = { ...request, options: request.options as unknown as RequestOptions };
    const need = this.approvalNeed(req, actor, { facts: await this.needFacts(req) });
    return {
      approvals: need.approvals,
      rule: need.rule,
      check: (r) => {
        if (r.approvals.some((a) => a.approver === actor.id && a.decision === 'approve')) {
          throw new DomainError(
            'SELF_APPROVAL_FORBIDDEN',
            `${actor.id} approved request ${r.id}: an approver cannot also submit it (apply or retry); ` +
              'another requester can',
            { field: 'id' },
          );
        }
      },
    };
  }

  async get(id: string): Promise<RequestWithSteps> {
    const request = isOurId(id) ? await this.requests.findById(id) : null;
    if (!request) throw requestNotFound(id);
    return request;
  }

  async list(filter: RequestFilter, first = 20, after: string | null | undefined, actor: Actor) {
    assertRole(actor, 'viewer', 'requester', 'approver');
    if (!Number.isInteger(first) || first < 1 || first > 200) {
      throw new DomainError('VALIDATION_FAILED', 'first must be an integer between 1 and 200', { field: 'first' });
    }
    // An empty cursor is no cursor of this API either (not "from the start").
    const cursor = after === undefined || after === null ? undefined : await this.cursors.position(after, actor);
    const page = await this.requests.page(filter, first, cursor, hasRole(actor, 'admin') ? null : actor.scopes);
    const last = page.resumeAt ?? page.items.at(-1);
    // A page its scan ended short resumes after the last row read, perhaps one the caller may not see: held.
    const endCursor = last ? await this.cursors.after(last, actor, page.resumeAt !== undefined) : null;
    return { items: page.items, hasNextPage: page.hasMore, endCursor };
  }

  /** A page of a request's audit trail: the events after cursor `after`, at most `limit`, and whether more follow. */
  async auditEvents(requestId: string, actor: Actor, { after = 0, limit = AUDIT_PAGE }: AuditPage = {}) {
    await this.read(requestId, actor);
    const events = await this.audit.forRequest(requestId, after, limit + 1);
    return { items: events.slice(0, limit), hasNextPage: events.length > limit };
  }

  private async create(
    req: NormalizedRequest,
    actor: Actor,
    key?: IdempotencyKey,
    recorded?: (request: RequestWithSteps) => Promise<AuditEvent[]>,
  ): Promise<CreateResult> {
    const idempotencyKey = key?.value;
    const bodyHash = createHash('sha256').update(JSON.stringify(req)).digest('hex');
    // A dry run's draft is a plan (cluster reads): look for an earlier request with the key first.
    // Otherwise the insert itself finds it (ON CONFLICT on the key stores nothing) and the lookup
    // runs only for a retry, not for every keyed request.
    if (idempotencyKey && req.dryRun) {
      const earlier = await this.requests.findByIdempotencyKey(actor.id, idempotencyKey);
      if (earlier) return this.replay(earlier, bodyHash, key);
    }
    const draft = await this.draft(req, actor);
    let inserted;
    try {
      // One statement (request + step runs + first audit event): atomic on its own, one round trip.
      inserted = await this.insert(this.prisma, draft, actor, { idempotencyKey, bodyHash });
    } catch (err) {
      if (idempotencyKey && isUniqueViolation(err)) {
        // Two retries with the key raced and the other one won. Its row can fail this insert on the key's index or,
        // when both passed the key's check at once, on the active-target index: either way the key answers (a
        // replay, or IDEMPOTENCY_KEY_REUSED for another body), never a conflict with the caller's own request.
        const earlier = await this.requests.findByIdempotencyKey(actor.id, idempotencyKey);
        if (earlier) return this.replay(earlier, bodyHash, key);
      }
      throw await this.conflictOr(err, req.cluster, req.namespace);
    }
    if (!inserted) {
      // The key was used before (by this caller): the insert stored nothing, whatever else it would have hit.
      const earlier = await this.requests.findByIdempotencyKey(actor.id, idempotencyKey!);
      if (!earlier) throw new Error(`request with Idempotency-Key ${idempotencyKey} vanished`);
      return this.replay(earlier, bodyHash, key!);
    }
    await this.accepted([draft], [inserted.event, ...((await recorded?.(inserted.request)) ?? [])]);
    return { request: inserted.request, replayed: false };
  }

  /**
   * Several targets with shared options, all or nothing: every target is validated and
   * authorized first, then all rows are stored in one transaction, then enqueued. The rows are inserted in one
   * canonical order, (cluster, namespace), whatever the caller's: two batches that share targets then wait for each
   * other's rows in the same order and never in a cycle (in the callers' orders, [a, b] and [b, a] deadlock on the
   * active-target index). A deadlock or serialization failure with another writer all the same is tried again, and
   * after that answered as the conflict it is (REQUEST_CONFLICT), never as an internal error.
   */
  async createBatch(
    kind: RequestKind,
    targets: NormalizedRequest[],
    actor: Actor,
    key?: IdempotencyKey,
  ): Promise<{ batchId: string; requests: RequestWithSteps[]; replayed: boolean }> {
    const idempotencyKey = key?.value;
    // An Idempotency-Key as for a single request: the same caller's key with the same body (the validated targets,
    // in order) answers that batch; with another body, IDEMPOTENCY_KEY_REUSED. Looked up first: a dry run's drafts
    // are plans (cluster reads).
    const bodyHash = createHash('sha256').update(JSON.stringify({ kind, targets })).digest('hex');
    if (idempotencyKey) {
      const earlier = await this.batchByKey(actor.id, idempotencyKey);
      if (earlier) return this.replayBatch(earlier, bodyHash, key);
    }
    // A dry run's draft is a plan (cluster reads): a few targets at a time, reading the cluster together.
    const reads = targets.some((t) => t.dryRun) ? await this.planner.sharedReads(targets) : undefined;
    const drafts = await mapBounded(targets, (t) => this.draft(t, actor, reads), BATCH_READ_CONCURRENCY);
    const canonical = [...drafts].sort((a, b) => compareTarget(a.req, b.req));
    const batchId = randomUUID();
    let events;
    for (let attempt = 1; ; attempt++) {
      try {
        events = await this.prisma.$transaction(async (tx) => {
          const keyed = idempotencyKey ? { idempotencyKey, bodyHash } : {};
          await tx.batch.create({ data: { id: batchId, kind, requestedBy: actor.id, size: drafts.length, ...keyed } });
          const rows = [];
          // no key: always stored
          for (const d of canonical) rows.push((await this.insert(tx, d, actor, { batchId }))!.event);
          return rows;
        });
        break;
      } catch (err) {
        if (idempotencyKey && isUniqueViolation(err)) {
          // The same key raced (its batch row, inserted first, waited for the other's): that batch answers.
          const earlier = await this.batchByKey(actor.id, idempotencyKey);
          if (earlier) return this.replayBatch(earlier, bodyHash, key);
        }
        const contended = isTransactionConflict(err);
        if (contended && attempt < BATCH_INSERT_ATTEMPTS) continue;
        if (!contended && !isUniqueViolation(err, ACTIVE_TARGET_INDEX)) throw err;
        const busy = [];
        for (const t of targets)
          if (await this.requests.findActive(t.cluster, t.namespace)) busy.push(`${t.cluster}/${t.namespace}`);
        throw new DomainError(
          'REQUEST_CONFLICT',
          `active requests already exist for ${busy.join(', ') || 'some targets'}`,
          {
            field: 'targets',
            details: { busy },
          },
        );
      }
    }
    await this.accepted(drafts, events);
    return { batchId, requests: await this.requests.findByBatch(batchId), replayed: false };
  }

  private batchByKey(requestedBy: string, idempotencyKey: string) {
    return this.prisma.batch.findUnique({ where: { requestedBy_idempotencyKey: { requestedBy, idempotencyKey } } });
  }

  private async replayBatch(earlier: { id: string; bodyHash: string | null }, bodyHash: string, key: IdempotencyKey) {
    if (earlier.bodyHash !== bodyHash) {
      throw new DomainError(
        'IDEMPOTENCY_KEY_REUSED',
        `this ${key.field} was already used with a different batch body`,
        { field: key.field, details: { batchId: earlier.id } },
      );
    }
    return { batchId: earlier.id, requests: await this.requests.findByBatch(earlier.id), replayed: true };
  }

  /** Everything decided before the transaction: id, steps (or the dry-run plan), approval need. */
  private async draft(req: NormalizedRequest, actor: Actor, reads?: ReadShare) {
    const id = randomUUID();
    const createdAt = new Date();
    const need = this.approvalNeed(req, actor, { facts: await this.needFacts(req) });
    const plan = req.dryRun ? await this.planner.plan(req, { requestId: id, createdAt, reads }) : undefined;
    const steps = plan ? plan.steps.map((s) => s.name) : plannedSteps(req.kind, req.options);
    const status: RequestStatus = createTarget(req.dryRun, need.approvals);
    return { req, id, createdAt, plan, steps, need, status };
  }

  /**
   * The request row, its step runs and its first audit event, written by one statement
   * (OnboardingRepository.insertNew) through `db`: the client itself (atomic on its own) or a
   * caller's transaction (batches). The stored request is returned as written, without reading
   * it back; only the event's id and timestamp come from the database.
   */
  private async insert(
    db: Pick<Prisma.TransactionClient, '$queryRaw'>,
    { req, id, createdAt, plan, steps, need, status }: Awaited<ReturnType<OnboardingService['draft']>>,
    actor: Actor,
    extra: { idempotencyKey?: string | null; bodyHash?: string; batchId?: string },
  ): Promise<{ request: RequestWithSteps; event: AuditEvent } | null> {
    // A dry run's step output (its planned writes) is serialised once: stored as that text, returned as its parse.
    const outputs = steps.map((_, position) => (plan ? JSON.stringify({ planned: plan.steps[position] }) : null));
    const stepRuns: StepRun[] = steps.map((name, position) => ({
      id: randomUUID(),
      requestId: id,
      name,
      position,
      status: 'PENDING',
      result: null,
      attempts: 0,
      before: null,
      after: null,
      output: outputs[position] === null ? null : (JSON.parse(outputs[position]) as Prisma.JsonValue),
      errorCode: null,
      errorMessage: null,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
    }));
    const row: OnboardingRequest = {
      id,
      kind: req.kind,
      cluster: req.cluster,
      namespace: req.namespace,
      meshName: req.meshName,
      options: req.options as unknown as Prisma.JsonValue,
      status,
      requestedBy: actor.id,
      idempotencyKey: extra.idempotencyKey ?? null,
      bodyHash: extra.bodyHash ?? null,
      errorCode: null,
      errorMessage: null,
      attempt: 1,
      eventSeq: 1,
      claimedBy: null,
      heartbeatAt: null,
      cancelRequested: false,
      createdAt,
      updatedAt: new Date(), // as Prisma's @updatedAt would set it: now (a dry run's plan ran since createdAt)
      startedAt: null,
      finishedAt: null,
      approvalRule: need.rule,
      approvalsRequired: need.approvals,
      approvalsGiven: 0,
      dryRun: req.dryRun,
      appliedAt: null,
      meshWideChanges: need.meshWideChanges,
      batchId: extra.batchId ?? null,
      origin: currentOrigin() ?? null,
    };
    const action = plan ? 'request.planned' : 'request.created';
    const target = `namespaces/${req.namespace}`;
    const data = {
      message:
        `${req.kind === 'ONBOARD' ? 'onboarding' : 'offboarding'} of ${req.cluster}/${req.namespace} (mesh ` +
        `${req.meshName}) ` +
        (plan
          ? 'planned (dry run)'
          : need.approvals
            ? `requested; waits for ${need.approvals} approval(s) (rule ${need.rule})`
            : 'requested'),
      status,
      approvalsRequired: need.approvals,
      approvalRule: need.rule,
      meshWideChanges: need.meshWideChanges,
      kind: req.kind,
      meshName: req.meshName,
      options: req.options,
      steps,
      batchId: extra.batchId ?? null,
    };
    const stored = await this.requests.insertNew(db, {
      request: row,
      steps: stepRuns.map((s, i) => ({ id: s.id, name: s.name, position: s.position, output: outputs[i] })),
      event: { actor: actor.id, action, target, data: JSON.stringify(data) },
    });
    if (!stored) return null; // the caller's Idempotency-Key is taken
    const event: AuditEvent = {
      id: stored.id,
      requestId: id,
      seq: 1,
      actor: actor.id,
      action,
      cluster: req.cluster,
      namespace: req.namespace,
      target,
      step: null,
      data: data as unknown as Prisma.JsonValue,
      createdAt: stored.createdAt,
    };
    return { request: { ...row, steps: stepRuns, approvals: [] }, event };
  }

  private async accepted(
    drafts: { req: NormalizedRequest; id: string; status: RequestStatus }[],
    events: AuditEvent[],
  ): Promise<void> {
    await this.bus.publish(events.map(toProgressEvent));
    for (const d of drafts) {
      this.metrics.requests.inc({ kind: d.req.kind, status: d.status });
      if (d.status === 'QUEUED') await this.enqueue(d.id, d.req.cluster);
    }
  }

  /** Enqueue after commit; if Redis is away the sweeper enqueues it later from Postgres. */
  enqueue(id: string, cluster?: string): Promise<void> {
    return this.lifecycle.enqueue(id, cluster);
  }

  private async conflictOr(err: unknown, cluster: string, namespace: string): Promise<unknown> {
    if (!isUniqueViolation(err, ACTIVE_TARGET_INDEX)) return err;
    const active = await this.requests.findActive(cluster, namespace);
    return new DomainError(
      'REQUEST_CONFLICT',
      `namespace ${cluster}/${namespace} already has an active request${active ? ` (${active.id})` : ''}`,
      { field: 'namespace', details: { activeRequestId: active?.id ?? null } },
    );
  }

  private replay(earlier: RequestWithSteps, bodyHash: string, key: IdempotencyKey): CreateResult {
    if (earlier.bodyHash !== bodyHash) {
      throw new DomainError(
        'IDEMPOTENCY_KEY_REUSED',
        `this ${key.field} was already used with a different request body`,
        { field: key.field, details: { requestId: earlier.id } },
      );
    }
    return { request: earlier, replayed: true };
  }
}

/** How many times a batch's transaction is tried when Postgres ends it for a deadlock or serialization failure. */
const BATCH_INSERT_ATTEMPTS = 3;

/** The canonical order of a batch's rows: by cluster, then namespace (code-unit order, the same in every process). */
function compareTarget(a: { cluster: string; namespace: string }, b: { cluster: string; namespace: string }): number {
  if (a.cluster !== b.cluster) return a.cluster < b.cluster ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/**
 * Postgres ended the transaction for a deadlock (40P01) or a serialization failure (40001): pg's own error, Prisma's
 * P2034 (a write conflict or deadlock), or its raw-query error (P2010) whose driver cause says so.
 */
function isTransactionConflict(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return err.code === '40P01' || err.code === '40001';
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (err.code === 'P2034') return true;
  const cause = (err.meta?.driverAdapterError as { cause?: { kind?: unknown; originalCode?: unknown } } | undefined)
    ?.cause;
  return (
    cause?.kind === 'TransactionWriteConflict' || cause?.originalCode === '40P01' || cause?.originalCode === '40001'
  );
}
