import { DomainError } from '../../common/domain-error.js';
import { boundDiagnostics, type Diagnostic } from '../../mesh/change.js';
import { analyze, describeDiagnostics, readsSidecarSettings } from '../../mesh/prerequisites.js';
import { sidecarSettingsOf, UNKNOWN_SIDECAR_SETTINGS, type MeshSidecarSettings } from '../../mesh/pod-requirements.js';
import { readMeshConfig } from './kit/mesh-config.js';
import { readNamespace } from './kit/namespaces.js';
import type { OnboardingStep, StepContext, StepPlan } from './step.js';

/*
 * Guide step 1, "application requirements" (docs/osm-edge.md#app-requirements): a read-only analysis of the
 * namespace, in the spirit of `istioctl analyze`; the rules and their codes are in mesh/prerequisites.ts.
 *
 * Blocking: `plan` throws PREREQUISITES_FAILED when there are errors whose codes are not all in
 * `prerequisites.acceptErrors`; accepted errors stay in the diagnostics with `accepted: true`.
 * With `prerequisites.enabled: false` the analysis is still reported but never blocks.
 *
 * API calls per run: 7 reads in parallel — get namespace; list deployments, statefulsets,
 * daemonsets, pods, services, serviceaccounts (one each) — and the MeshConfig when a rule depends on
 * it (a Pod Security level of baseline, a container port 5300/UDP: mesh/prerequisites.ts readsSidecarSettings).
 */
export { PREREQUISITE_CODES, type PrerequisiteCode } from '../../mesh/prerequisites.js';

type Level = Diagnostic['level'];

export class PrerequisitesStep implements OnboardingStep {
  readonly name = 'prerequisites' as const;
  readonly title = 'Check application requirements';

  /** The mesh's interception mode and DNS proxy setting, from its MeshConfig (unknown if it cannot be read). */
  private async sidecarSettings({ request, kube, mesh }: StepContext): Promise<MeshSidecarSettings> {
    try {
      const info = await mesh.discover(request.cluster, request.meshName);
      return sidecarSettingsOf(await readMeshConfig(kube, info.controlPlaneNamespace));
    } catch {
      return UNKNOWN_SIDECAR_SETTINGS;
    }
  }

  async plan(ctx: StepContext): Promise<StepPlan> {
    const { request, kube } = ctx;
    const ns = request.namespace;
    const [namespace, deployments, statefulSets, daemonSets, pods, services, serviceAccounts] = await Promise.all([
      readNamespace(kube, ns),
      kube.listDeployments(ns),
      kube.listStatefulSets(ns),
      kube.listDaemonSets(ns),
      kube.listPods(ns),
      kube.listServices(ns),
      kube.listServiceAccounts(ns),
    ]);
    const inventory = {
      namespace,
      deployments: deployments.items,
      statefulSets: statefulSets.items,
      daemonSets: daemonSets.items,
      pods: pods.items,
      services: services.items,
      serviceAccounts: serviceAccounts.items,
    };
    // The MeshConfig only when a rule depends on it (one more read); unreadable: the stricter reading.
    const sidecar = readsSidecarSettings(inventory) ? await this.sidecarSettings(ctx) : undefined;
    const diagnostics = analyze({ ...inventory, sidecar, metrics: request.options.metrics });

    const accept = new Set(request.options.prerequisites?.acceptErrors ?? []);
    for (const d of diagnostics) if (d.level === 'error' && accept.has(d.code)) d.accepted = true;
    const count = (level: Level) => diagnostics.filter((d) => d.level === level).length;
    const accepted = diagnostics.filter((d) => d.accepted).length;
    const workloads = deployments.items.length + statefulSets.items.length + daemonSets.items.length;
    const facts = {
      workloads,
      pods: pods.items.length,
      services: services.items.length,
      serviceAccounts: serviceAccounts.items.length,
      errors: count('error'),
      warnings: count('warning'),
      infos: count('info'),
      accepted,
    };

    const blocking = diagnostics.filter((d) => d.level === 'error' && !d.accepted);
    const enforced = request.options.prerequisites?.enabled !== false;
    if (blocking.length && enforced) {
      throw new DomainError(
        'PREREQUISITES_FAILED',
        `namespace ${ns} does not meet osm-edge's application requirements: ${describeDiagnostics(blocking)}`,
        {
          hint: 'fix them, or pass prerequisites.acceptErrors: [codes] to proceed anyway (recorded)',
          details: { diagnostics: boundDiagnostics(diagnostics) },
        },
      );
    }

    const summary =
      `${facts.errors} error(s)${accepted ? ` (${accepted} accepted)` : ''}, ${facts.warnings} warning(s), ` +
      `${facts.infos} info in ` +
      `${workloads} workload(s), ${facts.pods} pod(s), ${facts.services} service(s)` +
      (blocking.length ? ` — not enforced (prerequisites.enabled is false): ${describeDiagnostics(blocking)}` : '');
    return { changes: [], summary, diagnostics: boundDiagnostics(diagnostics), facts };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the Step contract is async; this step writes nothing
  async execute(): Promise<{ after?: unknown }> {
    return {}; // read-only: the plan never has changes
  }
}
