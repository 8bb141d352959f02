// Re-apply the last successful onboarding of a namespace as a new request (after it drifted, say): the
// same options, validated, authorized, approved and run like any onboarding request.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import type { IdempotencyKey } from '../common/idempotency-key.js';
import type { Actor } from '../auth/actor.js';
import { assertRole, assertScope } from '../auth/scopes.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { DomainError } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { namespaceName, type RequestOptions, RestartSchema, restartRules } from '../onboarding/onboarding.input.js';
import { parseInput } from '../common/parse-input.js';
import { CreateResult, OnboardingService } from '../onboarding/onboarding.service.js';

/**
 * What a caller may change when re-applying: how to restart, and whether to only plan it. Checked as an onboarding's
 * fields are, before anything is looked up; a field sent as null is one left out (as GraphQL's arguments are).
 */
export const ReapplySchema = z
  .strictObject({
    restart: RestartSchema.nullish().describe(
      'Replaces the stored restart options (as `restart` in OnboardingInput); omitted (or null) keeps them.',
    ),
    dryRun: z
      .boolean({ error: 'must be true or false' })
      .nullish()
      .describe('Store the request as PLANNED with its plan instead of queueing it.'),
  })
  .superRefine((v, ctx) => restartRules(v.restart, ctx), { when: () => true })
  .meta({ id: 'ReapplyInput', description: 'What may change when re-applying an onboarding.' });

export const REAPPLY_EVENT = 'request.reapply';

/** The onboarding input that yields `options` again (what onboardingOptions normalized). */
export function inputFromOptions(
  target: { cluster: string; namespace: string; meshName: string },
  o: Partial<RequestOptions>,
): Record<string, unknown> {
  const restart = o.restart;
  return {
    cluster: target.cluster,
    namespace: target.namespace,
    meshName: target.meshName,
    sidecarInjection: o.sidecarInjection,
    prerequisites: o.prerequisites,
    trafficPolicy: o.trafficPolicy ?? undefined,
    apiServerAccess: o.apiServerAccess ?? undefined,
    appProtocols: o.appProtocols?.length ? o.appProtocols : undefined,
    restart:
      restart && restart.mode !== 'none'
        ? {
            mode: restart.mode,
            ...(restart.mode === 'selected' ? { deployments: restart.deployments } : {}),
            maxConcurrent: restart.maxConcurrent,
          }
        : undefined,
    verify: o.verify,
    metrics: o.metrics,
  };
}

@Injectable()
export class ReapplyService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly gateway: ClusterGateway,
    private readonly onboarding: OnboardingService,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * A new onboarding request with the options of the target's last successful request, which must be
   * an onboarding (NOTHING_TO_REAPPLY otherwise). `restart` replaces the stored restart options. The
   * new request's trail says what it re-applies (`request.reapply`, with the drift seen, if any).
   */
  async reapply(
    where: { cluster: string; namespace: string },
    body: unknown,
    actor: Actor,
    key?: IdempotencyKey,
  ): Promise<CreateResult> {
    const { cluster, namespace } = where;
    // The body first, as a new request's: a bad one is refused (422) whatever the namespace's history.
    const overrides = parseInput(ReapplySchema, body ?? {});
    // The path's namespace as a request's: `Team_A` or `a/b` is 422, not "nothing to re-apply" (an outside audit).
    parseInput(z.strictObject({ namespace: namespaceName }), { namespace });
    // Then authorization (as for creating a request: the role before the cluster is looked up), so the answer says
    // nothing about clusters to a caller without the role, nor about targets out of scope.
    assertRole(actor, 'requester');
    const target = this.gateway.resolve(cluster);
    assertScope(actor, target, namespace);
    const last = await this.prisma.onboardingRequest.findFirst({
      where: { cluster: target, namespace, status: 'SUCCEEDED' },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    if (!last || last.kind !== 'ONBOARD') {
      throw new DomainError(
        'NOTHING_TO_REAPPLY',
        last
          ? `the last successful request for ${target}/${namespace} (${last.id}) is an offboarding: ` +
              'there is no onboarding to re-apply'
          : `${target}/${namespace} has no successful onboarding to re-apply`,
        { field: 'namespace', details: { lastSuccessfulRequestId: last?.id ?? null } },
      );
    }
    const input = {
      ...inputFromOptions(
        { cluster: target, namespace, meshName: last.meshName },
        last.options as Partial<RequestOptions>,
      ),
      ...(overrides.restart !== undefined && overrides.restart !== null ? { restart: overrides.restart } : {}),
      ...(overrides.dryRun ? { dryRun: true } : {}),
    };
    // The re-apply's own event is written before the request is enqueued: written after, it changed the request
    // under the worker's claim, which then left it to the sweeper (about 10 s later).
    const recorded = async (request: { id: string }) => {
      const key = { cluster_namespace: { cluster: target, namespace } };
      // Only a drift measured against the request re-applied now: one against an older request (already fixed by a
      // re-apply, and forgotten only at the next scan) is not this namespace's state (an outside audit).
      const found = await this.prisma.namespaceDrift.findUnique({ where: key });
      const drift = found?.requestId === last.id ? found : null;
      const event = await this.prisma.$transaction((tx) =>
        this.audit.append(tx, {
          requestId: request.id,
          actor: actor.id,
          action: REAPPLY_EVENT,
          cluster: target,
          namespace,
          target: `namespaces/${namespace}`,
          data: {
            message:
              `re-applies onboarding ${last.id}, the last successful one for ${target}/${namespace}` +
              (drift ? ' (the namespace had drifted)' : ''),
            reappliedFrom: last.id,
            drift: drift ? { changes: drift.changes, detectedAt: drift.detectedAt.toISOString() } : null,
          },
        }),
      );
      return [event];
    };
    const result = await this.onboarding.requestOnboarding(input, actor, key, recorded);
    return result;
  }
}
