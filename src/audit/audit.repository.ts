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
    if (event.requestId && knownSeq === undefined) {
      // One statement on the hot path (every step transition): take the next cursor and insert.
      const rows = await tx.$queryRaw<AuditEvent[]>`
        WITH s AS (UPDATE onboarding_request SET event_seq = event_seq + 1
                   WHERE id = ${event.requestId}::uuid RETURNING event_seq)
        INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, step, data)
        SELECT ${event.requestId}::uuid, s.event_seq, ${event.actor}, ${event.action}, ${event.cluster ?? null},
          ${event.namespace ?? null},
               ${event.target ?? null}, ${event.step ?? null}, ${JSON.stringify(event.data ?? {})}::jsonb
        FROM s
        RETURNING id, request_id AS "requestId", seq, actor, action, cluster, namespace, target, step, data,
          created_at AS "createdAt"`;
      if (!rows[0]) throw new Error(`audit event for unknown request ${event.requestId}`);
      return rows[0];
    }
    // A new request's first event is seq 1 (its row was inserted with event_seq = 1); other events have none.
    return tx.auditEvent.create({
      data: {
        requestId: event.requestId,
        seq: knownSeq,
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

  /**
   * Events of several requests (a batch), each after its own seq, in id order. A request's events commit in seq
   * order, so reading by seq never skips one that commits late (reading by global id would).
   */
  forRequestsAfter(after: ReadonlyMap<string, number>, limit = 1000): Promise<AuditEvent[]> {
    // Prisma reads an empty OR as no condition at all: no request, no event.
    if (after.size === 0) return Promise.resolve([]);
    return this.prisma.auditEvent.findMany({
      where: { OR: [...after].map(([requestId, seq]) => ({ requestId, seq: { gt: seq } })) },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  /** Each request's last seq at or before a global id: translates the older global-id batch cursor. */
  async seqsAtId(requestIds: string[], id: bigint): Promise<Map<string, number>> {
    const rows = await this.prisma.auditEvent.groupBy({
      by: ['requestId'],
      where: { requestId: { in: requestIds }, id: { lte: id } },
      _max: { seq: true },
    });
    const seqs = new Map(requestIds.map((r) => [r, 0]));
    for (const r of rows) if (r.requestId) seqs.set(r.requestId, r._max.seq ?? 0);
    return seqs;
  }

  forRequest(requestId: string, afterSeq = 0, limit = 1000): Promise<AuditEvent[]> {
    return this.prisma.auditEvent.findMany({
      where: { requestId, seq: { gt: afterSeq } },
      orderBy: { seq: 'asc' },
      take: limit,
    });
  }
}
