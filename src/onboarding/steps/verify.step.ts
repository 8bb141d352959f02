import { DomainError } from '../../common/domain-error.js';
import { expectsSidecar, isInjectedPod } from '../../mesh/osm.js';
import type { Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';
import { desiredInjection, podsOf } from './kit/workloads.js';

interface DeploymentReport {
  deployment: string;
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
 * reports how many running pods still lack (or keep) a sidecar. Read-only. Its first look takes the
 * Deployments the restart step of the same run has just listed and watched (StepContext.seen), so it lists
 * only the pods; later looks (and a resumed request) list both.
 */
export class VerifyStep implements OnboardingStep {
  readonly name = 'verify' as const;
  readonly title = 'Verify the pods are in the mesh';

  async plan(ctx: StepContext): Promise<StepPlan> {
    const { request, tuning } = ctx;
    const restarted = request.options.restart.mode !== 'none' && !ctx.dryRun;
    const deadline = Date.now() + request.options.verify.timeoutSeconds * 1000;
    for (;;) {
      const { reports, diagnostics } = await this.observe(ctx);
      const pending = reports.filter(
        (r) => r.pods !== r.replicas || (r.wantsSidecar ? r.withoutSidecar > 0 : r.inMesh > 0),
      );
      const facts = { deployments: reports, waited: restarted };
      if (!restarted || pending.length === 0) {
        const summary = reports.length
          ? reports.map((r) => `${r.deployment}: ${r.inMesh}/${r.pods} pods with a sidecar`).join('; ')
          : 'no deployments';
        return { changes: [], diagnostics, facts, summary };
      }
      if (Date.now() > deadline) {
        throw new DomainError(
          'VERIFY_FAILED',
          `pods not as wanted after ${request.options.verify.timeoutSeconds}s: ` +
            pending.map((r) => `${r.deployment} (${r.inMesh}/${r.pods} with sidecar, ${r.replicas} wanted)`).join('; '),
          {
            hint: "check the injector (osm-injector logs) and the pods' events; see diagnostics",
            details: { diagnostics, deployments: reports },
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

  private async observe({
    request,
    kube,
    seen,
  }: StepContext): Promise<{ reports: DeploymentReport[]; diagnostics: Diagnostic[] }> {
    // The restart step of this run leaves the Deployments it listed and watched to their end; taken once.
    const known = seen?.deployments;
    if (seen) seen.deployments = undefined;
    const [deployments, pods] = await Promise.all([
      known ?? kube.listDeployments(request.namespace).then((l) => l.items),
      kube.listPods(request.namespace),
    ]);
    const diagnostics: Diagnostic[] = [];
    const reports = deployments.map((d): DeploymentReport => {
      const name = d.metadata!.name!;
      const own = podsOf(d, pods.items).filter((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending');
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
            hint: `kubectl rollout restart deployment/${name} -n ${request.namespace}`,
          });
        }
      }
      return {
        deployment: name,
        replicas: d.spec?.replicas ?? 1,
        pods: own.length,
        inMesh,
        withoutSidecar: own.length - inMesh,
        wantsSidecar,
      };
    });
    return { reports, diagnostics };
  }
}
