import { DomainError } from '../../common/domain-error.js';
import type { KubeObject } from '../../common/kube-object.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import { cidrContains, parseCidr } from '../../mesh/cidr.js';
import {
  exclusionList,
  exclusionListDiagnostics,
  isRecord,
  meshConfigTarget,
  meshConfigTraffic,
  planExclusionAdd,
} from '../../mesh/mesh-config.js';
import { CRD, MESH_CONFIG_NAME } from '../../mesh/osm.js';
import {
  API_SERVER_ACCESS_ANNOTATION,
  API_SERVER_ACCESS_IP_EXCLUSION,
  API_SERVER_EGRESS_NAME,
  desiredObjectChange,
  isOwned,
  objectImage,
} from '../../mesh/ownership.js';
import {
  API_SERVER_SERVICE,
  apiNamespaceMonitored,
  assertApiNamespaceOutside,
  discoverApiServer,
  type ApiServerAddress,
} from './kit/api-server.js';
import { getOptional, writeCustomChange } from './kit/custom-objects.js';
import { patchMeshConfigGuarded, readMeshConfig } from './kit/mesh-config.js';
import { readNamespace } from './kit/namespaces.js';
import type { Change, Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

/** What plan read before choosing a method: the MeshConfig, the API server's address, the facts so far. */
interface Observed {
  mc: KubeObject;
  api: ApiServerAddress;
  facts: Facts;
}

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
      : this.planEgress(ctx, { mc, api, facts }, access.serviceAccounts);
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
    const add = planExclusionAdd(mc, api.cidr, { recordAdded: true });
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
          message:
            `${api.ip} is already excluded by ${covering}; ${api.cidr} is added anyway so that offboarding ` +
            `can track and remove exactly this entry`,
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
      ? `add ${api.cidr} (API server) to the outboundIPRangeExclusionList of ` +
        `${facts.meshConfigNamespace}/${MESH_CONFIG_NAME}`
      : changes.length
        ? `${api.cidr} is already excluded; mark namespace ${request.namespace} as relying on it`
        : `${api.cidr} (API server) is already in the outboundIPRangeExclusionList`;
    if (add) {
      diagnostics.push({
        code: 'RESTART_NEEDED',
        level: 'info',
        message:
          'the exclusion list is read only when a sidecar is injected: pods created before this change keep ' +
          'intercepting API server traffic until restarted',
      });
    }
    return { changes, summary, before, diagnostics, facts };
  }

  private async planEgress(
    { request, kube }: StepContext,
    { mc, api, facts }: Observed,
    serviceAccounts: string[],
  ): Promise<StepPlan> {
    // Onboarding `default` itself makes it monitored.
    if (request.namespace === API_SERVER_SERVICE.namespace)
      throw apiNamespaceMonitored(request.meshName, 'being added to');
    await assertApiNamespaceOutside(kube, request.meshName);
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
    if (meshConfigTraffic(mc)?.enableEgress === true) {
      diagnostics.push({
        code: 'GLOBAL_EGRESS_ENABLED',
        level: 'info',
        object: `meshconfigs/${MESH_CONFIG_NAME}`,
        message:
          'spec.traffic.enableEgress is true: all egress is already allowed mesh-wide; the Egress policy matters ' +
          'once it is turned off',
      });
    }

    const existing = await getOptional(kube, CRD.egress, request.namespace, API_SERVER_EGRESS_NAME);
    if (existing && !isOwned(existing)) throw egressNotOwned(request.namespace);
    const spec = {
      sources: serviceAccounts.map((name) => ({ kind: 'ServiceAccount', name, namespace: request.namespace })),
      ipAddresses: [api.cidr],
      ports: [{ number: api.port, protocol: 'https' }],
    };
    const change = desiredObjectChange({
      ref: CRD.egress,
      namespace: request.namespace,
      name: API_SERVER_EGRESS_NAME,
      spec,
      existing,
      requestId: request.id,
    });
    if (change) changes.push(change);

    const sas = new Set((await kube.listServiceAccounts(request.namespace)).items.map((sa) => sa.metadata?.name));
    const missing = serviceAccounts.filter((sa) => !sas.has(sa));
    if (missing.length) {
      diagnostics.push({
        code: 'SERVICE_ACCOUNT_NOT_FOUND',
        level: 'warning',
        object: `namespaces/${request.namespace}`,
        message:
          `ServiceAccount(s) ${missing.join(', ')} do not exist (yet) in ${request.namespace}; the Egress ` +
          `applies to them once they do`,
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
            : await kube.patchCustom({
                ref: CRD.meshConfig,
                namespace: facts.meshConfigNamespace,
                name: MESH_CONFIG_NAME,
                body: change.body as object,
                type: 'merge',
              });
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

/** The Egress method's refusal of an Egress of our name that is someone else's (the step's and the API's). */
export function egressNotOwned(namespace: string): DomainError {
  return new DomainError(
    'SMI_OBJECT_NOT_OWNED',
    `Egress ${namespace}/${API_SERVER_EGRESS_NAME} exists and was not created by osm-onboarding; it is left as it is`,
    {
      field: 'apiServerAccess',
      hint: 'delete or rename that Egress, or label it app.kubernetes.io/managed-by=osm-onboarding to hand it over',
    },
  );
}
