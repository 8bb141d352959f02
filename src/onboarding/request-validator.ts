import { Inject, Injectable } from '@nestjs/common';
import type { RequestKind } from '../generated/prisma/client.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { MeshDiscoveryService } from '../mesh/mesh-discovery.service.js';
import {
  offboardingOptions,
  OffboardingInputSchema,
  onboardingOptions,
  OnboardingInputSchema,
  parseInput,
  type RequestOptions,
} from './onboarding.input.js';
import { assertNotControlPlane, assertNotReserved } from './steps/mesh.step.js';

export interface NormalizedRequest {
  kind: RequestKind;
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
  dryRun: boolean;
}

/**
 * Turns raw input into a normalized request and refuses what needs no namespace read
 * (bad fields, unknown cluster or mesh, reserved and control-plane namespaces) before
 * anything is stored or any cluster write can happen.
 */
@Injectable()
export class RequestValidator {
  constructor(
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Input checks, then the caller's authorization (no I/O yet), then cluster preconditions. */
  async validate(kind: RequestKind, input: unknown, authorize: (req: NormalizedRequest) => void): Promise<NormalizedRequest> {
    const req = this.normalize(kind, input);
    authorize(req);
    await this.checkPreconditions(req);
    return req;
  }

  private normalize(kind: RequestKind, input: unknown): NormalizedRequest {
    if (kind === 'ONBOARD') {
      const i = parseInput(OnboardingInputSchema, input);
      return { kind, ...this.target(i), options: onboardingOptions(i), dryRun: i.dryRun ?? false };
    }
    const i = parseInput(OffboardingInputSchema, input);
    return { kind, ...this.target(i), options: offboardingOptions(i), dryRun: i.dryRun ?? false };
  }

  private target(i: { cluster?: string | null; namespace: string; meshName?: string | null }) {
    return { cluster: this.gateway.resolve(i.cluster), namespace: i.namespace, meshName: i.meshName ?? this.config.defaultMeshName };
  }

  private async checkPreconditions(req: NormalizedRequest): Promise<void> {
    assertNotReserved(req.namespace);
    if (req.kind !== 'ONBOARD') return;
    try {
      assertNotControlPlane(await this.mesh.discover(req.cluster, req.meshName), req.namespace);
    } catch (err) {
      if (err instanceof KubeError) {
        throw new DomainError('CLUSTER_UNAVAILABLE', `cluster ${req.cluster} could not be reached to check mesh ${req.meshName}`, {
          field: 'cluster',
          details: { reason: err.reason },
        });
      }
      throw err;
    }
  }
}
