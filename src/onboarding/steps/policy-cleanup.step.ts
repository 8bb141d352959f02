import type { KubeObject } from '../../common/kube-object.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import { apiVersionOf, isOwned, objectImage, OWNED_POLICY_KINDS, OWNED_SELECTOR } from '../../mesh/ownership.js';
import { writeCustomChange } from './kit/custom-objects.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

/** Deletion order: the reverse of creation (TrafficSplits and TrafficTargets before the routes they name). */
const DELETION_ORDER = [...OWNED_POLICY_KINDS].reverse();

/**
 * Offboarding (`deleteOwnedPolicies`): deletes every Egress and SMI object in the namespace that
 * carries `app.kubernetes.io/managed-by=osm-onboarding`, i.e. that this service created (the
 * api-server-access Egress and the traffic-policy SMI objects, whichever request made them).
 * Objects created by anyone else are never touched, also when one replaces ours between the plan and the delete
 * (each delete is preconditioned on the resourceVersion the plan read). One list per kind, one delete per object.
 */
export class PolicyCleanupStep implements OnboardingStep {
  readonly name = 'policy-cleanup' as const;
  readonly title = 'Delete the policies this service created';

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    if (!request.options.deleteOwnedPolicies) return { changes: [], summary: 'policy deletion not requested' };
    const diagnostics: Diagnostic[] = [];
    const found: KubeObject[][] = await Promise.all(
      DELETION_ORDER.map(async (ref) => {
        try {
          return (await kube.listCustom(ref, request.namespace, OWNED_SELECTOR)).items;
        } catch (err) {
          // The CRD is not served: nothing of that kind can exist.
          if (err instanceof KubeError && (err.reason === 'NOT_SERVED' || err.reason === 'NOT_FOUND')) {
            diagnostics.push({
              code: 'CRD_NOT_SERVED',
              level: 'info',
              message: `${ref.plural}.${ref.group}/${ref.version} is not served by the cluster`,
            });
            return [];
          }
          throw err;
        }
      }),
    );
    const doomed = DELETION_ORDER.flatMap((ref, i) => found[i].filter(isOwned).map((obj) => ({ ref, obj })));
    const changes: Change[] = doomed.map(({ ref, obj }) => ({
      action: 'delete',
      target: {
        apiVersion: apiVersionOf(ref),
        kind: ref.kind,
        namespace: request.namespace,
        name: obj.metadata?.name ?? '',
      },
    }));
    return {
      changes,
      summary: changes.length
        ? `delete ${changes.map((c) => `${c.target.kind} ${c.target.name}`).join(', ')} from ${request.namespace}`
        : `no policies created by osm-onboarding in ${request.namespace}`,
      before: doomed.map(({ obj }) => objectImage(obj)),
      diagnostics,
      facts: { deleted: changes.map((c) => `${c.target.kind}/${c.target.name}`) },
    };
  }

  async execute({ kube }: StepContext, plan: StepPlan): Promise<{ after?: unknown }> {
    // `before` holds each deleted object's image, in the order of the changes: its resourceVersion is the delete's
    // precondition, so an object someone re-created under that name (not ours) since the plan is not deleted.
    const read = (plan.before ?? []) as { metadata?: { resourceVersion?: string } }[];
    for (const [i, change] of plan.changes.entries()) {
      await writeCustomChange(kube, change, read[i]?.metadata); // a 404 means already gone
    }
    return { after: [] };
  }
}
