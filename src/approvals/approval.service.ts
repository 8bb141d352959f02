import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { Actor } from '../auth/actor.js';
import { assertRole, assertScope, hasMeshGrant } from '../auth/scopes.js';
import { DomainError } from '../common/domain-error.js';
import { parseInput } from '../common/parse-input.js';
import type { RequestWithSteps } from '../onboarding/onboarding.repository.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { RequestLifecycle } from '../onboarding/lifecycle/request-lifecycle.js';

export const ApproveSchema = z
  .strictObject({ comment: z.string().max(1000).optional().describe('A comment recorded with the approval.') })
  .meta({ id: 'ApproveInput', description: 'An approval.' });
export const RejectSchema = z
  .strictObject({
    reason: z.string().min(1, 'a rejection needs a reason').max(1000).describe('Why the request is rejected.'),
  })
  .meta({ id: 'RejectInput', description: 'A rejection, with its reason.' });

/**
 * Requests that the approval policy holds wait in PENDING_APPROVAL. Approvers (never the
 * requester; for a request that changes the mesh as a whole, only holders of a mesh grant) approve
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

  async approve(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { comment } = parseInput(ApproveSchema, input ?? {});
    await this.pending(id, actor);
    return this.lifecycle.approve(id, actor, comment ?? null);
  }

  async reject(id: string, actor: Actor, input: unknown): Promise<RequestWithSteps> {
    const { reason } = parseInput(RejectSchema, input ?? {});
    await this.pending(id, actor);
    return this.lifecycle.reject(id, actor, reason);
  }

  /** Who may decide: an approver in scope, not the requester, with a mesh grant for a mesh-wide change. */
  private async pending(id: string, actor: Actor): Promise<RequestWithSteps> {
    assertRole(actor, 'approver');
    const request = await this.onboarding.get(id);
    assertScope(actor, request.cluster, request.namespace);
    if (request.status !== 'PENDING_APPROVAL') throw notPending(id, request.status);
    if (request.requestedBy === actor.id) {
      throw new DomainError(
        'SELF_APPROVAL_FORBIDDEN',
        'a requester cannot approve or reject their own request (cancel it instead)',
        { field: 'id' },
      );
    }
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
