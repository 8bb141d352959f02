import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import type { KubeObject } from '../../common/kube-object.js';
import { forEachListed, type ClusterClient } from '../../kubernetes/cluster-client.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import {
  exclusionAddedByUs,
  exclusionList,
  exclusionListDiagnostics,
  planExclusionAdd,
  planExclusionRemove,
} from '../../mesh/mesh-config.js';
import { MESH_CONFIG_NAME, MONITORED_BY_LABEL } from '../../mesh/osm.js';
import {
  API_SERVER_ACCESS_ANNOTATION,
  API_SERVER_ACCESS_IP_EXCLUSION,
  API_SERVER_ACCESS_LEAVING,
  EXCLUSION_ADDED_ANNOTATION,
} from '../../mesh/ownership.js';
import { discoverApiServer } from './kit/api-server.js';
import { patchMeshConfigGuarded, readMeshConfig } from './kit/mesh-config.js';
import { readNamespace } from './kit/namespaces.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

/**
 * Who "still needs" the API server's exclusion entry: every OTHER namespace that
 * - carries `osm-onboarding.flomesh.io/api-server-access: ip-exclusion` (written by api-server-access,
 *   method ip-exclusion), and
 * - is monitored by the same mesh, or by no mesh at all (api-server-access runs before the namespace
 *   step, so a namespace being onboarded right now is not labelled yet; a namespace offboarded without
 *   `removeApiServerExclusion` keeps its claim until it is offboarded with it), and
 * - is not being deleted.
 * Namespaces of other meshes do not count: each mesh has its own MeshConfig.
 */
export function needsExclusion(ns: V1Namespace, self: string, meshName: string): boolean {
  if (ns.metadata?.name === self) return false;
  if (ns.metadata?.annotations?.[API_SERVER_ACCESS_ANNOTATION] !== API_SERVER_ACCESS_IP_EXCLUSION) return false;
  if (ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return false;
  const mesh = ns.metadata?.labels?.[MONITORED_BY_LABEL];
  return mesh === undefined || mesh === meshName;
}

export async function namespacesNeedingExclusion(
  kube: ClusterClient,
  self: string,
  meshName: string,
): Promise<string[]> {
  const names: string[] = [];
  await forEachListed(
    (page) => kube.listNamespaces(page),
    (ns) => {
      if (needsExclusion(ns, self, meshName)) names.push(ns.metadata!.name!);
    },
  );
  return names.sort();
}

interface Facts {
  apiServerIp: string;
  cidr: string;
  meshConfigNamespace: string | null;
  /**
   * How many other namespaces rely on the entry. A count, never their names: a step's output reaches whoever may read
   * this request (plans, the request, its audit trail, its events), and a caller scoped to this namespace must not
   * learn the names of namespaces outside its scopes (docs/governance.md).
   */
  neededBy: number;
  /** This namespace carried the mark (API_SERVER_ACCESS_ANNOTATION): only then may its offboarding remove the entry. */
  claimed: boolean;
  /** The MeshConfig says osm-onboarding added the entry (EXCLUSION_ADDED_ANNOTATION): only then may it be removed. */
  addedByUs: boolean;
  [key: string]: unknown;
}

/**
 * Offboarding (`removeApiServerExclusion`): the counterpart of api-server-access (ip-exclusion).
 *
 * Rule: clear this namespace's annotation; then `<apiServerIP>/32` stays in the MeshConfig exclusion
 * list exactly while another namespace needs it (see `needsExclusion`). So the entry is removed only
 * when nobody else needs it, with a JSON patch that tests the resourceVersion and the value at each
 * index it removes (all exact duplicates go). In the rare case where it is missing while another
 * namespace needs it (a concurrent removal lost the race, below) the plan puts it back.
 *
 * Concurrency: the need is recorded on namespaces while the entry lives on the MeshConfig, so no
 * single resourceVersion covers both. After writing, execute re-lists the namespaces and re-reads the
 * MeshConfig; if "needed" and "present" disagree (an onboarding marked its namespace after our list,
 * or a concurrent offboarding cleared the last other claim) it raises CONFLICT and the runner
 * re-plans. api-server-access writes the annotation before it checks the list, so either it sees
 * our removal and re-adds the entry, or our re-check sees its annotation and restores it.
 *
 * The entry is not removed by anything else: other entries, and ranges that happen to cover the IP,
 * are left alone; only the offboarding of a namespace that carries the mark removes it (an entry put there by
 * hand, as the guide's step 3 does, is not taken away by offboarding a namespace that never relied on it through
 * us); and only when osm-onboarding added it (EXCLUSION_ADDED_ANNOTATION on the MeshConfig, written with the entry):
 * an entry that was there before a namespace relied on it through us stays when the last such namespace leaves,
 * since namespaces meshed by hand may rely on it. The list change is written before the mark is cleared, so a
 * conflict on the MeshConfig re-plans with the mark still there. The mark is cleared in two writes: `leaving` before
 * the re-check (the other namespaces' re-checks no longer count it), gone after it; so a re-check that raises CONFLICT
 * (two last claimants offboarded at once, each seeing the other leave) re-plans with the claim still known, and the
 * entry goes. A missing entry that another namespace needs is put back whoever offboards (and recorded as ours).
 */
export class ApiServerAccessRemovalStep implements OnboardingStep {
  readonly name = 'api-server-access-removal' as const;
  readonly title = 'Remove the API server exclusion';

  /**
   * What this step's plan would refuse, before namespace-removal and policy-cleanup write: the API server's address
   * unknown (API_SERVER_NOT_FOUND), or a MeshConfig the cluster does not serve (KUBE_RESOURCE_NOT_SERVED: its CRD
   * missing); a mesh or MeshConfig that is gone is no refusal (the plan warns and clears the mark).
   */
  async preflight({ request, kube, mesh }: StepContext): Promise<void> {
    if (!request.options.removeApiServerExclusion) return;
    await discoverApiServer(kube);
    await this.meshConfig({ kube, mesh, request }, []);
  }

  async plan({ request, kube, mesh }: StepContext): Promise<StepPlan> {
    if (!request.options.removeApiServerExclusion)
      return { changes: [], summary: 'API server exclusion removal not requested' };
    const ns = await readNamespace(kube, request.namespace);
    const own = ns.metadata?.annotations?.[API_SERVER_ACCESS_ANNOTATION];
    const api = await discoverApiServer(kube);
    const diagnostics: Diagnostic[] = [];
    const mc = await this.meshConfig({ kube, mesh, request }, diagnostics);
    const neededBy = await namespacesNeedingExclusion(kube, request.namespace, request.meshName);
    const others = otherNamespaces(neededBy.length);
    const facts: Facts = {
      apiServerIp: api.ip,
      cidr: api.cidr,
      meshConfigNamespace: mc?.metadata?.namespace ?? null,
      neededBy: neededBy.length,
      claimed: own !== undefined,
      addedByUs: mc ? exclusionAddedByUs(mc) === api.cidr : false,
    };

    const changes: Change[] = [];
    let summary = '';
    if (mc) {
      diagnostics.push(...exclusionListDiagnostics(mc));
      const present = exclusionList(mc)?.includes(api.cidr) ?? false;
      if (neededBy.length === 0 && present && own === undefined) {
        summary = `keep ${api.cidr}: ${request.namespace} never relied on it through osm-onboarding`;
        diagnostics.push({
          code: 'API_SERVER_EXCLUSION_NOT_CLAIMED',
          level: 'info',
          object: `meshconfigs/${MESH_CONFIG_NAME}`,
          message:
            `${api.cidr} is in the exclusion list, but ${request.namespace} does not carry the mark of a namespace ` +
            'that relies on it (it was onboarded without ip-exclusion, or the entry was added by hand): left as it is',
        });
      } else if (neededBy.length === 0 && present && !facts.addedByUs) {
        summary = `keep ${api.cidr}: it was in the exclusion list before osm-onboarding relied on it`;
        diagnostics.push({
          code: 'API_SERVER_EXCLUSION_NOT_OURS',
          level: 'info',
          object: `meshconfigs/${MESH_CONFIG_NAME}`,
          message:
            `${api.cidr} was in the exclusion list before a namespace relied on it through osm-onboarding (the ` +
            `MeshConfig has no ${EXCLUSION_ADDED_ANNOTATION}: ${api.cidr}); namespaces meshed by hand may need it: ` +
            'left as it is',
          hint: 'remove it by hand (kubectl edit meshconfig) if no namespace of the mesh needs it',
        });
      } else if (neededBy.length === 0 && present) {
        changes.push(planExclusionRemove(mc, api.cidr)!);
        summary = join(summary, `remove ${api.cidr} (API server) from the outboundIPRangeExclusionList`);
        diagnostics.push({
          code: 'RESTART_NEEDED',
          level: 'info',
          message: 'pods keep the exclusion they were injected with until they are restarted',
        });
      } else if (neededBy.length > 0 && !present) {
        changes.push(planExclusionAdd(mc, api.cidr, { recordAdded: true })!);
        summary = join(summary, `restore ${api.cidr}: still needed by ${others}`);
        diagnostics.push({
          code: 'API_SERVER_EXCLUSION_RESTORED',
          level: 'warning',
          object: `meshconfigs/${MESH_CONFIG_NAME}`,
          message:
            `${api.cidr} was missing from the exclusion list although ${others} ` +
            `rel${neededBy.length === 1 ? 'ies' : 'y'} on it; it is put back`,
        });
      } else if (present) {
        summary = join(summary, `keep ${api.cidr}: still needed by ${others}`);
        diagnostics.push({
          code: 'API_SERVER_EXCLUSION_KEPT',
          level: 'info',
          message:
            `${api.cidr} stays in the exclusion list: ${others} still ` +
            `rel${neededBy.length === 1 ? 'ies' : 'y'} on it`,
        });
      } else {
        summary = join(summary, `${api.cidr} is not in the exclusion list`);
      }
    } else {
      summary = join(summary, 'no MeshConfig to edit');
    }
    // The mark goes last, in two writes: `leaving` (no longer a need to the others' re-checks), then, once this
    // step's re-check passed, gone. A conflict on the MeshConfig or in the re-check re-plans with the mark still
    // there, so the re-plan knows this namespace relied on the entry (see the class comment).
    if (own !== undefined) {
      if (own !== API_SERVER_ACCESS_LEAVING) changes.push(markChange(request.namespace, API_SERVER_ACCESS_LEAVING));
      changes.push(markChange(request.namespace, null));
      summary = join(`clear ${request.namespace}'s API server access mark`, summary);
    }
    const before = {
      meshConfig: mc
        ? {
            namespace: mc.metadata?.namespace,
            name: MESH_CONFIG_NAME,
            resourceVersion: mc.metadata?.resourceVersion,
            outboundIPRangeExclusionList: exclusionList(mc) ?? null,
            [EXCLUSION_ADDED_ANNOTATION]: exclusionAddedByUs(mc) ?? null,
          }
        : null,
      namespaceAnnotations: { [API_SERVER_ACCESS_ANNOTATION]: own ?? null },
    };
    return { changes, summary, before, diagnostics, facts };
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after?: unknown }> {
    const facts = plan.facts as Facts;
    const mcNamespace = facts.meshConfigNamespace;
    let after: unknown = { meshConfig: null };
    const recheck = async () => {
      if (mcNamespace) after = await this.recheck({ kube, request }, facts, mcNamespace);
    };
    for (const change of plan.changes) {
      // The mark's last write (gone) waits for the re-check: a conflict leaves it `leaving` for the re-plan.
      if (isMarkCleared(change)) await recheck();
      if (change.target.kind === 'Namespace')
        await kube.patchNamespace(change.target.name, change.body as object, 'strategic');
      else await patchMeshConfigGuarded(kube, change.target.namespace ?? '', change.body);
    }
    // Without a mark to clear, the re-check still follows the MeshConfig write (an entry put back or taken out).
    if (!plan.changes.some(isMarkCleared)) await recheck();
    return { after };
  }

  /**
   * After the writes, before the mark is gone: whether "needed" and "present" still agree (see the class comment);
   * CONFLICT (the runner re-plans) when they do not.
   */
  private async recheck(
    { kube, request }: Pick<StepContext, 'kube' | 'request'>,
    facts: Facts,
    meshConfigNamespace: string,
  ): Promise<unknown> {
    const neededBy = await namespacesNeedingExclusion(kube, request.namespace, request.meshName);
    const mc = await readMeshConfig(kube, meshConfigNamespace);
    const present = exclusionList(mc)?.includes(facts.cidr) ?? false;
    // An entry no one needs is only ours to remove when this namespace claimed it and we added it (plan).
    const removable = facts.claimed && exclusionAddedByUs(mc) === facts.cidr;
    if ((present && neededBy.length === 0 && removable) || (!present && neededBy.length > 0)) {
      throw new KubeError(
        'CONFLICT',
        present
          ? `${facts.cidr} is no longer needed by any other namespace since the plan; re-planning`
          : `${otherNamespaces(neededBy.length)} started relying on ${facts.cidr} while it was being removed; ` +
              're-planning',
        409,
      );
    }
    return {
      meshConfig: {
        resourceVersion: mc.metadata?.resourceVersion,
        outboundIPRangeExclusionList: exclusionList(mc) ?? null,
      },
      neededBy: neededBy.length,
    };
  }

  private async meshConfig(
    { kube, mesh, request }: Pick<StepContext, 'kube' | 'mesh' | 'request'>,
    diagnostics: Diagnostic[],
  ): Promise<KubeObject | null> {
    try {
      const info = await mesh.discover(request.cluster, request.meshName);
      return await readMeshConfig(kube, info.controlPlaneNamespace);
    } catch (err) {
      // A mesh that is gone has no exclusion list left to clean; the namespace mark is still cleared.
      if (err instanceof DomainError && (err.code === 'MESH_NOT_FOUND' || err.code === 'MESH_CONFIG_NOT_FOUND')) {
        diagnostics.push({ code: err.code, level: 'warning', message: `${err.message}: nothing to remove from` });
        return null;
      }
      throw err;
    }
  }
}

const join = (a: string, b: string) => (a ? `${a}; ${b}` : b);

/** The namespace's API server access mark set to `value` (`null`: removed). */
function markChange(namespace: string, value: string | null): Change {
  return {
    action: 'patch',
    target: { apiVersion: 'v1', kind: 'Namespace', name: namespace },
    patchType: 'strategic',
    body: { metadata: { annotations: { [API_SERVER_ACCESS_ANNOTATION]: value } } },
  };
}

/** The change that removes the mark (the last write of the step). */
function isMarkCleared(change: Change): boolean {
  const body = change.body as { metadata?: { annotations?: Record<string, unknown> } } | undefined;
  return change.target.kind === 'Namespace' && body?.metadata?.annotations?.[API_SERVER_ACCESS_ANNOTATION] === null;
}

/** "1 other namespace", "3 other namespaces": how the outputs name the others (a count, not their names: Facts). */
function otherNamespaces(n: number): string {
  return `${n} other namespace${n === 1 ? '' : 's'}`;
}
