import { Injectable } from '@nestjs/common';
import type { AuditEvent, Prisma } from '../generated/prisma/client.js';
import { PrismaService } from '../database/prisma.service.js';

export interface NewAuditEvent {
  requestId?: string;
  actor: string;
  action: string;
  cluster?: string;
  namespace?: string;
  target?: string;
  step?: string;
  data?: Record<string, unknown>;
}

/** The append-only audit trail. The database refuses UPDATE/DELETE on it; this class only inserts. */
@Injectable()
export class AuditRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Appends inside the caller's transaction; request events get the next per-request cursor. */
  async append(tx: Prisma.TransactionClient, event: NewAuditEvent, knownSeq?: number): Promise<AuditEvent> {
    // A new request's first event is seq 1 (its row was inserted with event_seq = 1): no round trip.
    let seq: number | undefined = knownSeq;
    if (event.requestId && seq === undefined) {
      const rows = await tx.$queryRaw<{ event_seq: number }[]>`
        UPDATE onboarding_request SET event_seq = event_seq + 1 WHERE id = ${event.requestId}::uuid RETURNING event_seq`;
      seq = rows[0]?.event_seq;
    }
    return tx.auditEvent.create({
      data: {
        requestId: event.requestId,
        seq,
        actor: event.actor,
        action: event.action,
        cluster: event.cluster,
        namespace: event.namespace,
        target: event.target,
        step: event.step,
        data: (event.data ?? {}) as Prisma.InputJsonValue,
      },
    });
  }

  /** Events of several requests (a batch) after a global id, in commit order. */
  forRequests(requestIds: string[], afterId: bigint, limit = 1000): Promise<AuditEvent[]> {
    return this.prisma.auditEvent.findMany({
      where: { requestId: { in: requestIds }, id: { gt: afterId } },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  forRequest(requestId: string, afterSeq = 0, limit = 1000): Promise<AuditEvent[]> {
    return this.prisma.auditEvent.findMany({
      where: { requestId, seq: { gt: afterSeq } },
      orderBy: { seq: 'asc' },
      take: limit,
    });
  }
}
