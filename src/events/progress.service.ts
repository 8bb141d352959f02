import { Injectable } from '@nestjs/common';
import { AuditRepository } from '../audit/audit.repository.js';
import { PrismaService } from '../database/prisma.service.js';
import { DomainError } from '../common/domain-error.js';
import { EventBus } from './event-bus.service.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ProgressEvent, TERMINAL_EVENT_TYPES, toProgressEvent } from './progress-event.js';
import { BatchPosition, encodeBatchCursor } from './batch-cursor.js';

const TERMINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
/** Stored events read at once while replaying. */
const PAGE = 1000;

/**
 * A request's event stream: replays the stored events after a cursor, then follows live
 * ones in cursor order, and ends after the request's final event. Live events arrive over
 * Redis; any gap (a lost message, a late subscriber) is filled from Postgres, and a slow
 * poll covers a silent Redis. The replay of a finished request goes to its last stored event,
 * past its final one: an earlier attempt's end (a retried request) and events recorded after
 * it finished (`namespace.drifted`, attached by the drift scan) are part of its story.
 */
@Injectable()
export class ProgressService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    private readonly metrics: MetricsService,
  ) {}

  /** Validates the request id first, so a bad id fails the call rather than the stream. */
  async open(requestId: string, after = 0, pollMs = 10_000): Promise<AsyncGenerator<ProgressEvent>> {
    const exists = await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { id: true } });
    if (!exists)
      throw new DomainError('REQUEST_NOT_FOUND', `onboarding request ${requestId} not found`, { field: 'requestId' });
    const pending: ProgressEvent[] = [];
    let wake: (() => void) | undefined;
    const unlisten = await this.bus.listen(requestId, (e) => {
      pending.push(e);
      wake?.();
    });
    return this.follow({ requestId, after, pollMs, pending, setWake: (w) => (wake = w), unlisten });
  }

  private async *follow(o: {
    requestId: string;
    after: number;
    pollMs: number;
    /** Live events from Redis, appended as they arrive. */
    pending: ProgressEvent[];
    setWake: (w: (() => void) | undefined) => void;
    unlisten: () => void;
  }): AsyncGenerator<ProgressEvent> {
    const { requestId, after, pollMs, pending, setWake, unlisten } = o;
    let last = after;
    let readStore = true;
    this.metrics.subscriptions.inc();
    try {
      for (;;) {
        if (readStore) {
          readStore = false;
          // Status first: the final event commits with the final status, so if the request was
          // already finished, the rows read next include its last event.
          const finished = await this.isFinished(requestId);
          let rows;
          let ended = false;
          do {
            rows = await this.audit.forRequest(requestId, last, PAGE);
            for (const row of rows) {
              const event = toProgressEvent(row);
              last = event.cursor;
              ended = TERMINAL_EVENT_TYPES.has(event.type);
              yield event;
            }
          } while (rows.length === PAGE);
          // The last stored event is a final one: the request has ended (its status commits with it),
          // even if it had not when its status was read.
          if (finished || ended) return;
        }
        pending.sort((a, b) => a.cursor - b.cursor);
        while (pending.length > 0 && !readStore) {
          const event = pending.shift()!;
          if (event.cursor <= last) continue;
          if (event.cursor !== last + 1) {
            readStore = true; // a gap: the store has what Redis did not bring
            break;
          }
          last = event.cursor;
          yield event;
          if (TERMINAL_EVENT_TYPES.has(event.type)) return;
        }
        if (readStore || pending.length > 0) continue;
        const woke = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), pollMs);
          setWake(() => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        setWake(undefined);
        if (!woke) readStore = true;
      }
    } finally {
      this.metrics.subscriptions.dec();
      unlisten();
    }
  }

  /**
   * A batch's events (all its requests, `requestIds` in cursor order). Live events only wake the reader; the
   * events are read from Postgres per request after its own seq, so one that commits late is still delivered.
   * Each event carries `batchCursor`, the position to resume after it.
   */
  async openBatch(
    requestIds: string[],
    position: BatchPosition,
    pollMs = 10_000,
  ): Promise<AsyncGenerator<ProgressEvent>> {
    const seqs = 'seqs' in position ? new Map(position.seqs) : await this.audit.seqsAtId(requestIds, position.afterId);
    let wake: (() => void) | undefined;
    let dirty = false;
    const unlisten = await Promise.all(
      requestIds.map((id) =>
        this.bus.listen(id, () => {
          dirty = true;
          wake?.();
        }),
      ),
    );
    return this.followBatch(
      { requestIds, seqs, pollMs, unlisten },
      {
        isDirty: () => dirty,
        clearDirty: () => (dirty = false),
        setWake: (w) => (wake = w),
      },
    );
  }

  private async *followBatch(
    o: { requestIds: string[]; seqs: Map<string, number>; pollMs: number; unlisten: (() => void)[] },
    signal: { isDirty(): boolean; clearDirty(): void; setWake(w: (() => void) | undefined): void },
  ): AsyncGenerator<ProgressEvent> {
    const { requestIds, seqs, pollMs } = o;
    this.metrics.subscriptions.inc();
    try {
      for (;;) {
        signal.clearDirty();
        const statuses = await this.prisma.onboardingRequest.findMany({
          where: { id: { in: requestIds } },
          select: { status: true },
        });
        const finished = statuses.every((r) => TERMINAL_STATUSES.has(r.status));
        let rows;
        do {
          rows = await this.audit.forRequestsAfter(seqs, PAGE);
          for (const row of rows) {
            const event = toProgressEvent(row);
            seqs.set(event.requestId, Math.max(seqs.get(event.requestId) ?? 0, event.cursor));
            yield { ...event, batchCursor: encodeBatchCursor(requestIds, seqs) };
          }
        } while (rows.length === PAGE);
        if (finished) return;
        if (signal.isDirty()) continue; // an event arrived while reading
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          signal.setWake(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        signal.setWake(undefined);
      }
    } finally {
      this.metrics.subscriptions.dec();
      for (const u of o.unlisten) u();
    }
  }

  private async isFinished(requestId: string): Promise<boolean> {
    const r = await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { status: true } });
    return !r || TERMINAL_STATUSES.has(r.status);
  }
}
