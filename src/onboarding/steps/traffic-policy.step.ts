// Guide step 2, the traffic-policy step: permissive mode (a MeshConfig merge patch) or the request's SMI objects
// (created or replaced in place when ours, refused when not), and the SMI objects a request writes, in order.
import { DomainError } from '../../common/domain-error.js';
import type { KubeObject } from '../../common/kube-object.js';
import { forEachListed } from '../../kubernetes/cluster-client.js';
import { CRD, MESH_CONFIG_NAME, MONITORED_BY_LABEL } from '../../mesh/osm.js';
import { meshConfigTarget } from '../../mesh/mesh-config.js';
import { desiredObjectChange, isOwned, objectImage, type CrdRef } from '../../mesh/ownership.js';
import type { SmiObjects } from '../onboarding.input.js';
import { getOptional, writeCustomChange } from './kit/custom-objects.js';
import { readMeshConfig } from './kit/mesh-config.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

export interface DesiredPolicyObject {
  ref: CrdRef;
  name: string;
  spec: Record<string, unknown>;
}

/**
 * The SMI objects of a request as they are written, in dependency order (routes before the
 * TrafficTargets that name them, TrafficSplits last). A TrafficTarget's destination and sources
 * default to the onboarded namespace (osm-edge ignores a TrafficTarget whose destination namespace
 * differs from its own).
 */
/** The request's SMI objects and what the cluster holds of each; SMI_OBJECT_NOT_OWNED for one that is not ours. */
async function readSmiObjects(
  { request, kube }: Pick<StepContext, 'request' | 'kube'>,
  smi: SmiObjects,
): Promise<{ desired: DesiredPolicyObject[]; existing: (KubeObject | null)[] }> {
  const desired = desiredSmiObjects(smi, request.namespace);
  // One object of a kind: its GET. Several: one list of that kind in the namespace, not a GET each (a request may
  // name up to SMI_OBJECTS_PER_KIND of each kind, which would hold the cluster's call budget for seconds).
  const listed = new Map<CrdRef, Promise<Map<string, KubeObject>>>();
  const several = (ref: CrdRef) => desired.filter((d) => d.ref === ref).length > 1;
  const existing = await Promise.all(
    desired.map(async (d) => {
      if (!several(d.ref)) return getOptional(kube, d.ref, request.namespace, d.name);
      let byName = listed.get(d.ref);
      if (!byName) {
        byName = kube
          .listCustom(d.ref, request.namespace)
          .then((l) => new Map(l.items.map((o) => [o.metadata?.name ?? '', o])));
        listed.set(d.ref, byName);
      }
      return (await byName).get(d.name) ?? null;
    }),
  );
  const foreign = desired.filter((_, i) => existing[i] && !isOwned(existing[i]));
  if (foreign.length) throw smiNotOwned(request.namespace, foreign);
  return { desired, existing };
}

/** The refusal of SMI objects of the request that exist and are not ours (the step's, and the API's early one). */
export function smiNotOwned(namespace: string, foreign: { ref: CrdRef; name: string }[]): DomainError {
  return new DomainError(
    'SMI_OBJECT_NOT_OWNED',
    `${foreign.map((d) => `${d.ref.kind} ${namespace}/${d.name}`).join(', ')} already ` +
      `exist${foreign.length === 1 ? 's' : ''} and ${foreign.length === 1 ? 'was' : 'were'} not created by ` +
      `osm-onboarding; not overwritten`,
    { field: 'trafficPolicy.smi', hint: 'rename the object in the request, or delete the existing one' },
  );
}

export function desiredSmiObjects(smi: SmiObjects, namespace: string): DesiredPolicyObject[] {
  const withNs = <T extends { namespace?: string }>(ref: T) => ({ ...ref, namespace: ref.namespace ?? namespace });
  const out: DesiredPolicyObject[] = [
    ...smi.httpRouteGroups.map((o) => ({ ref: CRD.httpRouteGroup, name: o.name, spec: o.spec })),
    ...smi.tcpRoutes.map((o) => ({ ref: CRD.tcpRoute, name: o.name, spec: o.spec })),
    ...smi.trafficTargets.map((o) => ({
      ref: CRD.trafficTarget,
      name: o.name,
      spec: { ...o.spec, destination: withNs(o.spec.destination), sources: o.spec.sources.map(withNs) },
    })),
    ...smi.trafficSplits.map((o) => ({ ref: CRD.trafficSplit, name: o.name, spec: o.spec })),
  ] as DesiredPolicyObject[];
  // The last line: the request's validation (onboarding.input.ts) already refuses a name twice for one kind.
  const seen = new Set<string>();
  for (const o of out) {
    const key = `${o.ref.kind}/${o.name}`;
    if (seen.has(key)) {
      throw new DomainError('VALIDATION_FAILED', `${o.ref.kind} ${o.name} is listed more than once`, {
        field: 'trafficPolicy.smi',
      });
    }
    seen.add(key);
  }
  return out;
}

/**
 * Guide step 2: the access-control model.
 *
 * - `permissive`: MeshConfig `spec.traffic.enablePermissiveTrafficPolicyMode: true`, as a merge patch
 *   of only that boolean (no array involved, so no resourceVersion guard is needed). It is mesh-wide,
 *   so a warning is always reported.
 * - `smi`: each supplied HTTPRouteGroup, TCPRoute, TrafficTarget and TrafficSplit is created in the
 *   onboarded namespace with the versions osm-edge serves, labelled as ours, or replaced in place
 *   (with the observed resourceVersion: a concurrent edit gives 409 and the runner re-plans) when
 *   its spec differs. An object of the same name that is not labelled as ours is refused, never
 *   overwritten. Objects we created earlier but no longer requested are left alone (policy-cleanup
 *   removes them at offboarding).
 */
export class TrafficPolicyStep implements OnboardingStep {
  readonly name = 'traffic-policy' as const;
  readonly title = 'Set the traffic policy mode';

  /** SMI objects of the request that exist and are not ours (api-server-access writes before this step). */
  async preflight(ctx: StepContext): Promise<void> {
    const policy = ctx.request.options.trafficPolicy;
    if (policy?.mode === 'smi' && policy.smi) await readSmiObjects(ctx, policy.smi);
  }

  async plan({ request, kube, mesh }: StepContext): Promise<StepPlan> {
    const policy = request.options.trafficPolicy;
    if (!policy) return { changes: [], summary: 'traffic policy not requested', facts: { mode: null } };
    const info = await mesh.discover(request.cluster, request.meshName);
    const mc = await readMeshConfig(kube, info.controlPlaneNamespace);
    const traffic = (mc.spec?.traffic ?? {}) as Record<string, unknown>;
    const permissive = traffic.enablePermissiveTrafficPolicyMode;
    const meshConfigBefore = {
      namespace: info.controlPlaneNamespace,
      name: MESH_CONFIG_NAME,
      resourceVersion: mc.metadata?.resourceVersion,
      enablePermissiveTrafficPolicyMode: permissive ?? null,
    };
    const facts: Record<string, unknown> = { mode: policy.mode, meshConfigNamespace: info.controlPlaneNamespace };

    if (policy.mode === 'permissive') {
      const diagnostics: Diagnostic[] = [
        {
          code: 'PERMISSIVE_MODE_IS_MESH_WIDE',
          level: 'warning',
          object: `meshconfigs/${MESH_CONFIG_NAME}`,
          message:
            `permissive traffic policy mode is a mesh-wide setting: every namespace in mesh ` +
            `${request.meshName} may talk to every other, and TrafficTargets are ignored`,
        },
      ];
      if (permissive === true) {
        return {
          changes: [],
          summary: 'permissive traffic policy mode is already on',
          before: { meshConfig: meshConfigBefore },
          diagnostics,
          facts,
        };
      }
      const change: Change = {
        action: 'patch',
        target: meshConfigTarget(info.controlPlaneNamespace),
        patchType: 'merge',
        body: { spec: { traffic: { enablePermissiveTrafficPolicyMode: true } } },
      };
      return {
        changes: [change],
        summary: `turn on permissive traffic policy mode in ${info.controlPlaneNamespace}/${MESH_CONFIG_NAME}`,
        before: { meshConfig: meshConfigBefore },
        diagnostics,
        facts,
      };
    }

    const { desired, existing } = await readSmiObjects({ request, kube }, policy.smi);
    const changes = desired.flatMap(
      (d, i) =>
        desiredObjectChange({
          ref: d.ref,
          namespace: request.namespace,
          name: d.name,
          spec: d.spec,
          existing: existing[i],
          requestId: request.id,
        }) ?? [],
    );
    const diagnostics: Diagnostic[] = [];
    if (permissive !== false) {
      diagnostics.push({
        code: 'PERMISSIVE_MODE_ON',
        level: 'warning',
        object: `meshconfigs/${MESH_CONFIG_NAME}`,
        message:
          `enablePermissiveTrafficPolicyMode is ${permissive === true ? 'true' : 'not set'} in ` +
          `${info.controlPlaneNamespace}/${MESH_CONFIG_NAME}: TrafficTargets only take effect when it is false`,
        hint: 'turning permissive mode off is mesh-wide: every namespace then needs TrafficTargets',
      });
    }
    const created = changes.filter((c) => c.action === 'create').length;
    const updated = changes.length - created;
    const unchanged = desired.length - changes.length;
    let summary = changes.length
      ? `SMI policies in ${request.namespace}: ${created} to create, ${updated} to update, ${unchanged} unchanged`
      : `all ${desired.length} SMI object(s) in ${request.namespace} are up to date`;
    if (policy.switchMeshToSmi) {
      // After the namespace's own objects, so its TrafficTargets exist when permissive mode goes off.
      const preflight = await namespacesLosingTraffic(kube, request.meshName, request.namespace, desired);
      diagnostics.splice(0, diagnostics.length, ...preflight.diagnostics);
      if (permissive !== false) {
        changes.push({
          action: 'patch',
          target: meshConfigTarget(info.controlPlaneNamespace),
          patchType: 'merge',
          body: { spec: { traffic: { enablePermissiveTrafficPolicyMode: false } } },
        });
        const where = `${info.controlPlaneNamespace}/${MESH_CONFIG_NAME}`;
        summary += `; switch mesh ${request.meshName} to SMI mode (permissive off in ${where})`;
      } else {
        summary += `; mesh ${request.meshName} is already in SMI mode`;
      }
      // A count, not the names: a scoped caller reads this plan (api-server-access-removal.step.ts, Facts).
      facts.withoutTrafficTargets = preflight.without.length;
    }
    return {
      changes,
      summary,
      before: {
        meshConfig: meshConfigBefore,
        objects: desired.map((d, i) => ({ kind: d.ref.kind, name: d.name, object: objectImage(existing[i]) })),
      },
      diagnostics,
      facts: { ...facts, objects: desired.map((d) => `${d.ref.kind}/${d.name}`) },
    };
  }

  async execute({ kube }: StepContext, plan: StepPlan): Promise<{ after?: unknown }> {
    const after: unknown[] = [];
    for (const change of plan.changes) {
      const written: KubeObject | undefined =
        change.target.kind === CRD.meshConfig.kind
          ? await kube.patchCustom({
              ref: CRD.meshConfig,
              namespace: change.target.namespace ?? '',
              name: MESH_CONFIG_NAME,
              body: change.body as object,
              type: 'merge',
            })
          : await writeCustomChange(kube, change);
      after.push(
        change.target.kind === CRD.meshConfig.kind
          ? {
              kind: CRD.meshConfig.kind,
              resourceVersion: written?.metadata?.resourceVersion,
              enablePermissiveTrafficPolicyMode: (written?.spec?.traffic as Record<string, unknown> | undefined)
                ?.enablePermissiveTrafficPolicyMode,
            }
          : objectImage(written),
      );
    }
    return { after };
  }
}

/**
 * Pre-flight of a switch to SMI mode: the namespaces of the mesh (labelled monitored-by=<mesh>) that
 * have no TrafficTarget and so lose all inbound traffic once permissive mode is off (osm-edge then
 * allows only what a TrafficTarget names). Two lists, read 500 items a call: the mesh's namespaces and
 * every TrafficTarget of the cluster. The request's own namespace counts as covered when the request
 * brings TrafficTargets.
 */
async function namespacesLosingTraffic(
  kube: StepContext['kube'],
  meshName: string,
  own: string,
  desired: DesiredPolicyObject[],
): Promise<{ without: string[]; diagnostics: Diagnostic[] }> {
  const meshNamespaces: string[] = [];
  await forEachListed(
    (page) => kube.listNamespaces({ ...page, labelSelector: `${MONITORED_BY_LABEL}=${meshName}` }),
    (n) => {
      if (n.metadata?.name) meshNamespaces.push(n.metadata.name);
    },
  );
  const covered = new Set<string>();
  await forEachListed(
    (page) => kube.listCustomAllNamespaces(CRD.trafficTarget, page),
    (t) => covered.add(t.metadata?.namespace ?? ''),
  );
  if (desired.some((d) => d.ref.kind === CRD.trafficTarget.kind)) covered.add(own);
  const without = [...new Set([...meshNamespaces, own])].filter((n) => !covered.has(n)).sort();
  const diagnostics: Diagnostic[] = [
    {
      code: 'SMI_MODE_IS_MESH_WIDE',
      level: 'warning',
      object: `meshconfigs/${MESH_CONFIG_NAME}`,
      message:
        `switching mesh ${meshName} to SMI mode turns permissive mode off for all of its ` +
        `${meshNamespaces.length} namespace(s): traffic is then denied unless a TrafficTarget allows it`,
    },
  ];
  if (without.length) {
    diagnostics.push({
      code: 'SMI_MODE_NAMESPACES_WITHOUT_TRAFFIC_TARGET',
      level: 'warning',
      object: `meshconfigs/${MESH_CONFIG_NAME}`,
      // Their number, not their names: whoever may read this request may not see those namespaces.
      message:
        `${without.length} namespace(s) of mesh ${meshName}${without.includes(own) ? `, ${own} among them,` : ''} ` +
        `have no TrafficTarget and would lose their inbound traffic`,
      hint:
        'create TrafficTargets for them first (or onboard them with trafficPolicy.mode smi and their objects); ' +
        `a mesh owner finds them with kubectl get namespaces -l ${MONITORED_BY_LABEL}=${meshName} and ` +
        'kubectl get traffictargets -A',
    });
  }
  return { without, diagnostics };
}
