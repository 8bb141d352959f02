// Cluster side of the MeshConfig: read it, write a guarded JSON patch, retry on conflict. Shared by the
// api-server-access, api-server-access-removal and traffic-policy steps and the drift scan; the rules that
// plan the edits are pure and live in mesh/mesh-config.ts. Also whether a request's earlier step changed what pods
// only pick up when injected again (restart and verify ask).
import { DomainError } from '../../../common/domain-error.js';
import type { KubeObject } from '../../../common/kube-object.js';
import type { ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import { planExclusionAdd } from '../../../mesh/mesh-config.js';
import { CRD, MESH_CONFIG_NAME } from '../../../mesh/osm.js';
import type { EarlierStep } from '../step.js';

export async function readMeshConfig(kube: ClusterClient, meshNamespace: string): Promise<KubeObject> {
  try {
    return await kube.getCustom(CRD.meshConfig, meshNamespace, MESH_CONFIG_NAME);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') throw meshConfigNotFound(meshNamespace);
    throw err;
  }
}

/** The refusal of a step that needs the mesh's MeshConfig, and of the request-time check (with its `field`). */
export function meshConfigNotFound(meshNamespace: string, field?: string): DomainError {
  return new DomainError('MESH_CONFIG_NOT_FOUND', `MeshConfig ${meshNamespace}/${MESH_CONFIG_NAME} does not exist`, {
    field,
    hint: 'osm-bootstrap recreates it from ConfigMap preset-mesh-config; check that the control plane is healthy',
  });
}

// kube-apiserver answers a JSON patch that cannot be applied (a failed `test`, a path that no longer
// exists) with NewGenericServerResponse(422, …, false) (apiserver endpoints/handlers/patch.go, applyJSPatch):
// reason Invalid, the generic message below and empty details; the json-patch error is not sent at all.
// A schema rejection is also 422 Invalid but says `<Kind> "<name>" is invalid: ...`; it stays INVALID.
const GUARD_FAILED = /the server rejected our request due to an error in our request/i;

/**
 * A failed guard (409, or the 422 of a JSON patch that no longer applies) becomes a CONFLICT the runner
 * re-plans on.
 */
export function asGuardConflict(err: unknown): unknown {
  if (
    err instanceof KubeError &&
    (err.reason === 'CONFLICT' || (err.reason === 'INVALID' && GUARD_FAILED.test(err.message)))
  ) {
    return new KubeError('CONFLICT', `MeshConfig changed since it was read; re-planning (${err.message})`, 409);
  }
  return err;
}

export async function patchMeshConfigGuarded(
  kube: ClusterClient,
  meshNamespace: string,
  ops: unknown,
): Promise<KubeObject> {
  try {
    return await kube.patchCustom({
      ref: CRD.meshConfig,
      namespace: meshNamespace,
      name: MESH_CONFIG_NAME,
      body: ops as object,
      type: 'json',
    });
  } catch (err) {
    throw asGuardConflict(err);
  }
}

/** Retries `fn` on KubeError CONFLICT with jittered exponential backoff (the runner does the same with 5 attempts). */
export async function retryOnConflict<T>(
  fn: () => Promise<T>,
  { attempts = 20, baseMs = 10, maxMs = 500 } = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KubeError && err.reason === 'CONFLICT') || n >= attempts) throw err;
      const cap = Math.min(maxMs, baseMs * 2 ** Math.min(n, 10));
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
  }
}

/**
 * Read → plan → guarded JSON patch, retried on conflict: after it returns, `cidr` is in the
 * exclusion list and no entry written by anyone else was lost.
 */
export async function ensureExclusion(
  kube: ClusterClient,
  meshNamespace: string,
  cidr: string,
  retry?: { attempts?: number; baseMs?: number; maxMs?: number },
): Promise<'added' | 'present'> {
  return retryOnConflict(async () => {
    const mc = await readMeshConfig(kube, meshNamespace);
    const change = planExclusionAdd(mc, cidr);
    if (!change) return 'present';
    await patchMeshConfigGuarded(kube, meshNamespace, change.body);
    return 'added';
  }, retry);
}

/**
 * Whether an earlier step of this request changed a mesh setting that pods only pick up when their
 * sidecar is injected again: the MeshConfig's outboundIPRangeExclusionList, which osm-init turns into
 * iptables rules when a pod starts (semantics §4, §7), i.e. a MeshConfig change of the `ip-exclusion`
 * method. Not the `egress` method's: its feature flag and Egress object are policy the controller
 * pushes to running sidecars (semantics §5, pkg/catalog/egress.go), with no part in osm-init. The
 * namespace marker annotation alone changes nothing in the pods.
 */
export function meshSettingsChanged(earlier: EarlierStep[], method: string | undefined): boolean {
  if (method !== 'ip-exclusion') return false;
  return earlier.some((s) => s.name === 'api-server-access' && (s.changes ?? []).some((t) => t.kind === 'MeshConfig'));
}
