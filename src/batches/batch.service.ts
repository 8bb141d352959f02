import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { RequestKind } from '../generated/prisma/client.js';
import type { Actor } from '../auth/actor.js';
import { assertRole, inScope } from '../auth/scopes.js';
import { DomainError, FieldIssue, isOurId, shownId } from '../common/domain-error.js';
import { parseBatchCursor } from '../events/batch-cursor.js';
import { PrismaService } from '../database/prisma.service.js';
import { ApprovalService, ApproveSchema, RejectSchema } from '../approvals/approval.service.js';
import { CancelSchema } from '../onboarding/api/shared-inputs.js';
import { ProgressService } from '../events/progress.service.js';
import { parseInput } from '../common/parse-input.js';
import { OnboardingRepository, RequestWithSteps } from '../onboarding/onboarding.repository.js';
import { OnboardingService, type PlanWithApproval } from '../onboarding/onboarding.service.js';
import { NormalizedRequest, RequestValidator } from '../onboarding/request-validator.js';

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
      .record(z.string(), z.unknown())
      .default({})
      .describe(
        'The options every target shares: the fields of an onboarding/offboarding body except cluster and namespace.',
      ),
  })
  .meta({
    id: 'BatchInput',
    description: 'One request per target, all with the same options.',
  });

const ACTIVE = new Set(['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING']);

export interface BatchView {
  id: string;
  kind: RequestKind;
  requestedBy: string;
  createdAt: string;
  status: string;
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
/** What an operation's body may hold (a single request's schema); retry and apply take none. */
const OPERATION_BODY: Partial<Record<'approve' | 'reject' | 'cancel' | 'retry' | 'apply', z.ZodType>> = {
  approve: ApproveSchema,
  reject: RejectSchema,
  cancel: CancelSchema,
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

  async create(input: unknown, actor: Actor): Promise<BatchView> {
    const { kind, targets } = await this.validate(input, actor);
    const { batchId } = await this.onboarding.createBatch(kind, targets, actor);
    return this.get(batchId, actor);
  }

  async plan(input: unknown, actor: Actor): Promise<PlanWithApproval[]> {
    const { targets } = await this.validate(input, actor);
    return Promise.all(targets.map((t) => this.onboarding.planNormalized(t, actor)));
  }

  async get(id: string, actor: Actor): Promise<BatchView> {
    assertRole(actor, 'viewer', 'requester', 'approver');
    const batch = isOurId(id) ? await this.prisma.batch.findUnique({ where: { id } }) : null;
    if (!batch) throw new DomainError('BATCH_NOT_FOUND', `batch ${shownId(id)} not found`, { field: 'id' });
    const requests = (await this.requests.findByBatch(id)).filter((r) => inScope(actor, r.cluster, r.namespace));
    if (requests.length === 0) throw new DomainError('FORBIDDEN', `${actor.id} may not see batch ${id}`);
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
   * comment, a reason) is checked once first, as a single request's is, whether or not any member is eligible.
   */
  async each(
    id: string,
    actor: Actor,
    op: 'approve' | 'reject' | 'cancel' | 'retry' | 'apply',
    body: unknown,
  ): Promise<{ batch: BatchView; results: MemberResult[] }> {
    const schema = OPERATION_BODY[op];
    if (schema) parseInput(schema, body ?? {});
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
    const results: MemberResult[] = [];
    for (const r of eligible) {
      try {
        if (op === 'approve') await this.approvals.approve(r.id, actor, body);
        else if (op === 'reject') await this.approvals.reject(r.id, actor, body);
        else if (op === 'cancel')
          await this.onboarding.cancel(r.id, actor, (body as { reason?: string } | undefined)?.reason);
        else if (op === 'apply') await this.onboarding.applyPlanned(r.id, actor);
        else await this.onboarding.retry(r.id, actor);
        results.push({ requestId: r.id, namespace: r.namespace, ok: true, code: null, message: null });
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        results.push({ requestId: r.id, namespace: r.namespace, ok: false, code: err.code, message: err.message });
      }
    }
    return { batch: await this.get(id, actor), results };
  }

  /**
   * The member requests' events the caller can see; `after` is a batch cursor (`batchCursor` of an event) or an
   * older global event id, refused with a field error when it belongs to another batch or view.
   */
  async events(id: string, actor: Actor, after: string | undefined, field = 'after') {
    const { requests } = await this.get(id, actor);
    const members = requests.map((r) => r.id).sort();
    return this.progress.openBatch(members, parseBatchCursor(after, members, field), actor.id);
  }

  /** Every target validated and authorized before anything is stored; errors name `targets.<i>.<field>`. */
  private async validate(input: unknown, actor: Actor): Promise<{ kind: RequestKind; targets: NormalizedRequest[] }> {
    const batch = parseInput(BatchInputSchema, input);
    const issues: FieldIssue[] = [];
    const seen = new Set<string>();
    const targets: NormalizedRequest[] = [];
    for (const [i, t] of batch.targets.entries()) {
      try {
        // The single request's authorization: role, scope and the mesh-wide rule, before any cluster read.
        const req = await this.validator.validate(
          batch.kind,
          { ...batch.options, ...t },
          this.onboarding.authorizeCreate(actor),
        );
        const key = `${req.cluster}/${req.namespace}`;
        if (seen.has(key)) issues.push({ field: `targets.${i}.namespace`, message: `${key} appears twice` });
        seen.add(key);
        targets.push(req);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        if (err.code === 'FORBIDDEN' || err.code === 'MESH_WIDE_CHANGE_FORBIDDEN' || err.code === 'CLUSTER_UNAVAILABLE')
          throw err;
        const fields = err.fields.length ? err.fields : [{ field: 'namespace', message: err.message }];
        for (const f of fields) {
          const own = f.field === 'cluster' || f.field === 'namespace' || f.field === 'meshName';
          issues.push({
            field: own && f.field !== 'meshName' ? `targets.${i}.${f.field}` : `options.${f.field}`,
            message: `${f.message} (${err.code})`,
          });
        }
      }
    }
    if (issues.length) {
      const unique = issues.filter(
        (f, i) => issues.findIndex((g) => g.field === f.field && g.message === f.message) === i,
      );
      throw new DomainError(
        'VALIDATION_FAILED',
        `invalid batch: ${unique.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
        { fields: unique },
      );
    }
    return { kind: batch.kind, targets };
  }
}

function overall(counts: Record<string, number>): string {
  const has = (s: string) => (counts[s] ?? 0) > 0;
  if (has('RUNNING') || has('QUEUED')) return 'RUNNING';
  if (has('PENDING_APPROVAL')) return 'PENDING_APPROVAL';
  if (has('PLANNED')) return 'PLANNED';
  if (has('FAILED')) return has('SUCCEEDED') ? 'PARTIALLY_FAILED' : 'FAILED';
  if (has('SUCCEEDED')) return 'SUCCEEDED';
  return Object.keys(counts)[0] ?? 'EMPTY';
}
