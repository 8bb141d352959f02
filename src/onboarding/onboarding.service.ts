import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RequestKind } from '../generated/prisma/client.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { toProgressEvent } from '../events/progress-event.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { MeshDiscoveryService } from '../mesh/mesh-discovery.service.js';
import { QueueService } from '../queue/queue.service.js';
import type { Actor } from '../auth/actor.js';
import {
  offboardingOptions,
  OffboardingInputSchema,
  onboardingOptions,
  OnboardingInputSchema,
  parseInput,
  type RequestOptions,
} from './onboarding.input.js';
import {
  ACTIVE_TARGET_INDEX,
  decodeCursor,
  encodeCursor,
  isUniqueViolation,
  OnboardingRepository,
  RequestFilter,
  RequestWithSteps,
} from './onboarding.repository.js';
import { assertNotControlPlane, assertNotReserved } from './steps/mesh.step.js';
import { plannedSteps } from './steps/step-registry.js';

export interface CreateResult {
  request: RequestWithSteps;
  /** True when an Idempotency-Key matched an earlier identical request. */
  replayed: boolean;
}

interface NormalizedRequest {
  kind: RequestKind;
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
}

/** Accepts onboarding/offboarding requests: validate, record with the first audit event, then enqueue. */
@Injectable()
export class OnboardingService {
  private readonly logger = new Logger(OnboardingService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly requests: OnboardingRepository,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    private readonly queue: QueueService,
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  requestOnboarding(input: unknown, actor: Actor, idempotencyKey?: string | null): Promise<CreateResult> {
    const i = parseInput(OnboardingInputSchema, input);
    return this.create(
      {
        kind: 'ONBOARD',
        cluster: this.gateway.resolve(i.cluster),
        namespace: i.namespace,
        meshName: i.meshName ?? this.config.defaultMeshName,
        options: onboardingOptions(i),
      },
      actor,
      idempotencyKey,
    );
  }

  requestOffboarding(input: unknown, actor: Actor, idempotencyKey?: string | null): Promise<CreateResult> {
    const i = parseInput(OffboardingInputSchema, input);
    return this.create(
      {
        kind: 'OFFBOARD',
        cluster: this.gateway.resolve(i.cluster),
        namespace: i.namespace,
        meshName: i.meshName ?? this.config.defaultMeshName,
        options: offboardingOptions(i),
      },
      actor,
      idempotencyKey,
    );
  }

  async get(id: string): Promise<RequestWithSteps> {
    const request = /^[0-9a-f-]{36}$/i.test(id) ? await this.requests.findById(id) : null;
    if (!request) throw new DomainError('REQUEST_NOT_FOUND', `onboarding request ${id} not found`, { field: 'id' });
    return request;
  }

  async list(filter: RequestFilter, first = 20, after?: string | null) {
    if (!Number.isInteger(first) || first < 1 || first > 200) {
      throw new DomainError('VALIDATION_FAILED', 'first must be an integer between 1 and 200', { field: 'first' });
    }
    const cursor = after ? decodeCursor(after) : undefined;
    if (after && !cursor) throw new DomainError('VALIDATION_FAILED', 'after is not a cursor returned by this API', { field: 'after' });
    const page = await this.requests.page(filter, first, cursor);
    const last = page.items.at(-1);
    return { items: page.items, hasNextPage: page.hasMore, endCursor: last ? encodeCursor(last) : null };
  }

  async auditEvents(requestId: string) {
    await this.get(requestId);
    return this.audit.forRequest(requestId, 0, 10_000);
  }

  private async create(req: NormalizedRequest, actor: Actor, idempotencyKey?: string | null): Promise<CreateResult> {
    const bodyHash = createHash('sha256').update(JSON.stringify(req)).digest('hex');
    if (idempotencyKey) {
      const earlier = await this.requests.findByIdempotencyKey(actor.id, idempotencyKey);
      if (earlier) return this.replay(earlier, bodyHash);
    }
    await this.checkPreconditions(req);
    const id = randomUUID();
    const steps = plannedSteps(req.kind, req.options);
    let event;
    try {
      event = await this.prisma.$transaction(async (tx) => {
        await tx.onboardingRequest.create({
          data: {
            id,
            kind: req.kind,
            cluster: req.cluster,
            namespace: req.namespace,
            meshName: req.meshName,
            options: req.options as object,
            status: 'QUEUED',
            requestedBy: actor.id,
            idempotencyKey: idempotencyKey ?? null,
            bodyHash,
            steps: { create: steps.map((name, position) => ({ name, position })) },
          },
        });
        return this.audit.append(tx, {
          requestId: id,
          actor: actor.id,
          action: 'request.created',
          cluster: req.cluster,
          namespace: req.namespace,
          target: `namespaces/${req.namespace}`,
          data: {
            message: `${req.kind === 'ONBOARD' ? 'onboarding' : 'offboarding'} of ${req.cluster}/${req.namespace} (mesh ${req.meshName}) requested`,
            kind: req.kind,
            meshName: req.meshName,
            options: req.options,
            steps,
          },
        });
      });
    } catch (err) {
      if (isUniqueViolation(err, ACTIVE_TARGET_INDEX)) {
        const active = await this.requests.findActive(req.cluster, req.namespace);
        throw new DomainError(
          'REQUEST_CONFLICT',
          `namespace ${req.cluster}/${req.namespace} already has an active request${active ? ` (${active.id})` : ''}`,
          { field: 'namespace', details: { activeRequestId: active?.id ?? null } },
        );
      }
      if (idempotencyKey && isUniqueViolation(err)) {
        // Two identical retries raced; the other one won.
        const earlier = await this.requests.findByIdempotencyKey(actor.id, idempotencyKey);
        if (earlier) return this.replay(earlier, bodyHash);
      }
      throw err;
    }
    await this.bus.publish([toProgressEvent(event)]);
    try {
      await this.queue.enqueue(id);
    } catch (err) {
      // The row is committed as QUEUED; the sweeper enqueues it once Redis is back.
      this.logger.warn(`request ${id} stored but not enqueued yet: ${(err as Error).message}`);
    }
    return { request: (await this.requests.findById(id))!, replayed: false };
  }

  private replay(earlier: RequestWithSteps, bodyHash: string): CreateResult {
    if (earlier.bodyHash !== bodyHash) {
      throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used with a different request body', {
        field: 'idempotencyKey',
        details: { requestId: earlier.id },
      });
    }
    return { request: earlier, replayed: true };
  }

  /** Refusals that need no namespace read: decided before anything is stored. */
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
