import { Injectable } from '@nestjs/common';
import { Prisma } from '../generated/prisma/client.js';
import type { Approval, OnboardingRequest, RequestKind, RequestStatus, StepRun } from '../generated/prisma/client.js';
import { PrismaService } from '../database/prisma.service.js';

export type RequestWithSteps = OnboardingRequest & { steps: StepRun[]; approvals: Approval[] };

const WITH_STEPS = { steps: { orderBy: { position: 'asc' as const } }, approvals: { orderBy: { createdAt: 'asc' as const } } };

export interface RequestFilter {
  cluster?: string | null;
  namespace?: string | null;
  meshName?: string | null;
  kind?: RequestKind | null;
  status?: RequestStatus | null;
  requestedBy?: string | null;
}

export const ACTIVE_STATUSES: RequestStatus[] = ['PENDING_APPROVAL', 'QUEUED', 'RUNNING'];
export const ACTIVE_TARGET_INDEX = 'onboarding_request_active_target_key';

interface PageCursor {
  createdAt: string;
  id: string;
}

export const encodeCursor = (r: { createdAt: Date; id: string }) =>
  Buffer.from(JSON.stringify({ createdAt: r.createdAt.toISOString(), id: r.id })).toString('base64url');

export function decodeCursor(cursor: string): PageCursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as PageCursor;
    if (typeof c.id === 'string' && !Number.isNaN(Date.parse(c.createdAt))) return c;
  } catch {
    /* fall through */
  }
  return undefined;
}

/** Requests and their step runs in Postgres. State changes go through transactions in the services. */
@Injectable()
export class OnboardingRepository {
  constructor(private readonly prisma: PrismaService) {}

  findById(id: string): Promise<RequestWithSteps | null> {
    return this.prisma.onboardingRequest.findUnique({ where: { id }, include: WITH_STEPS });
  }

  findByIdempotencyKey(requestedBy: string, idempotencyKey: string): Promise<RequestWithSteps | null> {
    return this.prisma.onboardingRequest.findUnique({
      where: { requestedBy_idempotencyKey: { requestedBy, idempotencyKey } },
      include: WITH_STEPS,
    });
  }

  findByBatch(batchId: string): Promise<RequestWithSteps[]> {
    return this.prisma.onboardingRequest.findMany({ where: { batchId }, include: WITH_STEPS, orderBy: [{ createdAt: 'asc' }, { namespace: 'asc' }] });
  }

  findActive(cluster: string, namespace: string): Promise<OnboardingRequest | null> {
    return this.prisma.onboardingRequest.findFirst({ where: { cluster, namespace, status: { in: ACTIVE_STATUSES } } });
  }

  /** Newest first, keyset-paged on (createdAt, id). */
  /** `scopes` null = everything; otherwise only targets matching one of the `<cluster>/<namespace>` globs. */
  async page(filter: RequestFilter, first: number, after?: PageCursor, scopes: string[] | null = null): Promise<{ items: RequestWithSteps[]; hasMore: boolean }> {
    const where: Prisma.OnboardingRequestWhereInput = {
      AND: scopes === null ? [] : [{ OR: scopes.map(scopeWhere) }],
      cluster: filter.cluster ?? undefined,
      namespace: filter.namespace ?? undefined,
      meshName: filter.meshName ?? undefined,
      kind: filter.kind ?? undefined,
      status: filter.status ?? undefined,
      requestedBy: filter.requestedBy ?? undefined,
    };
    if (after) {
      const at = new Date(after.createdAt);
      where.OR = [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: after.id } }];
    }
    const rows = await this.prisma.onboardingRequest.findMany({
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: first + 1,
      include: WITH_STEPS,
    });
    return { items: rows.slice(0, first), hasMore: rows.length > first };
  }
}

// Globs become Prisma conditions: `*` = any, `x*` = prefix, `*x` = suffix, `x` = exact; other
// shapes (a `*` in the middle) match nothing in lists (direct reads still check them exactly).
function globWhere(glob: string): Prisma.StringFilter | undefined | null {
  if (glob === '*') return undefined;
  const stars = glob.split('*').length - 1;
  if (stars === 0) return { equals: glob };
  if (stars === 1 && glob.endsWith('*')) return { startsWith: glob.slice(0, -1) };
  if (stars === 1 && glob.startsWith('*')) return { endsWith: glob.slice(1) };
  return null;
}

function scopeWhere(scope: string): Prisma.OnboardingRequestWhereInput {
  const [c, n] = scope.split('/');
  const cluster = globWhere(c);
  const namespace = globWhere(n);
  if (cluster === null || namespace === null) return { id: { in: [] } };
  return { cluster, namespace };
}

export function isUniqueViolation(err: unknown, index?: string): boolean {
  if (!(err instanceof Prisma.PrismaClientKnownRequestError) || err.code !== 'P2002') return false;
  if (!index) return true;
  return JSON.stringify(err.meta ?? {}).includes(index) || err.message.includes(index);
}
