import { DomainError } from '../../common/domain-error.js';
import type { MeshInfo } from '../../kubernetes/mesh-discovery.service.js';
import { RESERVED_NAMESPACES } from '../../mesh/osm.js';
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

  async execute(): Promise<{ after?: unknown }> {
    return {}; // read-only: the plan never has changes
  }
}

export function assertNotReserved(namespace: string): void {
  if ((RESERVED_NAMESPACES as readonly string[]).includes(namespace)) {
    throw new DomainError(
      'NAMESPACE_RESERVED',
      `namespace ${namespace} is reserved by Kubernetes and is never part of a mesh`,
      {
        field: 'namespace',
      },
    );
  }
}

export function assertNotControlPlane(info: MeshInfo, namespace: string): void {
  if (namespace === info.controlPlaneNamespace && !info.controlPlaneNamespaces.includes(namespace)) {
    // The mesh's own namespace without a running osm-controller: the injector never injects there either
    // (nonInjectNamespaces in pkg/injector/webhook.go).
    throw new DomainError(
      'NAMESPACE_IS_CONTROL_PLANE',
      `Namespace [${namespace}] is the control plane namespace of mesh [${info.meshName}]; ` +
        'osm-edge never injects sidecars there',
      { field: 'namespace' },
    );
  }
  if (info.controlPlaneNamespaces.includes(namespace)) {
    throw new DomainError(
      'NAMESPACE_IS_CONTROL_PLANE',
      `Namespace [${namespace}] already has [osm-controller] installed and cannot be added to mesh [${info.meshName}]`,
      { field: 'namespace' },
    );
  }
}
