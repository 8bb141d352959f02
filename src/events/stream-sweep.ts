// The store check behind every open progress stream of this process: one statement per interval, for all of them.
// Live events come over Redis; a message Redis lost (or never carried, while it was away) leaves a stream waiting,
// and this check is what finds it. It reads each followed request's event_seq (the cursor of its newest event) and
// wakes only the streams that are behind it, or whose request is gone.
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { PrismaService } from '../database/prisma.service.js';

/** An open stream, as the sweep sees it. */
export interface SweptStream {
  /** The cursor of the last event the stream has delivered (or read from the store) for this request. */
  last(): number;
  /** The store has more for this request than the stream has seen: read it. */
  behind(): void;
}

/** Request ids per statement (the primary key's index, one array parameter). */
const CHUNK = 1000;

/** Reads the newest event cursor of each request; a request missing from the answer no longer exists. */
export type EventSeqReader = (ids: string[]) => Promise<Map<string, number>>;

@Injectable()
export class StreamSweep implements OnModuleDestroy {
  private readonly logger = new Logger(StreamSweep.name);
  private readonly streams = new Map<string, Set<SweptStream>>();
  private timer?: NodeJS.Timeout;
  private running = false;
  readonly intervalMs: number;
  /** The statement a pass runs (public so a test can count the passes' statements around it). */
  readonly read: EventSeqReader;

  constructor(prisma: PrismaService, @Inject(APP_CONFIG) config: AppConfig) {
    this.intervalMs = config.progressPollMs;
    this.read = async (ids) => {
      const rows = await prisma.$queryRaw<{ id: string; event_seq: number }[]>`
        SELECT id::text AS id, event_seq FROM onboarding_request WHERE id = ANY(${ids}::uuid[])`;
      return new Map(rows.map((r) => [r.id, r.event_seq]));
    };
  }

  /** Follows one request for a stream; returns the function that stops following it. */
  add(requestId: string, stream: SweptStream): () => void {
    let set = this.streams.get(requestId);
    if (!set) this.streams.set(requestId, (set = new Set()));
    set.add(stream);
    this.timer ??= setInterval(() => void this.sweep(), this.intervalMs).unref();
    return () => {
      set.delete(stream);
      if (set.size === 0 && this.streams.get(requestId) === set) this.streams.delete(requestId);
      if (this.streams.size === 0) this.stop();
    };
  }

  /** Requests followed now (what the tests read). */
  get followed(): number {
    return this.streams.size;
  }

  /**
   * One pass: the event cursors of every followed request, CHUNK ids per statement; each stream that is behind its
   * request's cursor, or whose request is gone, is told so. A pass still running when the next is due is not
   * doubled. A failed read is logged and left to the next pass (the streams keep what Redis brings meanwhile).
   */
  async sweep(reader: EventSeqReader = this.read): Promise<void> {
    if (this.running || this.streams.size === 0) return;
    this.running = true;
    try {
      const ids = [...this.streams.keys()];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const seqs = await reader(chunk);
        for (const id of chunk) {
          const seq = seqs.get(id);
          for (const stream of this.streams.get(id) ?? []) {
            if (seq === undefined || seq > stream.last()) stream.behind();
          }
        }
      }
    } catch (err) {
      this.logger.warn(`progress streams' store check failed: ${(err as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  onModuleDestroy(): void {
    this.stop();
  }
}
