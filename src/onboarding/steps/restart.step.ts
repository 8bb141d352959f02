import type { V1Deployment } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import { RESTARTED_AT_ANNOTATION } from '../../mesh/osm.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';
import { mismatchedPods, podsOf, rolledOut } from './workloads.js';

/**
 * Guide step 5, `kubectl rollout restart deploy/<name>`: the same strategic merge patch of
 * `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` (§10).
 *
 * Reconcile, not a blind restart: a Deployment is restarted only when some of its pods
 * do not yet have the sidecar state the request wants, and the annotation value is this
 * request's creation time, so a retried or resumed step never restarts twice.
 * Paused Deployments are skipped with a warning (kubectl refuses them). Deployments roll
 * in batches of `restart.maxConcurrent`, each batch waited for before the next.
 */
export class RestartStep implements OnboardingStep {
  readonly name = 'restart' as const;
  readonly title = 'Restart the workloads';

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    const { mode, deployments: named } = request.options.restart;
    const token = request.createdAt.toISOString();
    const [deployments, pods] = await Promise.all([kube.listDeployments(request.namespace), kube.listPods(request.namespace)]);
    let targets = deployments.items;
    if (mode === 'selected') {
      const missing = named.filter((n) => !targets.some((d) => d.metadata?.name === n));
      if (missing.length) {
        throw new DomainError('DEPLOYMENT_NOT_FOUND', `no Deployment ${missing.join(', ')} in namespace ${request.namespace}`, {
          field: 'restart.deployments',
        });
      }
      targets = targets.filter((d) => named.includes(d.metadata!.name!));
    }
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    const before: Record<string, string | null> = {};
    const skipped: string[] = [];
    for (const d of mode === 'none' ? [] : targets) {
      const name = d.metadata!.name!;
      const current = d.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? null;
      if (d.spec?.paused) {
        diagnostics.push({
          code: 'OSM_RESTART_PAUSED',
          level: 'warning',
          object: `Deployment/${name}`,
          message: `can't restart paused deployment ${name} (run rollout resume first)`,
          hint: `kubectl rollout resume deployment/${name} -n ${request.namespace}, then restart it`,
        });
        continue;
      }
      const idle = (d.spec?.replicas ?? 1) === 0;
      if (idle || current === token || (podsOf(d, pods.items).length > 0 && mismatchedPods(d, pods.items, request).length === 0)) {
        skipped.push(name);
        continue;
      }
      before[name] = current;
      changes.push({
        action: 'patch',
        target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: request.namespace, name },
        patchType: 'strategic',
        body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: token } } } } },
      });
    }
    return {
      changes,
      before,
      diagnostics,
      facts: { mode, restart: changes.map((c) => c.target.name), alreadyAsWanted: skipped },
      summary:
        mode === 'none'
          ? 'no restart requested'
          : changes.length
            ? `restart ${changes.map((c) => c.target.name).join(', ')}`
            : `nothing to restart (${skipped.length} deployment(s) already as wanted)`,
    };
  }

  async execute(ctx: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    await settle(ctx);
    const { maxConcurrent } = ctx.request.options.restart;
    const after: Record<string, string> = {};
    for (let i = 0; i < plan.changes.length; i += maxConcurrent) {
      const batch = plan.changes.slice(i, i + maxConcurrent);
      const patched = await Promise.all(
        batch.map((c) => ctx.kube.patchDeployment(ctx.request.namespace, c.target.name, c.body as object, 'strategic')),
      );
      for (const d of patched) after[d.metadata!.name!] = d.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? '';
      await waitForRollout(ctx, patched);
    }
    return { after };
  }
}

/** §11: the injector learns about a freshly labelled namespace from an informer; give it a moment. */
async function settle({ earlier, tuning }: StepContext): Promise<void> {
  const labelled = earlier.find((s) => (s.name === 'namespace' || s.name === 'namespace-removal') && s.result === 'CHANGED');
  const since = labelled?.finishedAt ? Date.now() - labelled.finishedAt.getTime() : Infinity;
  if (since < tuning.restartSettleMs) await new Promise((r) => setTimeout(r, tuning.restartSettleMs - since));
}

async function waitForRollout({ kube, request, tuning }: StepContext, deployments: V1Deployment[]): Promise<void> {
  const deadline = Date.now() + tuning.rolloutTimeoutMs;
  let pending = deployments.map((d) => d.metadata!.name!);
  while (pending.length) {
    const fresh = await Promise.all(pending.map((n) => kube.getDeployment(request.namespace, n)));
    pending = fresh.filter((d) => !rolledOut(d)).map((d) => d.metadata!.name!);
    if (!pending.length) return;
    if (Date.now() > deadline) {
      throw new DomainError('ROLLOUT_TIMEOUT', `rollout of ${pending.join(', ')} did not finish within ${tuning.rolloutTimeoutMs} ms`, {
        hint: `kubectl rollout status deployment/${pending[0]} -n ${request.namespace}`,
      });
    }
    await new Promise((r) => setTimeout(r, tuning.pollMs));
  }
}
