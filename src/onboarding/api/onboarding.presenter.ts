import type { AuditEvent, StepRun } from '../../generated/prisma/client.js';
import type { RequestWithSteps } from '../onboarding.repository.js';
import type { RequestOptions } from '../onboarding.input.js';
import { eventId } from '../../audit/event-id.js';

// The one outward shape of our records; REST returns it as JSON, and GraphQL serves it through types checked
// against the same zod schemas (src/docs/response-schemas.ts, src/graphql/zod-types.ts).
export function presentStep(s: StepRun) {
  return {
    name: s.name,
    position: s.position,
    status: s.status,
    result: s.result,
    attempts: s.attempts,
    before: s.before,
    after: s.after,
    output: s.output,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    startedAt: s.startedAt?.toISOString() ?? null,
    finishedAt: s.finishedAt?.toISOString() ?? null,
    durationMs: s.durationMs,
  };
}

export function presentRequest(r: RequestWithSteps) {
  const options = r.options as unknown as RequestOptions;
  return {
    id: r.id,
    kind: r.kind,
    cluster: r.cluster,
    namespace: r.namespace,
    meshName: r.meshName,
    sidecarInjection: r.kind === 'ONBOARD' ? options.sidecarInjection : null,
    options,
    status: r.status,
    requestedBy: r.requestedBy,
    idempotencyKey: r.idempotencyKey,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    attempt: r.attempt,
    batchId: r.batchId,
    approvalsRequired: r.approvalsRequired,
    approvalsGiven: r.approvalsGiven,
    approvalRule: r.approvalRule,
    meshWideChanges: r.meshWideChanges,
    approvals: r.approvals.map((a) => ({
      approver: a.approver,
      decision: a.decision,
      reason: a.reason,
      at: a.createdAt.toISOString(),
    })),
    lastEventCursor: r.eventSeq,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
    steps: r.steps.map(presentStep),
  };
}

export function presentAuditEvent(e: AuditEvent) {
  return {
    id: eventId(e),
    requestId: e.requestId,
    cursor: e.seq,
    actor: e.actor,
    action: e.action,
    cluster: e.cluster,
    namespace: e.namespace,
    target: e.target,
    step: e.step,
    data: e.data,
    createdAt: e.createdAt.toISOString(),
  };
}

export type PresentedRequest = ReturnType<typeof presentRequest>;
export type PresentedStep = ReturnType<typeof presentStep>;
export type PresentedAuditEvent = ReturnType<typeof presentAuditEvent>;
