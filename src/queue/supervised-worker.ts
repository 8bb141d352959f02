// Owns a BullMQ worker that is replaced when its fetch loop stops (superviseWorker), and the judgement that it has
// stopped (FetchWatch): jobs have waited in the queue for WORKER_STALL_MS while this worker ran none of its own and
// took none. A healthy worker with a free slot takes a waiting job within milliseconds (the queue's marker wakes its
// blocking read) or, at worst, when that read times out (10 s).
// Seen on a Redis Cluster restarted whole (test/integration/redis-topology.spec.ts): in about one restart in ten,
// BullMQ 6.7's recovery of its blocking connection (RedisConnection.reconnect, after its watchdog abandoned a BZPOPMIN)
// never returned although the client was ready again, and the worker took no job again while its process stayed up
// and ready. BullMQ has fixed kin of this hang one by one (taskforcesh/bullmq#4479, #4585 for a standalone Redis,
// #4138 for a Cluster); its maintainers' advice for what remains (#3185) is to close such a worker and create a new
// one, which superviseWorker does (the onboarding queue's worker, QueueService, and the webhook deliveries').
import type { Job, Queue, Worker } from 'bullmq';

export class FetchWatch {
  private inFlight = 0;
  private lastTakenAt: number;
  /** Since when every look found jobs waiting while nothing ran here. */
  private waitingSince?: number;

  constructor(
    private readonly stallMs: number,
    now = Date.now(),
  ) {
    this.lastTakenAt = now;
  }

  /** The worker handed a job to its processor (a deferral to another time counts: the loop works). */
  taken(now = Date.now()): void {
    this.inFlight += 1;
    this.lastTakenAt = now;
  }

  /** That job's processor returned (or threw). */
  settled(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  /** A fresh worker: the clock starts again. */
  reset(now = Date.now()): void {
    this.inFlight = 0;
    this.lastTakenAt = now;
    this.waitingSince = undefined;
  }

  /**
   * One look at the queue: `waiting` jobs ready to run (not delayed). True when the loop has stalled: jobs have been
   * waiting for stallMs, in every look, while this worker ran nothing and took nothing.
   */
  stalled(waiting: number, now = Date.now()): boolean {
    if (waiting === 0 || this.inFlight > 0) {
      this.waitingSince = undefined;
      return false;
    }
    this.waitingSince ??= now;
    return now - Math.max(this.waitingSince, this.lastTakenAt) >= this.stallMs;
  }
}

/** A worker that is replaced when its fetch loop stalls: the one running now, and how many were replaced. */
export interface SupervisedWorker<T> {
  readonly current: Worker<T>;
  readonly replacements: number;
  close(): Promise<void>;
}

/** How long a replaced worker may take to close before its connections are cut. */
const REPLACED_CLOSE_MS = 5000;

/**
 * Runs `process` on a worker made by `create` (which starts it, on a connection of its own), and looks every
 * stallMs/4 (250 ms to 5 s) at `queue`'s jobs ready to run. Once the fetch loop has stalled, `warn` is told, and a
 * new worker from `create` takes over; the stalled one is closed (its connections cut if that hangs), then the
 * connection it was given (BullMQ leaves a given connection open). stallMs 0: never looked at.
 */
export function superviseWorker<T>(o: {
  stallMs: number;
  queue: Queue;
  process: (job: Job<T>, token?: string) => Promise<unknown>;
  create: (process: (job: Job<T>, token?: string) => Promise<unknown>) => {
    worker: Worker<T>;
    connection: { disconnect(): void };
  };
  /** Where the replacement is told, as a line starting with "queue: …". */
  warn: (message: string) => void;
}): SupervisedWorker<T> {
  const watch = new FetchWatch(o.stallMs);
  const process = async (job: Job<T>, token?: string) => {
    watch.taken();
    try {
      return await o.process(job, token);
    } finally {
      watch.settled();
    }
  };
  let { worker, connection } = o.create(process);
  let replacements = 0;
  let closed = false;
  let looking = false;
  const look = async () => {
    if (closed || looking) return;
    looking = true;
    try {
      const waiting = await waitingJobs(o.queue);
      if (closed || !watch.stalled(waiting)) return;
      o.warn(
        `queue: ${waiting} job(s) waited ${Math.round(o.stallMs / 1000)}s while this worker took none (its fetch ` +
          `loop stalled); replacing the worker`,
      );
      const stale = { worker, connection };
      ({ worker, connection } = o.create(process));
      replacements += 1;
      watch.reset();
      void closeWithin(stale.worker, REPLACED_CLOSE_MS).then(() => stale.connection.disconnect());
    } catch {
      // Redis away: the next look decides.
    } finally {
      looking = false;
    }
  };
  const timer =
    o.stallMs > 0
      ? setInterval(() => void look(), Math.max(250, Math.min(5000, Math.floor(o.stallMs / 4))))
      : undefined;
  timer?.unref();
  return {
    get current() {
      return worker;
    },
    get replacements() {
      return replacements;
    },
    close: async () => {
      closed = true;
      clearInterval(timer);
      await worker.close();
    },
  };
}

/** Closes a replaced worker; if that hangs (its fetch loop is what stalled), cuts its connections instead. */
async function closeWithin(worker: Worker, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const outcome = await Promise.race([worker.close(true).catch(() => undefined), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') await worker.disconnect().catch(() => undefined);
}

/** A queue's jobs ready to run (not delayed): what a stalled worker leaves waiting. */
async function waitingJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'prioritized');
  return (counts.waiting ?? 0) + (counts.prioritized ?? 0);
}
