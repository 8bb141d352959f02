import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import { expectsSidecar, isInjectedPod, RESTARTED_AT_ANNOTATION } from '../../mesh/osm.js';
import { RESTARTED_BY_ANNOTATION } from '../../mesh/ownership.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan, StepRequest } from './step.js';
import { desiredInjection, mismatchedPods, podsOf } from './kit/workloads.js';
import { followRollouts, rolloutStatus } from './kit/rollout.js';
import { assertNamespaceLive } from './kit/namespaces.js';
import { meshSettingsChanged } from './kit/mesh-config.js';

/** Why the plan restarts or skips one Deployment (facts.deployments; the plan shows it). */
export interface RestartDecision {
  deployment: string;
  restart: boolean;
  reason: string;
}

/**
 * Guide step 5, `kubectl rollout restart deploy/<name>`: the same strategic merge patch of
 * `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` (semantics §10).
 *
 * Modes: `all` is kubectl's `rollout restart deployment` (every Deployment of the namespace), `selected` its
 * `rollout restart deploy/<a> deploy/<b>` (the named ones), both unconditionally; `needed` only restarts what has
 * to be restarted: Deployments whose pods do not have the sidecar state the request wants and, when this request
 * changed the API server exclusion list, every Deployment whose pods carry a sidecar (osm-init programs iptables
 * at pod start, semantics §4; an Egress policy reaches running sidecars without one). The annotation value is this
 * request's creation time in kubectl's format (RFC 3339, whole seconds), written with the request's id
 * (RESTARTED_BY_ANNOTATION), so a retried or resumed step never restarts a Deployment twice and two requests in
 * one second still both restart. Paused Deployments are skipped with a warning (kubectl refuses them). Deployments
 * roll in batches of `restart.maxConcurrent`, each batch followed to the end (kubectl's `rollout status` rule, one
 * watch per batch: kit/rollout.ts) before the next. A retried step also follows, to their end, the rollouts an
 * earlier attempt started that have not finished (a watch that failed, a progress deadline that passed: that one
 * fails again with ROLLOUT_TIMEOUT, as `kubectl rollout status` would).
 */
export class RestartStep implements OnboardingStep {
  readonly name = 'restart' as const;
  readonly title = 'Restart the workloads';

  /** `selected`: a named Deployment that does not exist (the namespace step writes first). One list, only then. */
  async preflight({ request, kube }: StepContext): Promise<void> {
    const { mode, deployments: named } = request.options.restart;
    if (mode !== 'selected') return;
    assertDeploymentsExist(named, (await kube.listDeployments(request.namespace)).items, request.namespace);
  }

  async plan({ request, kube, earlier, dryRun, seen }: StepContext): Promise<StepPlan> {
    const { mode, deployments: named } = request.options.restart;
    const token = restartedAt(request.createdAt);
    // Only `needed` looks at the pods: `all` and `selected` restart whatever the pods are.
    const [deployments, pods] = await Promise.all([
      kube.listDeployments(request.namespace),
      mode === 'needed' ? kube.listPods(request.namespace) : undefined,
    ]);
    if (mode !== 'none' && deployments.items.length === 0) await assertNamespaceLive(kube, request);
    if (seen && !dryRun) seen.deployments = deployments.items;
    let targets = deployments.items;
    if (mode === 'selected') {
      assertDeploymentsExist(named, targets, request.namespace);
      targets = targets.filter((d) => named.includes(d.metadata!.name!));
    }
    const reinject = meshSettingsChanged(earlier, request.options.apiServerAccess?.method);
    const stamp = { [RESTARTED_AT_ANNOTATION]: token, [RESTARTED_BY_ANNOTATION]: request.id };
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    const before: Record<string, string | null> = {};
    const decisions: RestartDecision[] = [];
    /** Restarted by an earlier attempt of this request, their rollouts not finished: followed again (execute). */
    const following: string[] = [];
    for (const d of mode === 'none' ? [] : targets) {
      const name = d.metadata!.name!;
      const annotations = d.spec?.template?.metadata?.annotations ?? {};
      const current = annotations[RESTARTED_AT_ANNOTATION] ?? null;
      const ours = current === token && annotations[RESTARTED_BY_ANNOTATION] === request.id;
      if (d.spec?.paused) {
        diagnostics.push({
          code: 'OSM_RESTART_PAUSED',
          level: 'warning',
          object: `Deployment/${name}`,
          message: `can't restart paused deployment ${name} (run rollout resume first)`,
          hint: `kubectl rollout resume deployment/${name} -n ${request.namespace}, then restart it`,
        });
        decisions.push({ deployment: name, restart: false, reason: 'paused (kubectl refuses to restart it)' });
        continue;
      }
      if (ours && !rolloutStatus(d).done) following.push(name);
      const decision = ours
        ? { restart: false, reason: `already restarted by this request (restartedAt ${token})` }
        : decide(mode, d, pods?.items ?? [], { request, reinject });
      decisions.push({ deployment: name, ...decision });
      if (!decision.restart) continue;
      before[name] = current;
      changes.push({
        action: 'patch',
        target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: request.namespace, name },
        patchType: 'strategic',
        body: { spec: { template: { metadata: { annotations: stamp } } } },
      });
    }
    const restart = changes.map((c) => c.target.name);
    const skipped = decisions.filter((d) => !d.restart);
    const skips = skipped.map((d) => `${d.deployment} (${d.reason})`).join(', ');
    const follow = following.length ? `; follow the rollout of ${following.join(', ')} to its end` : '';
    return {
      changes,
      before,
      diagnostics,
      facts: {
        mode,
        restartedAt: token,
        meshSettingsChanged: reinject,
        restart,
        alreadyAsWanted: skipped.map((d) => d.deployment),
        deployments: decisions,
        following,
      },
      summary:
        (mode === 'none'
          ? 'no restart requested'
          : changes.length
            ? `restart ${restart.join(', ')}${skips ? `; skip ${skips}` : ''}`
            : `nothing to restart: ${skips || 'no deployments'}`) + follow,
      // A retried step (a watch that failed, a progress deadline passed) follows what it started to its end, as
      // `kubectl rollout status` would, rather than call a rollout that never became available done.
      ...(following.length && !dryRun ? { pending: `the rollout of ${following.join(', ')}` } : {}),
    };
  }

  async execute(ctx: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    await settle(ctx);
    const { maxConcurrent } = ctx.request.options.restart;
    const { rolloutTimeoutMs: timeoutMs, pollMs } = ctx.tuning;
    const after: Record<string, string> = {};
    const rolled = new Map<string, V1Deployment>();
    const { namespace } = ctx.request;
    /** Like `kubectl rollout status` for each, with one watch for the batch (kit/rollout.ts). */
    const follow = async (batch: V1Deployment[]) => {
      const done = await followRollouts(ctx.kube, batch, { deadline: Date.now() + timeoutMs, timeoutMs, pollMs });
      for (const d of done) rolled.set(d.metadata!.name!, d);
    };
    // Rollouts an earlier attempt of this request started and that have not finished are the batches in flight:
    // followed to their end before any new batch starts, as the first attempt would have (restart.maxConcurrent).
    for (const names of inBatches((plan.facts?.following as string[] | undefined) ?? [], maxConcurrent))
      await follow(await Promise.all(names.map((name) => ctx.kube.getDeployment(namespace, name))));
    for (const batch of inBatches(plan.changes, maxConcurrent)) {
      const patched = await Promise.all(
        batch.map((c) => ctx.kube.patchDeployment(namespace, c.target.name, c.body as object, 'strategic')),
      );
      for (const d of patched)
        after[d.metadata!.name!] = d.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? '';
      await follow(patched);
    }
    // What verify may use instead of listing the Deployments again: the plan's list, rolled-out ones as last watched.
    if (ctx.seen) ctx.seen.deployments = ctx.seen.deployments?.map((d) => rolled.get(d.metadata!.name!) ?? d);
    return { after };
  }
}

/** `items` in consecutive batches of `size` (the last one shorter). */
function inBatches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Every name in `restart.deployments` must exist (also checked by the API when the request is made). */
export function assertDeploymentsExist(named: string[], deployments: V1Deployment[], namespace: string): void {
  const missing = named.filter((n) => !deployments.some((d) => d.metadata?.name === n));
  if (missing.length) {
    throw new DomainError('DEPLOYMENT_NOT_FOUND', `no Deployment ${missing.join(', ')} in namespace ${namespace}`, {
      field: 'restart.deployments',
    });
  }
}

/**
 * kubectl's `time.Now().Format(time.RFC3339)`: whole seconds, no fraction (semantics §10), taken from
 * the request's creation time rather than the clock, so every attempt of one request writes the same value.
 */
export function restartedAt(createdAt: Date): string {
  return createdAt.toISOString().replace(/\.\d+Z$/, 'Z');
}

function decide(
  mode: 'all' | 'selected' | 'needed' | 'none',
  d: V1Deployment,
  pods: V1Pod[],
  { request, reinject }: { request: StepRequest; reinject: boolean },
): { restart: boolean; reason: string } {
  if (mode === 'all') return { restart: true, reason: 'restart.mode all: every Deployment, once per request' };
  if (mode === 'selected') return { restart: true, reason: 'named in restart.deployments' };
  if ((d.spec?.replicas ?? 1) === 0) return { restart: false, reason: 'scaled to 0 replicas: no pods to re-create' };
  const own = podsOf(d, pods);
  const mismatched = mismatchedPods(d, pods, request);
  if (mismatched.length > 0) {
    const wants = expectsSidecar(d.spec?.template ?? {}, desiredInjection(request));
    const state = wants ? 'lack' : 'still run';
    return { restart: true, reason: `${mismatched.length}/${own.length} pod(s) ${state} the sidecar` };
  }
  if (reinject && own.some(isInjectedPod)) {
    return {
      restart: true,
      reason:
        'this request changed the API server exclusion list; ' +
        'injected pods keep the old iptables rules until re-created',
    };
  }
  if (own.length === 0) return { restart: false, reason: 'no running pods' };
  return { restart: false, reason: 'pods already as wanted' };
}

/**
 * §11: the injector learns about a freshly labelled or annotated namespace from an informer; give it a moment. The
 * namespace steps change its label and injection annotation, the metrics step its `openservicemesh.io/metrics`
 * annotation (which decides the Prometheus annotations of the pods injected next).
 */
const CHANGES_WHAT_THE_INJECTOR_READS = new Set(['namespace', 'namespace-removal', 'metrics']);

async function settle({ earlier, tuning }: StepContext): Promise<void> {
  const labelled = earlier
    .filter((s) => CHANGES_WHAT_THE_INJECTOR_READS.has(s.name) && s.result === 'CHANGED')
    .sort((a, b) => (b.finishedAt?.getTime() ?? 0) - (a.finishedAt?.getTime() ?? 0))[0];
  const since = labelled?.finishedAt ? Date.now() - labelled.finishedAt.getTime() : Infinity;
  if (since < tuning.restartSettleMs) await new Promise((r) => setTimeout(r, tuning.restartSettleMs - since));
}
