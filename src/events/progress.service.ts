import { Injectable } from '@nestjs/common';
import { AuditRepository } from '../audit/audit.repository.js';
import { PrismaService } from '../database/prisma.service.js';
import { DomainError, isOurId, shownId } from '../common/domain-error.js';
import { EventBus } from './event-bus.service.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ProgressEvent, TERMINAL_EVENT_TYPES, toProgressEvent } from './progress-event.js';
import { BatchPosition, encodeBatchCursor } from './batch-cursor.js';
import { StreamSweep } from './stream-sweep.js';
import { StreamSlots } from './stream-slots.js';

/** A stream's live side: events Redis brought and not yet delivered, and how to wake the stream. */
interface Live {
  pending: ProgressEvent[];
  wake: (() => void) | undefined;
  /** The consumer has let go (return()): the stream ends at its next turn. */
  closed: boolean;
}

/**
 * The generator a consumer holds: return() (a client that went away) first runs `close`, which wakes a stream that
 * waits for an event, so the stream ends now and lets go of its Redis listener and its place in the sweep. Without
 * it, return() on an async generator waits for the pending next(), which may wait for an event that never comes.
 */
function closable<T>(inner: AsyncGenerator<T>, close: () => void): AsyncGenerator<T> {
  const outer: AsyncGenerator<T> = {
    next: (...args) => inner.next(...args),
    return: (value) => {
      close();
      return inner.return(value);
    },
    throw: (err) => {
      close();
      return inner.throw(err);
    },
    [Symbol.asyncIterator]: () => outer,
    [Symbol.asyncDispose]: async () => {
      await outer.return(undefined);
    },
  };
  return outer;
}

/** `fn` the first time the returned function is called; nothing after. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

const TERMINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
/** Stored events read at once while replaying. */
const PAGE = 1000;

/**
 * A request's event stream: replays the stored events after a cursor, then follows live
 * ones in cursor order, and ends after the request's final event. Live events arrive over
 * Redis; any gap (a lost message, a late subscriber) is filled from Postgres, and the process's
 * StreamSweep (one statement per PROGRESS_POLL_MS for all open streams) wakes a stream whose request
 * has events Redis did not bring (a lost last message, a silent Redis). The replay of a finished
 * request goes to its last stored event, past its final one: an earlier attempt's end (a retried
 * request) and events recorded after it finished (`namespace.drifted`, attached by the drift
 * scan) are part of its story.
 */
@Injectable()
export class ProgressService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    private readonly metrics: MetricsService,
    private readonly sweep: StreamSweep,
    private readonly slots: StreamSlots,
  ) {}

  /**
   * Validates the request id first, so a bad id fails the call rather than the stream. `caller` (an actor id) takes
   * one of the process's stream slots until the stream ends (stream-slots.ts); over a bound, the call fails.
   */
  async open(requestId: string, after: number, caller: string): Promise<AsyncGenerator<ProgressEvent>> {
    return this.holding(caller, async (release) => {
      const exists =
        isOurId(requestId) &&
        (await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { id: true } }));
      if (!exists)
        throw new DomainError('REQUEST_NOT_FOUND', `onboarding request ${shownId(requestId)} not found`, {
          field: 'requestId',
        });
      const live: Live = { pending: [], wake: undefined, closed: false };
      const unlisten = await this.bus.listen(requestId, (e) => {
        live.pending.push(e);
        live.wake?.();
      });
      const end = once(() => (unlisten(), release()));
      return closable(this.follow({ requestId, after, live, unlisten: end }), () => {
        live.closed = true;
        live.wake?.();
        // A stream let go before its first next() never runs its body (nor its `finally`).
        end();
      });
    });
  }

  /** Runs `open` with a slot of `caller`'s; the slot goes back if `open` fails. */
  private async holding<T>(caller: string, open: (release: () => void) => Promise<T>): Promise<T> {
    const release = this.slots.take(caller);
    try {
      return await open(release);
    } catch (err) {
      release();
      throw err;
    }
  }

  private async *follow(o: {
    requestId: string;
    after: number;
    live: Live;
    unlisten: () => void;
  }): AsyncGenerator<ProgressEvent> {
    const { requestId, after, live, unlisten } = o;
    const { pending } = live;
    let last = after;
    let readStore = true;
    this.metrics.subscriptions.inc();
    const unsweep = this.sweep.add(requestId, {
      last: () => last,
      behind: () => {
        readStore = true;
        live.wake?.();
      },
    });
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
        if (live.closed) return;
        // Until Redis brings an event, the sweep finds the store ahead of this stream, or the consumer lets go.
        await new Promise<void>((resolve) => (live.wake = resolve));
        live.wake = undefined;
        if (live.closed) return;
      }
    } finally {
      unsweep();
      this.metrics.subscriptions.dec();
      unlisten();
    }
  }

  /**
   * A batch's events (all its requests, `requestIds` in cursor order). Live events only wake the reader; the
   * events are read from Postgres per request after its own seq, so one that commits late is still delivered.
   * Each event carries `batchCursor`, the position to resume after it, bound to the view by `fingerprint`
   * (batch-cursor.ts).
   */
  async openBatch(
    requestIds: string[],
    position: BatchPosition,
    caller: string,
    fingerprint: string,
  ): Promise<AsyncGenerator<ProgressEvent>> {
    return this.holding(caller, (release) => this.followBatchOf(requestIds, position, release, fingerprint));
  }

  private async followBatchOf(
    requestIds: string[],
    position: BatchPosition,
    release: () => void,
    fingerprint: string,
  ): Promise<AsyncGenerator<ProgressEvent>> {
    const seqs = 'seqs' in position ? new Map(position.seqs) : await this.audit.seqsAtId(requestIds, position.afterId);
    let wake: (() => void) | undefined;
    // The members to look at again (all of them the first time): those a live event or the sweep named since.
    const touched = new Set(requestIds);
    let closed = false;
    const touch = (requestId: string) => {
      touched.add(requestId);
      wake?.();
    };
    const unlisten = await this.bus.listenTo(requestIds, (event) => touch(event.requestId));
    const end = once(() => {
      unlisten();
      release();
    });
    const stream = this.followBatch(
      { requestIds, seqs, unlisten: end, fingerprint },
      {
        take: () => {
          const members = [...touched];
          touched.clear();
          return members;
        },
        isDirty: () => touched.size > 0,
        touch,
        isClosed: () => closed,
        setWake: (w) => (wake = w),
      },
    );
    return closable(stream, () => {
      closed = true;
      wake?.();
      end();
    });
  }

  /**
   * Each pass reads only the members something happened to since the last (a live event named them, or the sweep
   * found the store ahead of the stream; every member on the first pass): their statuses, then their events after
   * the stream's position. Reading every member on every wake made a stream of an N-member batch cost N-wide
   * queries per event of any member, for each stream open on it.
   */
  private async *followBatch(
    o: { requestIds: string[]; seqs: Map<string, number>; unlisten: () => void; fingerprint: string },
    signal: {
      take(): string[];
      isDirty(): boolean;
      touch(requestId: string): void;
      isClosed(): boolean;
      setWake(w: (() => void) | undefined): void;
    },
  ): AsyncGenerator<ProgressEvent> {
    const { requestIds, seqs } = o;
    this.metrics.subscriptions.inc();
    const unsweep = requestIds.map((id) =>
      this.sweep.add(id, { last: () => seqs.get(id) ?? 0, behind: () => signal.touch(id) }),
    );
    // Members not ended when last read (a retried one comes back: its new events name it again).
    const unfinished = new Set(requestIds);
    try {
      for (;;) {
        const members = signal.take();
        // Statuses first: an ended member's last events committed with its status, so the read below has them.
        const statuses = await this.prisma.onboardingRequest.findMany({
          where: { id: { in: members } },
          select: { id: true, status: true },
        });
        for (const r of statuses) {
          if (TERMINAL_STATUSES.has(r.status)) unfinished.delete(r.id);
          else unfinished.add(r.id);
        }
        // A member gone (retention removed it) has nothing more to come.
        const found = new Set(statuses.map((r) => r.id));
        for (const id of members) if (!found.has(id)) unfinished.delete(id);
        const finished = unfinished.size === 0;
        let rows;
        do {
          rows = await this.audit.forRequestsAfter(new Map(members.map((id) => [id, seqs.get(id) ?? 0])), PAGE);
          for (const row of rows) {
            const event = toProgressEvent(row);
            seqs.set(event.requestId, Math.max(seqs.get(event.requestId) ?? 0, event.cursor));
            yield { ...event, batchCursor: encodeBatchCursor(requestIds, seqs, o.fingerprint) };
          }
        } while (rows.length === PAGE);
        if (finished) return;
        if (signal.isDirty()) continue; // an event arrived while reading
        if (signal.isClosed()) return;
        // Until Redis brings an event, the sweep finds the store ahead of this stream, or the consumer lets go.
        await new Promise<void>((resolve) => signal.setWake(resolve));
        signal.setWake(undefined);
        if (signal.isClosed()) return;
      }
    } finally {
      for (const u of unsweep) u();
      this.metrics.subscriptions.dec();
      o.unlisten();
    }
  }

  private async isFinished(requestId: string): Promise<boolean> {
    const r = await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { status: true } });
    return !r || TERMINAL_STATUSES.has(r.status);
  }
}
