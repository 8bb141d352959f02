import { Inject, Injectable } from '@nestjs/common';
import type { V1Namespace } from '@kubernetes/client-node';
import type { RequestKind } from '../generated/prisma/client.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { kubeHint } from './step-failure.js';
import { MeshDiscoveryService } from '../kubernetes/mesh-discovery.service.js';
import {
  offboardingOptions,
  OffboardingInputSchema,
  onboardingOptions,
  OnboardingInputSchema,
  type RequestOptions,
} from './onboarding.input.js';
import { parseInput } from '../common/parse-input.js';
import {
  assertNotControlPlane,
  assertNotReserved,
  assertOffboardable,
  assertOnboardable,
} from '../mesh/namespace-rules.js';
import { resolveAppProtocols } from './steps/app-protocol.step.js';
import { assertDeploymentsExist } from './steps/restart.step.js';
import { desiredSmiObjects, smiNotOwned } from './steps/traffic-policy.step.js';
import { egressNotOwned } from './steps/api-server-access.step.js';
import { meshConfigNotFound } from './steps/kit/mesh-config.js';
import { CRD } from '../mesh/osm.js';
import { API_SERVER_EGRESS_NAME } from '../mesh/ownership.js';
import type { Observed } from './observed.js';
import { TargetPrecheck } from './target-precheck.js';
import type { MeshInfo } from '../mesh/mesh-info.js';

export interface NormalizedRequest {
  kind: RequestKind;
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
  dryRun: boolean;
}

/**
 * Who may ask for a request: called with the normalized request (its scope, the mesh-wide rule) before any cluster
 * read; its `role` (the caller's role alone) runs earlier, before the cluster is even looked up.
 */
export interface Authorization {
  (req: NormalizedRequest): void;
  role?: () => void;
}

/**
 * Turns raw input into a normalized request and refuses, before anything is stored or any cluster
 * write can happen: bad fields, unknown cluster or mesh, reserved and control-plane namespaces, and
 * (with a bounded read of the target, TargetPrecheck) a namespace that does not exist, is ignored,
 * belongs to another mesh or is skipped by the injector, `appProtocols` naming a Service or port the
 * namespace does not have, unknown `restart.deployments`, a MeshConfig, Egress or SMI kind the cluster does not
 * serve, a missing MeshConfig, and an Egress or SMI object of the request's name that is not ours. The same rules
 * (the steps' own functions) run again in the worker; when the read gets no answer in time the request is accepted
 * and the worker decides.
 * Plans and batches go through here too.
 */
@Injectable()
export class RequestValidator {
  constructor(
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    private readonly precheck: TargetPrecheck,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Input checks, then the caller's role (before the cluster is looked up: a caller without the role learns nothing
   * about clusters, CLUSTER_NOT_FOUND included), then the cluster, then the rest of the caller's authorization (no
   * I/O yet), then cluster preconditions.
   */
  async validate(kind: RequestKind, input: unknown, authorize: Authorization): Promise<NormalizedRequest> {
    const parsed = this.parse(kind, input);
    authorize.role?.();
    const { input: i, options } = parsed;
    const req: NormalizedRequest = { kind, ...this.target(i), options, dryRun: i.dryRun ?? false };
    authorize(req);
    await this.checkPreconditions(req);
    return req;
  }

  private parse(kind: RequestKind, input: unknown) {
    if (kind === 'ONBOARD') {
      const i = parseInput(OnboardingInputSchema, input);
      return { input: i, options: onboardingOptions(i) };
    }
    const i = parseInput(OffboardingInputSchema, input);
    return { input: i, options: offboardingOptions(i) };
  }

  private target(i: { cluster?: string | null; namespace: string; meshName?: string | null }) {
    return {
      cluster: this.gateway.resolve(i.cluster),
      namespace: i.namespace,
      meshName: i.meshName ?? this.config.defaultMeshName,
    };
  }

  /**
   * Whether `restart.selected` names every Deployment the namespace has now (the request-time list, shared with the
   * check below and cached briefly). True when the list cannot be read in time (or the check is off): an approval
   * rule on full restarts then holds the request rather than let it through unjudged.
   */
  async selectedCoversAll(req: Pick<NormalizedRequest, 'cluster' | 'namespace' | 'options'>): Promise<boolean> {
    if (!this.precheck.enabled) return true;
    const list = await this.precheck.deploymentsOf(req.cluster, req.namespace);
    if (list.kind === 'unknown') return true;
    const named = req.options.restart.deployments;
    return list.kind === 'found' && list.value.every((d) => named.includes(d.metadata?.name ?? ''));
  }

  private async checkPreconditions(req: NormalizedRequest): Promise<void> {
    // Never onboarded; but `osm namespace add` can label kube-public, and `osm namespace remove` takes it out again,
    // so offboarding one is the clean-up it is.
    if (req.kind === 'ONBOARD') assertNotReserved(req.namespace);
    const info = req.kind === 'ONBOARD' ? await this.meshOf(req) : null;
    if (!this.precheck.enabled) return;
    await this.precheck.refuseIf(
      (fresh) => this.precheck.namespace(req.cluster, req.namespace, fresh),
      (ns) => checkNamespace(req, ns, info),
    );
    // Only a request that sets appProtocols reads the Services (one list): the others cost no more calls.
    const { appProtocols } = req.options;
    if (req.kind === 'ONBOARD' && appProtocols.length) {
      await this.precheck.refuseIf(
        (fresh) => this.precheck.servicesOf(req.cluster, req.namespace, fresh),
        (list) =>
          list.kind === 'found' &&
          resolveAppProtocols(req.namespace, list.value, appProtocols, (i, key) => `appProtocols.${i}.${key}`),
      );
    }
    if (req.kind === 'ONBOARD' && info) await this.checkOsmResources(req, info);
    const { mode, deployments } = req.options.restart;
    if (mode === 'selected' && deployments.length) {
      await this.precheck.refuseIf(
        (fresh) => this.precheck.deploymentsOf(req.cluster, req.namespace, fresh),
        // An absent namespace was refused above (or its read had no answer): nothing more to say here.
        (list) => list.kind === 'found' && assertDeploymentsExist(deployments, list.value, req.namespace),
      );
    }
  }

  /**
   * The osm-edge resources the request's steps read or write: the MeshConfig (a traffic policy or API server access
   * changes it; one GET per mesh while cached), the Egress method's Egress and the SMI objects (one GET each). One
   * that is not served, a MeshConfig that does not exist, or an object of that name that is not ours is refused.
   */
  private async checkOsmResources(req: NormalizedRequest, info: MeshInfo): Promise<void> {
    const { trafficPolicy: policy, apiServerAccess: access } = req.options;
    if (policy || access) {
      const field = policy ? 'trafficPolicy' : 'apiServerAccess';
      await this.precheck.refuseIf(
        (fresh) => this.precheck.meshConfig(req.cluster, info.controlPlaneNamespace, fresh),
        (mc) => {
          if (mc.kind === 'absent') throw meshConfigNotFound(info.controlPlaneNamespace, field);
        },
        field,
      );
    }
    if (access?.method === 'egress') {
      const egress = [{ ref: CRD.egress, name: API_SERVER_EGRESS_NAME }];
      await this.precheck.refuseIf(
        (fresh) => this.precheck.foreignObjects(req.cluster, req.namespace, egress, fresh),
        (foreign) => {
          if (foreign.kind === 'found' && foreign.value.length) throw egressNotOwned(req.namespace);
        },
        'apiServerAccess.method',
      );
    }
    const smi = policy?.mode === 'smi' && policy.smi ? desiredSmiObjects(policy.smi, req.namespace) : [];
    if (smi.length) {
      await this.precheck.refuseIf(
        (fresh) => this.precheck.foreignObjects(req.cluster, req.namespace, smi, fresh),
        (foreign) => {
          if (foreign.kind === 'found' && foreign.value.length) throw smiNotOwned(req.namespace, foreign.value);
        },
        'trafficPolicy.smi',
      );
    }
  }

  /**
   * The mesh, or null when the cluster did not say within PRECHECK_TIMEOUT_MS: the request is then accepted without
   * the checks that need it (the control plane's namespace, its MeshConfig), and the worker's `mesh` step, before
   * any write, refuses MESH_NOT_FOUND and NAMESPACE_IS_CONTROL_PLANE itself. With the checks off (0), it waits.
   */
  private async meshOf(req: NormalizedRequest): Promise<MeshInfo | null> {
    const lookup = () => this.mesh.discover(req.cluster, req.meshName);
    try {
      const answer = this.precheck.enabled
        ? await this.precheck.inTime(req.cluster, lookup)
        : { value: await lookup() };
      if (!answer) return null;
      assertNotControlPlane(answer.value, req.namespace);
      return answer.value;
    } catch (err) {
      // Refusals the cluster will repeat (its RBAC, a resource it does not serve) under the worker's codes.
      if (err instanceof KubeError && (err.reason === 'FORBIDDEN' || err.reason === 'UNAUTHORIZED')) {
        throw new DomainError('KUBE_FORBIDDEN', err.message, { field: 'cluster', hint: kubeHint(err) });
      }
      if (err instanceof KubeError && err.reason === 'NOT_SERVED') {
        throw new DomainError('KUBE_RESOURCE_NOT_SERVED', err.message, { field: 'cluster', hint: kubeHint(err) });
      }
      if (err instanceof KubeError) {
        throw new DomainError(
          'CLUSTER_UNAVAILABLE',
          `cluster ${req.cluster} could not be reached to check mesh ${req.meshName}`,
          {
            field: 'cluster',
            // A transient failure answers 503 with Retry-After (the REST and GraphQL edges set it from details).
            details: {
              reason: err.reason,
              ...(err.retryAfterSeconds ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
            },
          },
        );
      }
      throw err;
    }
  }
}

/** The worker's namespace rules (namespace and namespace-removal steps) on the namespace read now. */
function checkNamespace(req: NormalizedRequest, ns: Observed<V1Namespace>, info: MeshInfo | null): void {
  if (ns.kind === 'absent') {
    throw new DomainError('NAMESPACE_NOT_FOUND', `namespace ${req.namespace} does not exist`, {
      field: 'namespace',
      hint: `create it first (kubectl create namespace ${req.namespace}), or check the cluster`,
    });
  }
  if (ns.kind !== 'found') return;
  if (req.kind === 'ONBOARD') assertOnboardable(ns.value, req, info?.controlPlaneNamespace);
  else assertOffboardable(ns.value, req);
}
