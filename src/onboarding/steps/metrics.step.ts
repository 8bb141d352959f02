import { METRICS_ANNOTATION, parseMetricsValue, PROMETHEUS_ANNOTATIONS, PROXY_UUID_LABEL } from '../../mesh/osm.js';
import { readNamespace } from './kit/namespaces.js';
import type { Change, OnboardingStep, StepContext, StepPlan } from './step.js';

/**
 * `osm metrics enable --namespace <ns>` (docs/osm-edge.md#metrics): the namespace's `openservicemesh.io/metrics`
 * annotation, then the Prometheus scrape annotations on every already-injected pod (pods
 * injected later get them from the injector). Runs after the namespace step, so the
 * CLI's "does not belong to a mesh" check is already satisfied. Unlike the CLI, an annotation the injector already
 * reads as on (`yes`, `true`, any case) is left as it is.
 */
export class MetricsStep implements OnboardingStep {
  readonly name = 'metrics' as const;
  readonly title = 'Enable metrics scraping';

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    const [ns, pods] = await Promise.all([
      readNamespace(kube, request.namespace),
      kube.listPods(request.namespace, PROXY_UUID_LABEL),
    ]);
    const changes: Change[] = [];
    const current = ns.metadata?.annotations?.[METRICS_ANNOTATION] ?? null;
    // A value the injector reads as on (`yes`, `True`) is kept: nothing to change.
    if (parseMetricsValue(current ?? undefined) !== 'enabled') {
      changes.push({
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Namespace', name: request.namespace },
        patchType: 'strategic',
        body: { metadata: { annotations: { [METRICS_ANNOTATION]: 'enabled' } } },
      });
    }
    const stale = pods.items.filter((p) =>
      Object.entries(PROMETHEUS_ANNOTATIONS).some(([k, v]) => p.metadata?.annotations?.[k] !== v),
    );
    for (const p of stale) {
      changes.push({
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Pod', namespace: request.namespace, name: p.metadata!.name! },
        patchType: 'strategic',
        body: { metadata: { annotations: { ...PROMETHEUS_ANNOTATIONS } } },
      });
    }
    return {
      changes,
      before: { namespaceAnnotation: current, podsWithoutScrapeAnnotations: stale.map((p) => p.metadata?.name) },
      facts: { injectedPods: pods.items.length },
      summary: changes.length
        ? `enable metrics on ${request.namespace} and ${stale.length} injected pod(s)`
        : 'metrics already enabled',
    };
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    for (const c of plan.changes) {
      if (c.target.kind === 'Namespace') await kube.patchNamespace(request.namespace, c.body as object, 'strategic');
      else await kube.patchPod(request.namespace, c.target.name, c.body as object, 'strategic');
    }
    return {
      after: {
        namespaceAnnotation: 'enabled',
        podsPatched: plan.changes.filter((c) => c.target.kind === 'Pod').length,
      },
    };
  }
}
