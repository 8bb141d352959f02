import { DomainError } from '../../common/domain-error.js';
import type { ClusterClient, KubeObject } from '../../kubernetes/cluster-client.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import { cidrContains, hostCidr, invalidEntries, isIpv4, parseCidr } from '../../mesh/cidr.js';
import { CRD, MESH_CONFIG_NAME, MONITORED_BY_LABEL } from '../../mesh/osm.js';
import {
  API_SERVER_ACCESS_ANNOTATION,
  API_SERVER_ACCESS_IP_EXCLUSION,
  API_SERVER_EGRESS_NAME,
  apiVersionOf,
  isOwned,
  jsonEqual,
  objectImage,
  ownedLabels,
  refOfKind,
} from '../../mesh/ownership.js';
import { readNamespace } from './namespace.step.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

/** Where the Kubernetes API Service lives (and the namespace the Egress method must not be meshed). */
export const API_SERVER_SERVICE = { namespace: 'default', name: 'kubernetes' } as const;
export const EXCLUSION_LIST_PATH = '/spec/traffic/outboundIPRangeExclusionList';

export interface JsonPatchOp {
  op: 'test' | 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

export interface ApiServerAddress {
  ip: string;
  /** `<ip>/32`. */
  cidr: string;
  /** The Service's https port (443 on every distribution we know). */
  port: number;
}

// ---------------------------------------------------------------------------------------------
// Shared reads (also used by api-server-access-removal and traffic-policy)

/** The API server's IPv4 cluster IP, from Service default/kubernetes. */
export async function discoverApiServer(kube: ClusterClient): Promise<ApiServerAddress> {
  const { namespace, name } = API_SERVER_SERVICE;
  let svc;
  try {
    svc = await kube.getService(namespace, name);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') {
      throw new DomainError(
        'API_SERVER_NOT_FOUND',
        `Service ${namespace}/${name} (the Kubernetes API server) does not exist`,
        {
          field: 'apiServerAccess',
        },
      );
    }
    throw err;
  }
  const candidates = [svc.spec?.clusterIP, ...(svc.spec?.clusterIPs ?? [])].filter(
    (v): v is string => typeof v === 'string',
  );
  const ip = candidates.find(isIpv4);
  if (!ip) {
    throw new DomainError(
      'API_SERVER_NOT_FOUND',
      `Service ${namespace}/${name} has no IPv4 cluster IP (got ${candidates.length ? candidates.join(', ') : 'none'}); osm-edge's exclusion list and Egress ipAddresses are IPv4-only`,
      { field: 'apiServerAccess' },
    );
  }
  const ports = svc.spec?.ports ?? [];
  const port = ports.find((p) => p.name === 'https')?.port ?? ports[0]?.port ?? 443;
  return { ip, cidr: hostCidr(ip), port };
}

export async function readMeshConfig(kube: ClusterClient, meshNamespace: string): Promise<KubeObject> {
  try {
    return await kube.getCustom(CRD.meshConfig, meshNamespace, MESH_CONFIG_NAME);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') {
      throw new DomainError('MESH_CONFIG_NOT_FOUND', `MeshConfig ${meshNamespace}/${MESH_CONFIG_NAME} does not exist`, {
        hint: 'osm-bootstrap recreates it from ConfigMap preset-mesh-config; check that the control plane is healthy',
      });
    }
    throw err;
  }
}

export function meshConfigTarget(meshNamespace: string): Change['target'] {
  return {
    apiVersion: apiVersionOf(CRD.meshConfig),
    kind: CRD.meshConfig.kind,
    namespace: meshNamespace,
    name: MESH_CONFIG_NAME,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function traffic(mc: KubeObject): Record<string, unknown> | undefined {
  const t = mc.spec?.traffic;
  return isRecord(t) ? t : undefined;
}

/** The exclusion list as stored, or undefined when the field is absent (or not a list). */
export function exclusionList(mc: KubeObject): unknown[] | undefined {
  const list = traffic(mc)?.outboundIPRangeExclusionList;
  return Array.isArray(list) ? list : undefined;
}

/** Warnings for existing entries that are not strict IPv4 CIDRs. They are reported, never touched. */
export function exclusionListDiagnostics(mc: KubeObject): Diagnostic[] {
  return invalidEntries(exclusionList(mc) ?? []).map((e) => ({
    code: 'INVALID_EXCLUSION_CIDR',
    level: 'warning' as const,
    object: `meshconfigs/${MESH_CONFIG_NAME}`,
    message: `outboundIPRangeExclusionList[${e.index}] is not a valid IPv4 CIDR: ${e.message}`,
    hint: 'osm-init copies this entry verbatim into iptables-restore; a bad entry breaks the init container of new pods. Fix or remove it by hand.',
  }));
}

// ---------------------------------------------------------------------------------------------
// Guarded edits of the exclusion list. A merge patch replaces the whole array, so the list is only
// ever edited with a JSON patch whose first operation tests the resourceVersion that was read: a
// concurrent edit makes the test fail (422) and the caller re-reads and re-plans.

/** The JSON patch that adds `cidr` to the exclusion list, or null when it is already there. */
export function planExclusionAdd(mc: KubeObject, cidr: string): Change | null {
  const parsed = parseCidr(cidr);
  if (!parsed.ok) throw new DomainError('INVALID_CIDR', parsed.message, { details: { cidr } });
  const list = exclusionList(mc);
  if (list?.includes(cidr)) return null;
  const ops: JsonPatchOp[] = [resourceVersionTest(mc)];
  if (list) ops.push({ op: 'add', path: `${EXCLUSION_LIST_PATH}/-`, value: cidr });
  // `add` on an existing member (e.g. an explicit null) replaces it, so these also cover null.
  else if (traffic(mc)) ops.push({ op: 'add', path: EXCLUSION_LIST_PATH, value: [cidr] });
  else if (isRecord(mc.spec))
    ops.push({ op: 'add', path: '/spec/traffic', value: { outboundIPRangeExclusionList: [cidr] } });
  else ops.push({ op: 'add', path: '/spec', value: { traffic: { outboundIPRangeExclusionList: [cidr] } } });
  return { action: 'patch', target: meshConfigTarget(mc.metadata?.namespace ?? ''), patchType: 'json', body: ops };
}

/** The JSON patch that removes every exact `cidr` entry (each index value-tested), or null when absent. */
export function planExclusionRemove(mc: KubeObject, cidr: string): Change | null {
  const list = exclusionList(mc) ?? [];
  const indexes = list.flatMap((v, i) => (v === cidr ? [i] : [])).reverse();
  if (indexes.length === 0) return null;
  const ops: JsonPatchOp[] = [resourceVersionTest(mc)];
  for (const i of indexes) {
    ops.push(
      { op: 'test', path: `${EXCLUSION_LIST_PATH}/${i}`, value: cidr },
      { op: 'remove', path: `${EXCLUSION_LIST_PATH}/${i}` },
    );
  }
  return { action: 'patch', target: meshConfigTarget(mc.metadata?.namespace ?? ''), patchType: 'json', body: ops };
}

function resourceVersionTest(mc: KubeObject): JsonPatchOp {
  const rv = mc.metadata?.resourceVersion;
  if (!rv) throw new Error(`MeshConfig ${mc.metadata?.namespace}/${mc.metadata?.name} has no resourceVersion`);
  return { op: 'test', path: '/metadata/resourceVersion', value: rv };
}

// kube-apiserver answers a JSON patch that cannot be applied (a failed `test`, a path that no longer
// exists) with NewGenericServerResponse(422): reason Invalid, the generic message below, and the
// json-patch error ("testing value ... failed") only in details.causes, which KubeError does not keep.
// A schema rejection is also 422 Invalid but says `<Kind> "<name>" is invalid: ...`; it stays INVALID.
const GUARD_FAILED =
  /the server rejected our request due to an error in our request|test failed|testing value|missing path|invalid index/i;

/** A failed guard (409, or the 422 of a JSON patch that no longer applies) becomes a CONFLICT the runner re-plans on. */
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
    return await kube.patchCustom(CRD.meshConfig, meshNamespace, MESH_CONFIG_NAME, ops as object, 'json');
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

// ---------------------------------------------------------------------------------------------

interface Facts {
  apiServerIp: string;
  cidr: string;
  method: 'ip-exclusion' | 'egress';
  meshConfigNamespace: string;
  [key: string]: unknown;
}

/**
 * Guide step 3: let the applications reach the API server.
 *
 * - `ip-exclusion`: `<apiServerIP>/32` goes into MeshConfig `spec.traffic.outboundIPRangeExclusionList`
 *   (a guarded JSON patch, see above; existing entries are kept and only reported when invalid), and
 *   the namespace gets the annotation `osm-onboarding.flomesh.io/api-server-access: ip-exclusion`
 *   that api-server-access-removal counts as "this namespace still needs the entry".
 *   Order: the annotation is written first, then the list. When only the annotation was missing,
 *   execute re-reads the MeshConfig after writing it and re-plans (CONFLICT) if a concurrent removal
 *   took the entry away meanwhile; together with the removal's own re-check this guarantees the entry
 *   stays while an annotated namespace exists.
 * - `egress`: refused when namespace `default` (the API Service's) is monitored by the mesh (docs:
 *   "the Kubernetes API service must not be in a namespace that osm-edge manages"). Otherwise it
 *   turns `spec.featureFlags.enableEgressPolicy` on with a merge patch of only that boolean (a merge
 *   patch sets that one scalar and leaves every other field, list included, as the server has it, so
 *   it needs no resourceVersion guard; two writers of `true` converge) and creates, or updates in
 *   place, the Egress `osm-onboarding-api-server` for the ServiceAccounts to `<ip>/32` on 443/https.
 *   An Egress of that name not labelled as ours is refused, never taken over.
 */
export class ApiServerAccessStep implements OnboardingStep {
  readonly name = 'api-server-access' as const;
  readonly title = 'Let applications reach the API server';

  async plan(ctx: StepContext): Promise<StepPlan> {
    const { request, kube, mesh } = ctx;
    const access = request.options.apiServerAccess;
    if (!access) return { changes: [], summary: 'API server access not requested', facts: { method: null } };
    const info = await mesh.discover(request.cluster, request.meshName);
    const api = await discoverApiServer(kube);
    const mc = await readMeshConfig(kube, info.controlPlaneNamespace);
    const facts: Facts = {
      apiServerIp: api.ip,
      cidr: api.cidr,
      method: access.method,
      meshConfigNamespace: info.controlPlaneNamespace,
    };
    return access.method === 'ip-exclusion'
      ? this.planIpExclusion(ctx, mc, api, facts)
      : this.planEgress(ctx, mc, api, facts, access.serviceAccounts);
  }

  private async planIpExclusion(
    { request, kube }: StepContext,
    mc: KubeObject,
    api: ApiServerAddress,
    facts: Facts,
  ): Promise<StepPlan> {
    const ns = await readNamespace(kube, request.namespace);
    const annotation = ns.metadata?.annotations?.[API_SERVER_ACCESS_ANNOTATION];
    const list = exclusionList(mc);
    const diagnostics = exclusionListDiagnostics(mc);
    const changes: Change[] = [];
    if (annotation !== API_SERVER_ACCESS_IP_EXCLUSION) {
      changes.push({
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Namespace', name: request.namespace },
        patchType: 'strategic',
        body: { metadata: { annotations: { [API_SERVER_ACCESS_ANNOTATION]: API_SERVER_ACCESS_IP_EXCLUSION } } },
      });
    }
    const add = planExclusionAdd(mc, api.cidr);
    if (add) {
      changes.push(add);
      const covering = (list ?? []).find(
        (e): e is string => typeof e === 'string' && parseCidr(e).ok && cidrContains(e, api.ip),
      );
      if (covering) {
        diagnostics.push({
          code: 'API_SERVER_ALREADY_COVERED',
          level: 'info',
          object: `meshconfigs/${MESH_CONFIG_NAME}`,
          message: `${api.ip} is already excluded by ${covering}; ${api.cidr} is added anyway so that offboarding can track and remove exactly this entry`,
        });
      }
    }
    const before = {
      meshConfig: {
        namespace: facts.meshConfigNamespace,
        name: MESH_CONFIG_NAME,
        resourceVersion: mc.metadata?.resourceVersion,
        outboundIPRangeExclusionList: list ?? null,
      },
      namespaceAnnotations: { [API_SERVER_ACCESS_ANNOTATION]: annotation ?? null },
    };
    const summary = add
      ? `add ${api.cidr} (API server) to the outboundIPRangeExclusionList of ${facts.meshConfigNamespace}/${MESH_CONFIG_NAME}`
      : changes.length
        ? `${api.cidr} is already excluded; mark namespace ${request.namespace} as relying on it`
        : `${api.cidr} (API server) is already in the outboundIPRangeExclusionList`;
    if (add) {
      diagnostics.push({
        code: 'RESTART_NEEDED',
        level: 'info',
        message:
          'the exclusion list is read only when a sidecar is injected: pods created before this change keep intercepting API server traffic until restarted',
      });
    }
    return { changes, summary, before, diagnostics, facts };
  }

  private async planEgress(
    { request, kube }: StepContext,
    mc: KubeObject,
    api: ApiServerAddress,
    facts: Facts,
    serviceAccounts: string[],
  ): Promise<StepPlan> {
    const apiNs = API_SERVER_SERVICE.namespace;
    let apiNsMesh: string | undefined;
    if (request.namespace === apiNs)
      apiNsMesh = request.meshName; // onboarding `default` itself makes it monitored
    else {
      try {
        apiNsMesh = (await kube.getNamespace(apiNs)).metadata?.labels?.[MONITORED_BY_LABEL];
      } catch (err) {
        if (!(err instanceof KubeError && err.reason === 'NOT_FOUND')) throw err;
      }
    }
    if (apiNsMesh === request.meshName) {
      throw new DomainError(
        'EGRESS_API_SERVER_MONITORED',
        `namespace ${apiNs}, which holds the Kubernetes API Service, is ${request.namespace === apiNs ? 'being added to' : 'monitored by'} mesh ${request.meshName}: an Egress policy cannot reach the API server from a managed namespace`,
        { field: 'apiServerAccess.method', hint: 'use method ip-exclusion, or remove namespace default from the mesh' },
      );
    }
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    const flags = isRecord(mc.spec?.featureFlags) ? mc.spec.featureFlags : {};
    const egressPolicyOn = flags.enableEgressPolicy === true;
    if (!egressPolicyOn) {
      changes.push({
        action: 'patch',
        target: meshConfigTarget(facts.meshConfigNamespace),
        patchType: 'merge',
        body: { spec: { featureFlags: { enableEgressPolicy: true } } },
      });
    }
    if (traffic(mc)?.enableEgress === true) {
      diagnostics.push({
        code: 'GLOBAL_EGRESS_ENABLED',
        level: 'info',
        object: `meshconfigs/${MESH_CONFIG_NAME}`,
        message:
          'spec.traffic.enableEgress is true: all egress is already allowed mesh-wide; the Egress policy matters once it is turned off',
      });
    }

    const existing = await getOptional(kube, CRD.egress, request.namespace, API_SERVER_EGRESS_NAME);
    if (existing && !isOwned(existing)) {
      throw new DomainError(
        'SMI_OBJECT_NOT_OWNED',
        `Egress ${request.namespace}/${API_SERVER_EGRESS_NAME} exists and was not created by osm-onboarding; it is left as it is`,
        {
          field: 'apiServerAccess',
          hint: 'delete or rename that Egress, or label it app.kubernetes.io/managed-by=osm-onboarding to hand it over',
        },
      );
    }
    const spec = {
      sources: serviceAccounts.map((name) => ({ kind: 'ServiceAccount', name, namespace: request.namespace })),
      ipAddresses: [api.cidr],
      ports: [{ number: api.port, protocol: 'https' }],
    };
    const change = desiredObjectChange(
      CRD.egress,
      request.namespace,
      API_SERVER_EGRESS_NAME,
      spec,
      existing,
      request.id,
    );
    if (change) changes.push(change);

    const sas = new Set((await kube.listServiceAccounts(request.namespace)).items.map((sa) => sa.metadata?.name));
    const missing = serviceAccounts.filter((sa) => !sas.has(sa));
    if (missing.length) {
      diagnostics.push({
        code: 'SERVICE_ACCOUNT_NOT_FOUND',
        level: 'warning',
        object: `namespaces/${request.namespace}`,
        message: `ServiceAccount(s) ${missing.join(', ')} do not exist (yet) in ${request.namespace}; the Egress applies to them once they do`,
      });
    }
    const before = {
      meshConfig: {
        namespace: facts.meshConfigNamespace,
        name: MESH_CONFIG_NAME,
        resourceVersion: mc.metadata?.resourceVersion,
        enableEgressPolicy: flags.enableEgressPolicy ?? null,
      },
      egress: objectImage(existing),
    };
    const parts = [
      ...(egressPolicyOn ? [] : ['turn on enableEgressPolicy']),
      ...(change
        ? [`${change.action} Egress ${request.namespace}/${API_SERVER_EGRESS_NAME} to ${api.cidr}:${api.port}`]
        : []),
    ];
    return {
      changes,
      summary: parts.length
        ? parts.join('; ')
        : `Egress ${request.namespace}/${API_SERVER_EGRESS_NAME} to ${api.cidr}:${api.port} is in place`,
      before,
      diagnostics,
      facts: { ...facts, egress: API_SERVER_EGRESS_NAME },
    };
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after?: unknown }> {
    const facts = plan.facts as Facts;
    let meshConfig: KubeObject | undefined;
    let egress: KubeObject | undefined;
    for (const change of plan.changes) {
      if (change.target.kind === 'Namespace') {
        await kube.patchNamespace(change.target.name, change.body as object, 'strategic');
      } else if (change.target.kind === CRD.meshConfig.kind) {
        meshConfig =
          change.patchType === 'json'
            ? await patchMeshConfigGuarded(kube, facts.meshConfigNamespace, change.body)
            : await kube.patchCustom(
                CRD.meshConfig,
                facts.meshConfigNamespace,
                MESH_CONFIG_NAME,
                change.body as object,
                'merge',
              );
      } else {
        egress = await writeCustomChange(kube, change);
      }
    }
    if (facts.method === 'ip-exclusion') {
      if (!meshConfig) {
        // Only the annotation was written: make sure a concurrent removal did not take the entry
        // away between our read and the annotation becoming visible (see the class comment).
        meshConfig = await readMeshConfig(kube, facts.meshConfigNamespace);
        if (!exclusionList(meshConfig)?.includes(facts.cidr)) {
          throw new KubeError(
            'CONFLICT',
            `${facts.cidr} left the exclusion list while ${request.namespace} was being marked; re-planning`,
            409,
          );
        }
      }
      return {
        after: {
          meshConfig: {
            resourceVersion: meshConfig.metadata?.resourceVersion,
            outboundIPRangeExclusionList: exclusionList(meshConfig) ?? null,
          },
          namespaceAnnotations: { [API_SERVER_ACCESS_ANNOTATION]: API_SERVER_ACCESS_IP_EXCLUSION },
        },
      };
    }
    return {
      after: {
        meshConfig: meshConfig
          ? { resourceVersion: meshConfig.metadata?.resourceVersion, enableEgressPolicy: true }
          : undefined,
        egress: egress ? objectImage(egress) : undefined,
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------

export async function getOptional(
  kube: ClusterClient,
  ref: { group: string; version: string; plural: string },
  namespace: string,
  name: string,
): Promise<KubeObject | null> {
  try {
    return await kube.getCustom(ref, namespace, name);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') return null;
    throw err;
  }
}

/**
 * The create or in-place update that makes `namespace/name` carry `spec` and our labels, or null when
 * it already does. `existing` must already be known to be ours (or absent). The request label is
 * informational: a different request id alone does not cause a write.
 */
export function desiredObjectChange(
  ref: { group: string; version: string; kind: string },
  namespace: string,
  name: string,
  spec: unknown,
  existing: KubeObject | null,
  requestId: string,
): Change | null {
  const target = { apiVersion: apiVersionOf(ref), kind: ref.kind, namespace, name };
  const labels = ownedLabels(requestId);
  const desired = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  if (!existing) {
    return {
      action: 'create',
      target,
      body: { apiVersion: target.apiVersion, kind: ref.kind, metadata: { name, namespace, labels }, spec: desired },
    };
  }
  if (isOwned(existing) && jsonEqual(existing.spec ?? null, desired)) return null;
  const { managedFields: _drop, ...metadata } = existing.metadata ?? {};
  return {
    action: 'update',
    target,
    body: {
      ...existing,
      apiVersion: target.apiVersion,
      kind: ref.kind,
      metadata: { ...metadata, labels: { ...(existing.metadata?.labels ?? {}), ...labels } },
      spec: desired,
    },
  };
}

/** Writes one create/update/delete/patch of a custom object exactly as planned. */
export async function writeCustomChange(kube: ClusterClient, change: Change): Promise<KubeObject | undefined> {
  const ref = refOfKind(change.target.kind);
  const { namespace = '', name } = change.target;
  switch (change.action) {
    case 'create':
      try {
        return await kube.createCustom(ref, namespace, change.body as KubeObject);
      } catch (err) {
        // Someone created it since we looked: re-plan, which re-checks ownership.
        if (err instanceof KubeError && err.reason === 'ALREADY_EXISTS') {
          throw new KubeError(
            'CONFLICT',
            `${change.target.kind} ${namespace}/${name} was created concurrently; re-planning`,
            409,
          );
        }
        throw err;
      }
    case 'update':
      return kube.replaceCustom(ref, namespace, name, change.body as KubeObject); // 409 on a stale resourceVersion → CONFLICT
    case 'delete':
      try {
        await kube.deleteCustom(ref, namespace, name);
      } catch (err) {
        if (!(err instanceof KubeError && err.reason === 'NOT_FOUND')) throw err; // already gone
      }
      return undefined;
    case 'patch':
      if (change.patchType === 'strategic' || !change.patchType)
        throw new Error(`custom resources take json or merge patches, not ${change.patchType}`);
      return kube.patchCustom(ref, namespace, name, change.body as object, change.patchType);
  }
}
