// Owns the bound on the progress streams open in one API process (SSE, GraphQL subscriptions over graphql-ws,
// batch streams): PROGRESS_MAX_STREAMS in all, PROGRESS_MAX_STREAMS_PER_CALLER for one caller (its actor id).
// An open stream holds heap (about 22 KB for a GraphQL subscription, docs/performance.md, fifteenth round) until its
// request ends, which can be hours, and the rate limit only slows how fast a caller opens them: without a bound, one
// token could fill the process's old space. Over the caller's bound: TOO_MANY_STREAMS (429), the caller's own doing.
// Over the process's: STREAM_CAPACITY_REACHED (503 with Retry-After), so a client retries, through the load
// balancer, on another instance. Counted per process, like the memory it protects.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';

/** What a client refused for the process's bound is told to wait before it tries again. */
export const STREAM_CAPACITY_RETRY_AFTER_S = 5;

@Injectable()
export class StreamSlots {
  private total = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Takes a slot for `caller` or throws; the returned function gives it back (once, however often it is called). */
  take(caller: string): () => void {
    const { maxStreams, maxStreamsPerCaller } = this.config.progressStreams;
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= maxStreamsPerCaller) {
      throw new DomainError(
        'TOO_MANY_STREAMS',
        `${caller} has ${mine} progress streams open on this instance, its limit; close one before opening another`,
        { details: { limit: maxStreamsPerCaller } },
      );
    }
    if (this.total >= maxStreams) {
      throw new DomainError(
        'STREAM_CAPACITY_REACHED',
        `this instance holds ${this.total} progress streams, its limit; retry in ${STREAM_CAPACITY_RETRY_AFTER_S}s`,
        { details: { retryAfterSeconds: STREAM_CAPACITY_RETRY_AFTER_S } },
      );
    }
    this.total += 1;
    this.byCaller.set(caller, mine + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.total -= 1;
      const left = (this.byCaller.get(caller) ?? 1) - 1;
      if (left > 0) this.byCaller.set(caller, left);
      else this.byCaller.delete(caller);
    };
  }

  /** Slots held now: in all, or by one caller. */
  held(caller?: string): number {
    return caller === undefined ? this.total : (this.byCaller.get(caller) ?? 0);
  }
}
