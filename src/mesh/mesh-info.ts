// What is known of one mesh on one cluster: found by kubernetes/mesh-discovery.service.ts, checked by the
// pure rules here (namespace-rules.ts). Plain data, so the rules need no cluster access.

export interface MeshInfo {
  meshName: string;
  /** Where this mesh's osm-controller runs (its MeshConfig lives there too). */
  controlPlaneNamespace: string;
  version?: string;
  /** Namespaces running an osm-controller of any mesh: never onboardable. */
  controlPlaneNamespaces: string[];
}
