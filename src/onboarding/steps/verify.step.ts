import type { V1Pod } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import { expectsSidecar, isInjectedPod } from '../../mesh/osm.js';
import { boundDiagnostics, DIAGNOSTICS_PER_CODE } from '../../mesh/change.js';
import type { Diagnostic, EarlierStep, OnboardingStep, StepContext, StepPlan } from './step.js';
import { assertNamespaceLive } from './kit/namespaces.js';
import { desiredInjection, podsOf } from './kit/workloads.js';
import { meshSettingsChanged } from './kit/mesh-config.js';

/** A running pod no Deployment of the namespace owns (StatefulSet, DaemonSet, Job, bare pod, …). */
interface OtherPodReport {
  pod: string;
  /** Its controller as `Kind/name` (`none` for a bare pod). */
  owner: string;
  sidecar: boolean;
  wantsSidecar: boolean;
}

interface DeploymentReport {
  deployment: string;
  /** `spec.paused`: no restart touches it (RestartStep skips it with OSM_RESTART_PAUSED), so it is not waited for. */
  paused?: true;
  replicas: number;
  pods: number;
  inMesh: number;
  withoutSidecar: number;
  wantsSidecar: boolean;
}

/**
 * Checks the pods the way `osm proxy get` / the CLI verifier do (an `osm-proxy-uuid` UUID
 * label and a `sidecar` container). After a restart it waits, up to `verify.timeoutSeconds`,
 * for every Deployment's pods to match the request (sidecar in when onboarding, out when
 * offboarding) and fails with coded diagnostics at the deadline. Without a restart it only
 * reports how many running pods still lack (or keep) a sidecar. The namespace's other pods (StatefulSets,
 * DaemonSets, Jobs, bare pods: the service restarts only Deployments) are taken from the same pod list and each
 * one that lacks (or keeps) the sidecar is a warning (`OSM_POD_WITHOUT_SIDECAR` / `OSM_POD_WITH_SIDECAR`) that
 * never fails or delays the step. When this request changed the MeshConfig's exclusion list (the `ip-exclusion`
 * method), each of those pods injected before the change keeps osm-init's old iptables rules until it is re-created
 * (semantics §4): a warning too (`OSM_POD_NOT_REINJECTED`), from the same list. Read-only. Its first look takes
 * the Deployments the restart step of the same run has just listed and watched (StepContext.seen), so it lists only
 * the pods; later looks (and a resumed request) list both.
 */
export class VerifyStep implements OnboardingStep {
  readonly name = 'verify' as const;
  readonly title = 'Verify the pods are in the mesh';

  async plan(ctx: StepContext): Promise<StepPlan> {
    const { request, tuning } = ctx;
    const restarted = request.options.restart.mode !== 'none' && !ctx.dryRun;
    const deadline = Date.now() + request.options.verify.timeoutSeconds * 1000;
    // `selected` restarts the Deployments it names only, and no mode restarts a paused one (OSM_RESTART_PAUSED): the
    // others keep their pods until their next rollout, so they are reported (OSM_DEPLOYMENT_NOT_RESTARTED) and not
    // waited for.
    const { mode, deployments: named } = request.options.restart;
    const waitedFor = (r: DeploymentReport) => !r.paused && (mode !== 'selected' || named.includes(r.deployment));
    const unlike = (r: DeploymentReport) =>
      r.pods !== r.replicas || (r.wantsSidecar ? r.withoutSidecar > 0 : r.inMesh > 0);
    const outOfLine = (o: OtherPodReport) => o.sidecar !== o.wantsSidecar;
    for (;;) {
      const { reports, others, stale, diagnostics } = await this.observe(ctx);
      const pending = reports.filter((r) => waitedFor(r) && unlike(r));
      for (const r of reports.filter((r) => !waitedFor(r) && unlike(r))) {
        const why = r.paused ? 'paused' : 'not in restart.deployments';
        diagnostics.push({
          code: 'OSM_DEPLOYMENT_NOT_RESTARTED',
          level: 'warning',
          object: `Deployment/${r.deployment}`,
          message:
            `${r.deployment}: ${r.inMesh}/${r.pods} pods with a sidecar; ${why}, so not ` +
            `restarted: its pods ${r.wantsSidecar ? 'get' : 'lose'} the sidecar at its next rollout`,
          hint: restartHint(r.deployment, request.namespace, r.paused === true),
        });
      }
      // The other pods by name only up to DIAGNOSTICS_PER_CODE (those out of line first); their counts in full.
      const listed = [...others.filter(outOfLine), ...others.filter((o) => !outOfLine(o))];
      const facts = {
        deployments: reports,
        otherPods: listed.slice(0, DIAGNOSTICS_PER_CODE),
        otherPodCount: others.length,
        waited: restarted,
      };
      if (!restarted || pending.length === 0) {
        const lacking = others.filter((o) => o.wantsSidecar && !o.sidecar).length;
        const keeping = others.filter((o) => !o.wantsSidecar && o.sidecar).length;
        const summary = [
          reports.length
            ? reports.map((r) => `${r.deployment}: ${r.inMesh}/${r.pods} pods with a sidecar`).join('; ')
            : 'no deployments',
          ...(lacking ? [`${lacking} other pod(s) without a sidecar`] : []),
          ...(keeping ? [`${keeping} other pod(s) still with a sidecar`] : []),
          ...(stale ? [`${stale} other pod(s) to re-create for the new exclusion list`] : []),
        ].join('; ');
        return { changes: [], diagnostics: boundDiagnostics(diagnostics), facts, summary };
      }
      if (Date.now() > deadline) {
        throw new DomainError(
          'VERIFY_FAILED',
          `pods not as wanted after ${request.options.verify.timeoutSeconds}s: ` +
            pending.map((r) => `${r.deployment} (${r.inMesh}/${r.pods} with sidecar, ${r.replicas} wanted)`).join('; '),
          {
            hint: "check the injector (osm-injector logs) and the pods' events; see diagnostics",
            details: { diagnostics: boundDiagnostics(diagnostics), deployments: reports },
          },
        );
      }
      await new Promise((r) => setTimeout(r, tuning.pollMs));
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the Step contract is async; this step writes nothing
  async execute(): Promise<{ after?: unknown }> {
    return {}; // read-only
  }

  private async observe({ request, kube, seen, earlier }: StepContext): Promise<{
    reports: DeploymentReport[];
    others: OtherPodReport[];
    /** How many of `others` keep the exclusion list from before this request changed it. */
    stale: number;
    diagnostics: Diagnostic[];
  }> {
    // The restart step of this run leaves the Deployments it listed and watched to their end; taken once.
    const known = seen?.deployments;
    if (seen) seen.deployments = undefined;
    const [deployments, pods] = await Promise.all([
      known ?? kube.listDeployments(request.namespace).then((l) => l.items),
      kube.listPods(request.namespace),
    ]);
    if (deployments.length === 0 && pods.items.length === 0) await assertNamespaceLive(kube, request);
    const diagnostics: Diagnostic[] = [];
    // A pod another controller (StatefulSet, DaemonSet, Job, …) owns is never a Deployment's, even when its labels
    // match a Deployment's selector; a ReplicaSet's (or a bare pod a ReplicaSet would adopt) may be.
    const candidates = pods.items.filter((p) => (ownerOf(p)?.kind ?? 'ReplicaSet') === 'ReplicaSet');
    const claimed = new Set<V1Pod>();
    const reports = deployments.map((d): DeploymentReport => {
      const name = d.metadata!.name!;
      const matched = podsOf(d, candidates);
      for (const p of matched) claimed.add(p);
      const own = matched.filter((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending');
      const wantsSidecar = expectsSidecar(d.spec?.template ?? {}, desiredInjection(request));
      const inMesh = own.filter(isInjectedPod).length;
      for (const p of own) {
        if (isInjectedPod(p) !== wantsSidecar) {
          diagnostics.push({
            code: wantsSidecar ? 'OSM_POD_NOT_INJECTED' : 'OSM_POD_STILL_INJECTED',
            level: 'warning',
            object: `Pod/${p.metadata?.name}`,
            message: wantsSidecar
              ? `Pod ${p.metadata?.name} in namespace ${request.namespace} is not a part of a mesh`
              : `Pod ${p.metadata?.name} still runs a sidecar`,
            hint: restartHint(name, request.namespace, d.spec?.paused === true),
          });
        }
      }
      return {
        deployment: name,
        ...(d.spec?.paused ? { paused: true } : {}),
        replicas: d.spec?.replicas ?? 1,
        pods: own.length,
        inMesh,
        withoutSidecar: own.length - inMesh,
        wantsSidecar,
      };
    });
    const otherPods = pods.items.filter((p) => !claimed.has(p) && isLive(p));
    const others = otherPods.map((p): OtherPodReport => {
      const o = ownerOf(p);
      return {
        pod: p.metadata?.name ?? '',
        owner: o ? `${o.kind}/${o.name}` : 'none',
        sidecar: isInjectedPod(p),
        wantsSidecar: expectsSidecar(p, desiredInjection(request)),
      };
    });
    for (const o of others.filter((r) => r.sidecar !== r.wantsSidecar)) {
      diagnostics.push(otherPodDiagnostic(o, request.namespace));
    }
    // The restart step re-creates the Deployments' pods after an exclusion list change; nothing does these.
    const changedAt = exclusionListChangedAt(earlier, request.options.apiServerAccess?.method);
    const stale =
      changedAt === undefined
        ? []
        : others.filter((o, i) => o.sidecar && o.wantsSidecar && injectedBefore(otherPods[i], changedAt));
    for (const o of stale) diagnostics.push(reinjectDiagnostic(o, request.namespace));
    return { reports, others, stale: stale.length, diagnostics };
  }
}

/** The command that gives a Deployment's pods the sidecar (or takes it away); a paused one is resumed first. */
function restartHint(deployment: string, namespace: string, paused: boolean): string {
  const restart = `kubectl rollout restart deployment/${deployment} -n ${namespace}`;
  return paused ? `kubectl rollout resume deployment/${deployment} -n ${namespace}, then ${restart}` : restart;
}

/** Not finished (Succeeded/Failed) and not being deleted. */
function isLive(p: V1Pod): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

/** The pod's controller (the owner reference marked `controller`, else its first). */
function ownerOf(p: V1Pod): { kind: string; name: string } | undefined {
  const refs = p.metadata?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

/**
 * When this request changed the MeshConfig's outboundIPRangeExclusionList (restart.step's meshSettingsChanged): the
 * end of the step that wrote it, or null in a plan (not written yet: every pod predates it). Undefined: unchanged.
 */
function exclusionListChangedAt(earlier: EarlierStep[], method: string | undefined): Date | null | undefined {
  if (!meshSettingsChanged(earlier, method)) return undefined;
  return earlier.find((s) => s.name === 'api-server-access')?.finishedAt ?? null;
}

/**
 * Created before the change (`null`: a plan, before it): its osm-init ran with the old list. creationTimestamp has
 * whole seconds, so a pod of the change's own second counts as before it: a warning too many rather than one
 * missing (the injector's MeshConfig informer may lag the change by as much).
 */
function injectedBefore(p: V1Pod, changedAt: Date | null): boolean {
  if (changedAt === null) return true;
  const created = p.metadata?.creationTimestamp;
  return created === undefined || new Date(created).getTime() <= changedAt.getTime();
}

/** A pod the service does not restart whose sidecar state is not the request's: a warning, never a failure. */
function otherPodDiagnostic(o: OtherPodReport, namespace: string): Diagnostic {
  const owned = o.owner === 'none' ? 'a bare pod' : `owned by ${o.owner}`;
  return {
    code: o.wantsSidecar ? 'OSM_POD_WITHOUT_SIDECAR' : 'OSM_POD_WITH_SIDECAR',
    level: 'warning',
    object: `Pod/${o.pod}`,
    message:
      `Pod ${o.pod} (${owned}) in namespace ${namespace} ${o.wantsSidecar ? 'runs without' : 'still runs'} ` +
      `a sidecar: only Deployments are restarted; it ${o.wantsSidecar ? 'gets' : 'loses'} the sidecar ` +
      'when it is re-created',
    hint: recreateHint(o, namespace),
  };
}

/**
 * An injected pod the service does not restart, started before this request changed the exclusion list: osm-init
 * programmed its iptables from the list at injection (semantics §4), so its traffic to the API server still goes
 * through the sidecar until it is re-created. A warning, never a failure.
 */
function reinjectDiagnostic(o: OtherPodReport, namespace: string): Diagnostic {
  const owned = o.owner === 'none' ? 'a bare pod' : `owned by ${o.owner}`;
  return {
    code: 'OSM_POD_NOT_REINJECTED',
    level: 'warning',
    object: `Pod/${o.pod}`,
    message:
      `Pod ${o.pod} (${owned}) in namespace ${namespace} keeps the iptables rules of the MeshConfig exclusion ` +
      'list from before this request changed it: only Deployments are restarted; it gets the new list when it ' +
      'is re-created',
    hint: recreateHint(o, namespace),
  };
}

/** The command that re-creates a pod the service does not restart: its controller's rollout, or the pod itself. */
function recreateHint(o: OtherPodReport, namespace: string): string {
  const [kind, name] = o.owner.split('/');
  if (kind === 'StatefulSet' || kind === 'DaemonSet')
    return `kubectl rollout restart ${kind.toLowerCase()}/${name} -n ${namespace}`;
  return o.owner === 'none'
    ? `kubectl get pod ${o.pod} -n ${namespace} -o yaml | kubectl replace --force -f -`
    : `kubectl delete pod ${o.pod} -n ${namespace} (${o.owner} re-creates it)`;
}
