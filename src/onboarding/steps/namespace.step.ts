import type { V1Namespace } from '@kubernetes/client-node';
import { assertNotReserved, assertOnboardable, namespaceImage } from '../../mesh/namespace-rules.js';
import { MONITORED_BY_LABEL, parseInjectionValue, SIDECAR_INJECTION_ANNOTATION } from '../../mesh/osm.js';
import { DomainError } from '../../common/domain-error.js';
import { API_SERVER_SERVICE, assertApiNamespaceOutside, assertNoApiServerEgress } from './kit/api-server.js';
import { preconditioned, readNamespace } from './kit/namespaces.js';
import type { Change, OnboardingStep, StepContext, StepPlan } from './step.js';

/**
 * Guide step 4, `osm namespace add <ns> --mesh-name <mesh> [--disable-sidecar-injection]`:
 * the same strategic merge patch as the CLI, with the namespace's resourceVersion as its precondition. Unlike the
 * CLI, a namespace monitored by another mesh is refused instead of silently taken over (also when its label is set
 * between our read and our write), and an injection annotation that the injector reads
 * differently (or not at all: an invalid value) is corrected instead of skipped. Namespace default (the API
 * Service's) is refused while namespaces of the mesh reach the API server through an Egress (kit/api-server.ts).
 */
export class NamespaceStep implements OnboardingStep {
  readonly name = 'namespace' as const;
  readonly title = 'Add the namespace to the mesh';

  /** The namespace gone, ignored, being deleted, another mesh's or not injectable (earlier steps may write). */
  async preflight(ctx: StepContext): Promise<void> {
    await this.onboardable(ctx);
  }

  async plan(ctx: StepContext): Promise<StepPlan> {
    const { request } = ctx;
    const ns = await this.onboardable(ctx);
    const annotations = ns.metadata?.annotations ?? {};
    const owner = ns.metadata?.labels?.[MONITORED_BY_LABEL];
    const injection = request.options.sidecarInjection;
    const before = {
      labels: { [MONITORED_BY_LABEL]: owner ?? null },
      annotations: { [SIDECAR_INJECTION_ANNOTATION]: annotations[SIDECAR_INJECTION_ANNOTATION] ?? null },
      resourceVersion: ns.metadata?.resourceVersion,
    };
    // Compared as the injector reads it: `true` or `Yes` is `enabled`, and is left as it is.
    if (owner === request.meshName && parseInjectionValue(annotations[SIDECAR_INJECTION_ANNOTATION]) === injection) {
      return {
        changes: [],
        before,
        summary: `namespace ${request.namespace} is already in mesh ${request.meshName} (injection ${injection})`,
      };
    }
    const change: Change = {
      action: 'patch',
      target: { apiVersion: 'v1', kind: 'Namespace', name: request.namespace },
      patchType: 'strategic',
      body: {
        metadata: {
          labels: { [MONITORED_BY_LABEL]: request.meshName },
          annotations: { [SIDECAR_INJECTION_ANNOTATION]: injection },
        },
      },
    };
    return {
      changes: [change],
      before,
      summary:
        owner === request.meshName
          ? `set sidecar injection of ${request.namespace} to ${injection}`
          : `add namespace ${request.namespace} to mesh ${request.meshName} (injection ${injection})`,
    };
  }

  /** The namespace, read now, or the refusal assertOnboardable makes of it. */
  private async onboardable({ request, kube, mesh }: StepContext): Promise<V1Namespace> {
    assertNotReserved(request.namespace);
    const ns = await readNamespace(kube, request.namespace);
    // Only a namespace labelled `name` needs the control plane's namespace (usually cached by the mesh step).
    const controlPlane =
      ns.metadata?.labels?.name === undefined
        ? undefined
        : (await mesh.discover(request.cluster, request.meshName)).controlPlaneNamespace;
    assertOnboardable(ns, request, controlPlane);
    // Namespace default joining the mesh: the namespaces that reach the API server through an Egress would lose it.
    if (
      request.namespace === API_SERVER_SERVICE.namespace &&
      ns.metadata?.labels?.[MONITORED_BY_LABEL] !== request.meshName
    ) {
      await assertNoApiServerEgress(kube, request.meshName);
    }
    return ns;
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    // The resourceVersion the plan read is the patch's precondition (preconditioned, kit/namespaces.ts).
    const body = preconditioned(plan.changes[0].body as { metadata?: object }, plan.before);
    const ns = await kube.patchNamespace(request.namespace, body, 'strategic');
    await this.recheckEgressRule({ kube, request }, plan);
    return { after: namespaceImage(ns) };
  }

  /**
   * The Egress rule (kit/api-server.ts) checked again after the write, as each side of a race checks only before its
   * own: namespace default labelled while an Egress onboarding of the mesh labels its namespace could otherwise both
   * pass. Whichever writes second sees the other's label here, takes its own label back (the plan's before) and is
   * refused with EGRESS_API_SERVER_MONITORED.
   */
  private async recheckEgressRule({ kube, request }: Pick<StepContext, 'kube' | 'request'>, plan: StepPlan) {
    const apiNamespace = request.namespace === API_SERVER_SERVICE.namespace;
    if (!apiNamespace && request.options.apiServerAccess?.method !== 'egress') return;
    try {
      if (apiNamespace) await assertNoApiServerEgress(kube, request.meshName);
      else await assertApiNamespaceOutside(kube, request.meshName);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const before = plan.before as { labels: object; annotations: object };
      await kube.patchNamespace(
        request.namespace,
        { metadata: { ...before, resourceVersion: undefined } },
        'strategic',
      );
      throw err;
    }
  }
}
