// Which settings of a request change the whole mesh (osm-edge's MeshConfig `osm-mesh-config` in the
// control plane's namespace) rather than the request's own namespace. Pure: no I/O, no Nest.
// Such changes need a mesh-level grant (src/auth/scopes.ts hasMeshGrant) or an approval by someone
// who holds one (src/onboarding/approval-policy.ts).

/** A mesh-wide change a request may make, named by what it does to MeshConfig. */
export const MESH_WIDE_CHANGES = {
  'permissive-mode-on':
    'turns on spec.traffic.enablePermissiveTrafficPolicyMode: every namespace may talk to every other',
  'permissive-mode-off':
    'turns off spec.traffic.enablePermissiveTrafficPolicyMode: traffic needs SMI TrafficTargets everywhere',
  'outbound-ip-range-exclusion-add':
    'adds the API server to spec.traffic.outboundIPRangeExclusionList (every sidecar skips it)',
  'outbound-ip-range-exclusion-remove': 'removes the API server from spec.traffic.outboundIPRangeExclusionList',
  'egress-policy-on':
    'turns on spec.featureFlags.enableEgressPolicy: egress then needs Egress policies in every namespace',
} as const;

export type MeshWideChange = keyof typeof MESH_WIDE_CHANGES;

/** The request options this classification reads (a structural subset of onboarding's RequestOptions). */
export interface MeshWideOptions {
  trafficPolicy: { mode: string; switchMeshToSmi?: boolean } | null;
  apiServerAccess: { method: string } | null;
  removeApiServerExclusion: boolean;
}

/** The mesh-wide changes a request asks for, whether or not the cluster already has them (intent, not drift). */
export function meshWideChanges(kind: 'ONBOARD' | 'OFFBOARD', o: MeshWideOptions): MeshWideChange[] {
  const changes: MeshWideChange[] = [];
  if (kind === 'ONBOARD') {
    if (o.trafficPolicy?.mode === 'permissive') changes.push('permissive-mode-on');
    if (o.trafficPolicy?.mode === 'smi' && o.trafficPolicy.switchMeshToSmi === true)
      changes.push('permissive-mode-off');
    if (o.apiServerAccess?.method === 'ip-exclusion') changes.push('outbound-ip-range-exclusion-add');
    if (o.apiServerAccess?.method === 'egress') changes.push('egress-policy-on');
  } else if (o.removeApiServerExclusion) {
    changes.push('outbound-ip-range-exclusion-remove');
  }
  return changes;
}
