import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { Actor } from '../auth/actor.js';
import { assertRole, assertScope } from '../auth/scopes.js';
import { DomainError } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { toProgressEvent } from '../events/progress-event.js';
import { MetricsService } from '../observability/metrics.service.js';
import { parseInput } from '../onboarding/onboarding.input.js';
import { isUniqueViolation, RequestWithSteps } from '../onboarding/onboarding.repository.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';

export const ApproveSchema = z.strictObject({ comment: z.string().max(1000).optional() });
export const RejectSchema = z.strictObject({ reason: z.string().min(1, 'a rejection needs a reason').max(1000) });

/**
 * Requests that the approval policy holds wait in PENDING_APPROVAL. Approvers (never the
 * requester) approve until the rule's count of distinct approvers is reached, then the
 * request is queued; one rejection ends it. Every decision is audited and published.
 */
@Injectable()
export class ApprovalService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    private readonly onboarding: OnboardingService,
    private readonly metrics: MetricsService,
  ) {}

  async approve(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { comment } = parseInput(ApproveSchema, input ?? {});
    const request = await this.pending(id, actor);
    const event = await this.decide(request, actor, 'approve', comment, async (tx, approvals) => {
      if (approvals < request.approvalsRequired) {
        return {
          action: 'approval.recorded',
          data: { message: `approved by ${actor.id} (${approvals}/${request.approvalsRequired})`, approvals, required: request.approvalsRequired, comment: comment ?? null },
        };
      }
      const { count } = await tx.onboardingRequest.updateMany({ where: { id, status: 'PENDING_APPROVAL' }, data: { status: 'QUEUED' } });
      if (count !== 1) throw notPending(id);
      return {
        action: 'request.approved',
        data: { message: `approved (${approvals}/${request.approvalsRequired}, last by ${actor.id}); queued`, approvals, required: request.approvalsRequired, comment: comment ?? null },
      };
    });
    if (event.action === 'request.approved') {
      this.metrics.requests.inc({ kind: request.kind, status: 'QUEUED' });
      await this.onboarding.enqueue(id);
    }
    return this.onboarding.get(id);
  }

  async reject(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { reason } = parseInput(RejectSchema, input ?? {});
    const request = await this.pending(id, actor);
    await this.decide(request, actor, 'reject', reason, async (tx) => {
      const { count } = await tx.onboardingRequest.updateMany({
        where: { id, status: 'PENDING_APPROVAL' },
        data: { status: 'REJECTED', finishedAt: new Date(), errorCode: 'REJECTED', errorMessage: `rejected by ${actor.id}: ${reason}` },
      });
      if (count !== 1) throw notPending(id);
      await tx.stepRun.updateMany({ where: { requestId: id, status: 'PENDING' }, data: { status: 'CANCELLED' } });
      return { action: 'request.rejected', data: { message: `rejected by ${actor.id}: ${reason}`, reason, status: 'REJECTED' } };
    });
    this.metrics.requests.inc({ kind: request.kind, status: 'REJECTED' });
    return this.onboarding.get(id);
  }

  private async pending(id: string, actor: Actor): Promise<RequestWithSteps> {
    assertRole(actor, 'approver');
    const request = await this.onboarding.get(id);
    assertScope(actor, request.cluster, request.namespace);
    if (request.status !== 'PENDING_APPROVAL') throw notPending(id, request.status);
    if (request.requestedBy === actor.id) {
      throw new DomainError('SELF_APPROVAL_FORBIDDEN', 'a requester cannot approve or reject their own request (cancel it instead)', { field: 'id' });
    }
    return request;
  }

  private async decide(
    request: RequestWithSteps,
    actor: Actor,
    decision: 'approve' | 'reject',
    reason: string | undefined,
    then: (tx: Parameters<Parameters<PrismaService['$transaction']>[0]>[0], approvals: number) => Promise<{ action: string; data: Record<string, unknown> }>,
  ) {
    let row;
    try {
      row = await this.prisma.$transaction(async (tx) => {
        await tx.approval.create({ data: { requestId: request.id, approver: actor.id, decision, reason } });
        const approvals = await tx.approval.count({ where: { requestId: request.id, decision: 'approve' } });
        const { action, data } = await then(tx, approvals);
        return this.audit.append(tx, {
          requestId: request.id,
          actor: actor.id,
          action,
          cluster: request.cluster,
          namespace: request.namespace,
          target: `namespaces/${request.namespace}`,
          data,
        });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('ALREADY_DECIDED', `${actor.id} already decided on request ${request.id}`, { field: 'id' });
      throw err;
    }
    await this.bus.publish([toProgressEvent(row)]);
    return row;
  }
}

const notPending = (id: string, status?: string) =>
  new DomainError(
    'REQUEST_NOT_PENDING_APPROVAL',
    status ? `request ${id} is ${status}, not PENDING_APPROVAL` : `request ${id} is no longer pending approval`,
    { field: 'id' },
  );
