import { Injectable } from '@nestjs/common';
import { AuditRepository } from '../audit/audit.repository.js';
import { PrismaService } from '../database/prisma.service.js';
import { DomainError } from '../common/domain-error.js';
import { EventBus } from './event-bus.service.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ProgressEvent, TERMINAL_EVENT_TYPES, toProgressEvent } from './progress-event.js';

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
    return this.follow({ requestId, after, pollMs }, { pending, setWake: (w) => (wake = w), unlisten });
  }

  /** Replays from Postgres after `after`, then follows the live events `listener` collects. */
  private async *follow(
    { requestId, after, pollMs }: { requestId: string; after: number; pollMs: number },
    listener: { pending: ProgressEvent[]; setWake: (w: (() => void) | undefined) => void; unlisten: () => void },
  ): AsyncGenerator<ProgressEvent> {
    const { pending, setWake, unlisten } = listener;
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
   * A batch's events (all its requests), cursor = the global event id. Live events only
   * wake the reader; the events themselves are read from Postgres in commit order.
   */
  async openBatch(requestIds: string[], afterId = 0n, pollMs = 10_000): Promise<AsyncGenerator<ProgressEvent>> {
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
    const self = this;
    return (async function* () {
      let last = afterId;
      self.metrics.subscriptions.inc();
      try {
        for (;;) {
          dirty = false;
          const statuses = await self.prisma.onboardingRequest.findMany({
            where: { id: { in: requestIds } },
            select: { status: true },
          });
          const finished = statuses.every((r) => TERMINAL_STATUSES.has(r.status));
          let rows;
          do {
            rows = await self.audit.forRequests(requestIds, last);
            for (const row of rows) {
              last = row.id;
              yield toProgressEvent(row);
            }
          } while (rows.length === 1000);
          if (finished) return;
          if (dirty) continue; // an event arrived while reading
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        self.metrics.subscriptions.dec();
        for (const u of unlisten) u();
      }
    })();
  }

  private async isFinished(requestId: string): Promise<boolean> {
    const r = await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { status: true } });
    return !r || TERMINAL_STATUSES.has(r.status);
  }
}
