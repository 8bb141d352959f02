import { assertNotControlPlane, assertNotReserved } from '../../mesh/namespace-rules.js';
import type { OnboardingStep, StepContext, StepPlan } from './step.js';

/** Finds the mesh and its control plane; refuses namespaces osm-edge never meshes. Read-only. */
export class MeshStep implements OnboardingStep {
  readonly name = 'mesh' as const;
  readonly title = 'Find the mesh and its control plane';

  async plan({ request, mesh }: StepContext): Promise<StepPlan> {
    assertNotReserved(request.namespace);
    const info = await mesh.discover(request.cluster, request.meshName);
    assertNotControlPlane(info, request.namespace);
    return {
      changes: [],
      summary: `mesh ${info.meshName} runs in ${info.controlPlaneNamespace}${info.version ? ` (${info.version})` : ''}`,
      facts: { controlPlaneNamespace: info.controlPlaneNamespace, version: info.version ?? null },
    };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the Step contract is async; this step writes nothing
  async execute(): Promise<{ after?: unknown }> {
    return {}; // read-only: the plan never has changes
  }
}
