import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { Actor } from '../auth/actor.js';
import { assertRole, hasMeshGrant } from '../auth/scopes.js';
import { DomainError } from '../common/domain-error.js';
import { parseInput } from '../common/parse-input.js';
import type { RequestWithSteps } from '../onboarding/onboarding.repository.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { RequestLifecycle, type Check } from '../onboarding/lifecycle/request-lifecycle.js';

export const ApproveSchema = z
  .strictObject({ comment: z.string().max(1000).nullish().describe('A comment recorded with the approval.') })
  .meta({ id: 'ApproveInput', description: 'An approval.' });
export const RejectSchema = z
  .strictObject({
    reason: z
      .string()
      .min(1, 'a rejection needs a reason')
      .max(1000)
      .refine((reason) => reason.trim() !== '', 'a rejection needs a reason (not only spaces)')
      .describe('Why the request is rejected.'),
  })
  .meta({ id: 'RejectInput', description: 'A rejection, with its reason.' });

/**
 * Requests that the approval policy holds wait in PENDING_APPROVAL. Approvers (never one who put it
 * forward: its requester, or whoever applied its plan or retried it; for a request that changes the
 * mesh as a whole, only holders of a mesh grant) approve
 * until the rule's count of distinct approvers is reached, then the request is queued; one
 * rejection ends it. The state change itself is the request lifecycle's (one guarded statement,
 * audited and published): this class decides who may take it.
 */
@Injectable()
export class ApprovalService {
  constructor(
    private readonly onboarding: OnboardingService,
    private readonly lifecycle: RequestLifecycle,
  ) {}

  /**
   * One approval, counted against what the policy in force asks of the request now: a policy tightened while it
   * waited (more approvals, or MESH_WIDE_CHANGES=refuse) applies to it too (docs/governance.md).
   */
  async approve(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { comment } = parseInput(ApproveSchema, input ?? {});
    const request = await this.pending(id, actor);
    const notASubmitter = this.notASubmitter(actor);
    return this.lifecycle.approve(id, actor, {
      comment: comment ?? null,
      check: async (row) => {
        await this.trailKnown(row.id);
        await notASubmitter(row);
      },
      need: await this.needNow(request),
    });
  }

  private async needNow(request: RequestWithSteps) {
    try {
      return await this.onboarding.currentNeed(request);
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'MESH_WIDE_CHANGE_FORBIDDEN') throw err;
      throw new DomainError(
        'MESH_WIDE_CHANGE_FORBIDDEN',
        `request ${request.id} changes mesh ${request.meshName} as a whole and was put forward without a mesh ` +
          'grant; such changes are now refused (MESH_WIDE_CHANGES=refuse), so it cannot be approved: reject it, ' +
          'or its requester cancels it',
        { field: 'id', details: err.options.details },
      );
    }
  }

  async reject(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { reason } = parseInput(RejectSchema, input ?? {});
    await this.pending(id, actor);
    return this.lifecycle.reject(id, actor, reason, this.notASubmitter(actor));
  }

  /**
   * Four eyes, checked on the very row the decision is written from (so a cancel → retry racing the decision
   * cannot slip past it): the caller did not create the request, apply its plan or retry it.
   */
  private notASubmitter(actor: Actor): Check {
    return async (request) => {
      if (request.requestedBy === actor.id || (await this.lifecycle.submittedBy(request.id, actor.id))) {
        throw new DomainError(
          'SELF_APPROVAL_FORBIDDEN',
          request.requestedBy === actor.id
            ? 'a requester cannot approve or reject their own request (cancel it instead)'
            : `${actor.id} put request ${request.id} forward (applied or retried it): they cannot also approve or ` +
                'reject it',
          { field: 'id' },
        );
      }
    };
  }

  /**
   * Four eyes rests on the trail: who created, applied or retried the request is read from its audit events. A
   * request whose trail's start retention has removed (a month exported and dropped while it waited, or while a retry
   * put it forward again) cannot tell its submitters, so it is not approved; rejecting it (or cancelling) stays open.
   */
  private async trailKnown(id: string): Promise<void> {
    if (await this.lifecycle.trailWhole(id)) return;
    throw new DomainError(
      'FORBIDDEN',
      `request ${id}'s audit trail no longer begins with its creation (AUDIT_RETENTION_DAYS removed it): who put it ` +
        'forward cannot be told, so it cannot be approved',
      { field: 'id', hint: 'reject it, or its requester cancels it and submits a new request' },
    );
  }

  /** Who may decide: an approver in scope, with a mesh grant for a mesh-wide change (not a submitter: above). */
  private async pending(id: string, actor: Actor): Promise<RequestWithSteps> {
    assertRole(actor, 'approver');
    const request = await this.onboarding.visible(id, actor);
    if (request.status !== 'PENDING_APPROVAL') throw notPending(id, request.status);
    if (request.meshWideChanges.length > 0 && !hasMeshGrant(actor, request.cluster, request.meshName)) {
      throw new DomainError(
        'MESH_GRANT_REQUIRED',
        `request ${id} changes mesh ${request.meshName} as a whole (${request.meshWideChanges.join(', ')}): ` +
          `deciding on it needs a mesh grant (scope ${request.cluster}/mesh:${request.meshName} or the admin role)`,
        { field: 'id', details: { changes: request.meshWideChanges } },
      );
    }
    return request;
  }
}

const notPending = (id: string, status?: string) =>
  new DomainError(
    'REQUEST_NOT_PENDING_APPROVAL',
    status ? `request ${id} is ${status}, not PENDING_APPROVAL` : `request ${id} is no longer pending approval`,
    { field: 'id' },
  );
