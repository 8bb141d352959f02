// Owns batches: validating a batch's targets together (create and plan), reading a batch with its aggregate status,
// applying an operation to every member, and opening its event stream. Storing is OnboardingService.createBatch's.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { IdempotencyKey } from '../common/idempotency-key.js';
import type { RequestKind } from '../generated/prisma/client.js';
import type { Actor, Role } from '../auth/actor.js';
import { assertRole, hasRole, inScope } from '../auth/scopes.js';
import { DomainError, type ErrorCode, FieldIssue, isOurId, shownId } from '../common/domain-error.js';
import { batchFingerprint, parseBatchCursor } from '../events/batch-cursor.js';
import { PrismaService } from '../database/prisma.service.js';
import { ApprovalService, ApproveSchema, RejectSchema } from '../approvals/approval.service.js';
import { CancelSchema } from '../onboarding/api/shared-inputs.js';
import { ProgressService } from '../events/progress.service.js';
import { NoInputSchema, parseInput } from '../common/parse-input.js';
import { OnboardingRepository, RequestWithSteps } from '../onboarding/onboarding.repository.js';
import { OnboardingService, type PlanWithApproval } from '../onboarding/onboarding.service.js';
import { type Authorization, NormalizedRequest, RequestValidator } from '../onboarding/request-validator.js';
import { overall, type BatchStatus } from './batch-status.js';
import { mapBounded } from '../common/map-bounded.js';

/**
 * A `__proto__` key of the options (JSON.parse makes it an own key) is refused as the unknown field it is: a record
 * schema would drop it without a word (zod skips it, so that it cannot replace the parsed object's prototype), and
 * the caller's options in it would be silently ignored, where `options.zz` or a nested `__proto__` is refused.
 */
function refuseProtoKey(options: unknown, ctx: z.core.$RefinementCtx): unknown {
  if (options !== null && typeof options === 'object' && Object.hasOwn(options, '__proto__'))
    ctx.addIssue({ code: 'unrecognized_keys', keys: ['__proto__'], input: options as Record<string, unknown> });
  return options;
}

export const BatchInputSchema = z
  .strictObject({
    kind: z.enum(['ONBOARD', 'OFFBOARD'], { error: 'must be ONBOARD or OFFBOARD' }).describe('ONBOARD or OFFBOARD.'),
    targets: z
      .array(
        z
          .strictObject({
            cluster: z
              .string()
              .min(1)
              .nullish()
              .describe('The kubeconfig context name; omitted = the current context.'),
            namespace: z.string().describe('The namespace.'),
          })
          .describe('One namespace of a batch.'),
      )
      .min(1, 'needs at least one target')
      .max(500, 'at most 500 targets per batch')
      .describe('The namespaces (1 to 500); one request each.'),
    options: z
      .preprocess(
        refuseProtoKey,
        z
          .record(z.string(), z.unknown())
          .superRefine((options, ctx) => {
            // Each target has its own: in the shared options they would silently move or rename every target.
            for (const key of ['cluster', 'namespace'])
              if (key in options)
                ctx.addIssue({ code: 'custom', path: [key], message: `is set per target (targets.<i>.${key})` });
          })
          .default({}),
      )
      .describe(
        'The options every target shares: the fields of an onboarding/offboarding body except cluster and namespace.',
      ),
  })
  .meta({
    id: 'BatchInput',
    description: 'One request per target, all with the same options.',
  });

/** A target's field as a batch names it: the target's own (`targets.<i>.namespace`), else the shared options'. */
function batchField(i: number, field: string): string {
  return field === 'cluster' || field === 'namespace' ? `targets.${i}.${field}` : `options.${field}`;
}

const ACTIVE = new Set(['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING']);

export interface BatchView {
  id: string;
  kind: RequestKind;
  requestedBy: string;
  createdAt: string;
  status: BatchStatus;
  counts: Record<string, number>;
  requests: RequestWithSteps[];
}

export interface MemberResult {
  requestId: string;
  namespace: string;
  ok: boolean;
  code: string | null;
  message: string | null;
}

/** Batches: one request per target under a batch id, handled as a whole. */
/** Members a batch operation (approve, cancel, apply, …) works on at once. */
const BATCH_MEMBER_CONCURRENCY = 8;

/** A target's refusals that stop its batch at once, keeping their code: the caller's, or the cluster's as a whole. */
const BATCH_STOPPERS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'FORBIDDEN',
  'MESH_WIDE_CHANGE_FORBIDDEN',
  'CLUSTER_UNAVAILABLE',
  'KUBE_FORBIDDEN',
  'KUBE_RESOURCE_NOT_SERVED',
]);

/** What an operation's body may hold (a single request's schema); retry and apply take none. */
const OPERATION_BODY: Partial<Record<'approve' | 'reject' | 'cancel' | 'retry' | 'apply', z.ZodType>> = {
  approve: ApproveSchema,
  reject: RejectSchema,
  cancel: CancelSchema,
  retry: NoInputSchema,
  apply: NoInputSchema,
};

/** The role each operation needs, as for a single request: deciding is an approver's, the rest a requester's. */
const OPERATION_ROLE: Record<'approve' | 'reject' | 'cancel' | 'retry' | 'apply', Role> = {
  approve: 'approver',
  reject: 'approver',
  cancel: 'requester',
  retry: 'requester',
  apply: 'requester',
};

@Injectable()
export class BatchService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly validator: RequestValidator,
    private readonly onboarding: OnboardingService,
    private readonly approvals: ApprovalService,
    private readonly requests: OnboardingRepository,
    private readonly progress: ProgressService,
  ) {}

  /** `replayed`: an Idempotency-Key matched an earlier identical batch of this caller, which is answered. */
  async create(input: unknown, actor: Actor, key?: IdempotencyKey): Promise<{ batch: BatchView; replayed: boolean }> {
    const { kind, targets } = await this.validate(input, this.onboarding.authorizeCreate(actor));
    const { batchId, replayed } = await this.onboarding.createBatch(kind, targets, actor, key);
    return { batch: await this.get(batchId, actor), replayed };
  }

  async plan(input: unknown, actor: Actor): Promise<PlanWithApproval[]> {
    // A plan's authorization, as the single plan's: each target reports what submitting it would need.
    const { targets } = await this.validate(input, this.onboarding.authorizePlan(actor));
    return this.onboarding.planMany(targets, actor);
  }

  /** `idField`: what the id came in as (REST's path parameter and GraphQL's `batch(id:)`: `id`), for a 404. */
  async get(id: string, actor: Actor, idField = 'id'): Promise<BatchView> {
    assertRole(actor, 'viewer', 'requester', 'approver');
    const notFound = () => new DomainError('BATCH_NOT_FOUND', `batch ${shownId(id)} not found`, { field: idField });
    if (!isOurId(id)) throw notFound();
    // The members the caller may see first: for a caller who is not an admin, an unknown id and a batch with none
    // of its members cost the same one query and get the same 404, so an id learnt elsewhere is not confirmed.
    const scopes = hasRole(actor, 'admin') ? null : actor.scopes;
    const requests = (await this.requests.findByBatch(id, scopes)).filter((r) =>
      inScope(actor, r.cluster, r.namespace),
    );
    if (requests.length === 0) throw notFound();
    const batch = await this.prisma.batch.findUnique({ where: { id } });
    if (!batch) throw notFound();
    const counts: Record<string, number> = {};
    for (const r of requests) counts[r.status] = (counts[r.status] ?? 0) + 1;
    return {
      id,
      kind: batch.kind,
      requestedBy: batch.requestedBy,
      createdAt: batch.createdAt.toISOString(),
      status: overall(counts),
      counts,
      requests,
    };
  }

  /**
   * Applies an operation to every member it applies to; one member's refusal doesn't stop the others. Its body (a
   * comment, a reason) and the caller's role are checked once first, as a single request's are, whether or not any
   * member is eligible.
   */
  async each(
    id: string,
    actor: Actor,
    op: 'approve' | 'reject' | 'cancel' | 'retry' | 'apply',
    body: unknown,
  ): Promise<{ batch: BatchView; results: MemberResult[] }> {
    const schema = OPERATION_BODY[op];
    if (schema) parseInput(schema, body ?? {});
    // The single-request operation's role, up front: a caller without it is refused (403) before any member is
    // read or touched, whether or not any member is eligible.
    assertRole(actor, OPERATION_ROLE[op]);
    const { requests } = await this.get(id, actor);
    const eligible = requests.filter((r) =>
      op === 'approve' || op === 'reject'
        ? r.status === 'PENDING_APPROVAL'
        : op === 'retry'
          ? r.status === 'FAILED' || r.status === 'CANCELLED'
          : op === 'apply'
            ? r.status === 'PLANNED'
            : ACTIVE.has(r.status),
    );
    // A few members at a time (each its own transaction), the results in the members' order.
    const results = await mapBounded(
      eligible,
      async (r): Promise<MemberResult> => {
        try {
          if (op === 'approve') await this.approvals.approve(r.id, actor, body);
          else if (op === 'reject') await this.approvals.reject(r.id, actor, body);
          else if (op === 'cancel')
            await this.onboarding.cancel(r.id, actor, (body as { reason?: string } | undefined)?.reason);
          else if (op === 'apply') await this.onboarding.applyPlanned(r.id, actor);
          else await this.onboarding.retry(r.id, actor);
          return { requestId: r.id, namespace: r.namespace, ok: true, code: null, message: null };
        } catch (err) {
          if (!(err instanceof DomainError)) throw err;
          return { requestId: r.id, namespace: r.namespace, ok: false, code: err.code, message: err.message };
        }
      },
      BATCH_MEMBER_CONCURRENCY,
    );
    return { batch: await this.get(id, actor), results };
  }

  /**
   * The member requests' events the caller can see; `after` is a batch cursor (`batchCursor` of an event) or an
   * older one (`b1.…`, or for an admin a global event id), refused with a field error when it belongs to another
   * batch or view or points past a member's last event. `names`: what the cursor and the id came in as, for a
   * refusal (`after` or `Last-Event-ID`; `id`, or GraphQL's `batchId`).
   */
  async events(id: string, actor: Actor, after: string | undefined, names: { after?: string; id?: string } = {}) {
    const field = names.after ?? 'after';
    const { requests } = await this.get(id, actor, names.id ?? 'id');
    const members = requests.map((r) => ({ id: r.id, lastSeq: r.eventSeq })).sort((a, b) => (a.id < b.id ? -1 : 1));
    const ids = members.map((m) => m.id);
    const position = parseBatchCursor(after, { batchId: id, members }, field);
    // Global ids are shown to admins only (audit/event-id.ts): translating one into positions would let any other
    // caller find the global id of each of its own events by bisection, and so everyone else's event volume.
    if ('afterId' in position && !hasRole(actor, 'admin')) {
      throw new DomainError(
        'VALIDATION_FAILED',
        `${field}: an older cursor that is a global event id is accepted from admins only; resume after a ` +
          'batchCursor, or from the start',
        { field },
      );
    }
    if ('afterId' in position && position.afterId !== undefined) {
      // As for the other formats, a position past every member's last event is no position this stream gave.
      const last = await this.prisma.auditEvent.aggregate({ where: { requestId: { in: ids } }, _max: { id: true } });
      if (position.afterId > BigInt(last._max.id ?? 0))
        throw new DomainError('VALIDATION_FAILED', `${field}: is past the last event of the batch's members`, {
          field,
        });
    }
    return this.progress.openBatch(ids, position, actor.id, batchFingerprint(id, ids));
  }

  /**
   * Every target validated and authorized (`authorize`: creating's or planning's, as for a single request) before
   * anything is stored; errors name `targets.<i>.<field>` (the target's own fields) or `options.<field>`. A refusal
   * that stops the batch at once (BATCH_STOPPERS: FORBIDDEN, CLUSTER_UNAVAILABLE, …) keeps its code; the
   * others are gathered: when every refused target failed with the same code the batch's error carries it (a single
   * request's NAMESPACE_NOT_FOUND, say), else VALIDATION_FAILED.
   */
  private async validate(
    input: unknown,
    authorize: Authorization,
  ): Promise<{ kind: RequestKind; targets: NormalizedRequest[] }> {
    const batch = parseInput(BatchInputSchema, input);
    // The role before any target's cluster is looked up: a caller without it is refused (403), not told which
    // clusters exist (a target's CLUSTER_NOT_FOUND).
    authorize.role?.();
    const issues: FieldIssue[] = [];
    const refused: { code: ErrorCode; hint?: string }[] = []; // one per refusal
    const seen = new Set<string>();
    const targets: NormalizedRequest[] = [];
    for (const [i, t] of batch.targets.entries()) {
      try {
        // The single request's authorization (role, scope and, to create, the mesh-wide rule), before any read.
        const req = await this.validator.validate(batch.kind, { ...batch.options, ...t }, authorize);
        const key = `${req.cluster}/${req.namespace}`;
        if (seen.has(key)) {
          issues.push({ field: `targets.${i}.namespace`, message: `${key} appears twice` });
          refused.push({ code: 'VALIDATION_FAILED' });
        }
        seen.add(key);
        targets.push(req);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        if (BATCH_STOPPERS.has(err.code))
          throw new DomainError(err.code, err.message, {
            ...err.options,
            field: undefined,
            fields: err.fields.map((f) => ({ ...f, field: batchField(i, f.field) })),
          });
        const fields = err.fields.length ? err.fields : [{ field: 'namespace', message: err.message }];
        for (const f of fields) issues.push({ field: batchField(i, f.field), message: `${f.message} (${err.code})` });
        refused.push({ code: err.code, hint: err.options.hint });
      }
    }
    if (issues.length) {
      const unique = issues.filter(
        (f, i) => issues.findIndex((g) => g.field === f.field && g.message === f.message) === i,
      );
      const code = refused.every((r) => r.code === refused[0].code) ? refused[0].code : 'VALIDATION_FAILED';
      // One refusal's hint (`create it first ...`) as the single request gives it; several targets' would not agree.
      const hint = refused.length === 1 ? refused[0].hint : undefined;
      throw new DomainError(code, `invalid batch: ${unique.map((f) => `${f.field}: ${f.message}`).join('; ')}`, {
        fields: unique,
        ...(hint ? { hint } : {}),
      });
    }
    return { kind: batch.kind, targets };
  }
}
