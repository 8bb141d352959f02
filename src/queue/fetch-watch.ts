// Owns the judgement that a worker's BullMQ fetch loop has stopped: jobs have waited in the queue for
// WORKER_STALL_MS while this worker ran none of its own and took none. A healthy worker with a free slot takes a
// waiting job within milliseconds (the queue's marker wakes its blocking read) or, at worst, when that read times out
// (10 s). Seen on a Redis Cluster restarted whole (test/integration/redis-topology.spec.ts): in about one restart in
// ten, BullMQ 6.7's recovery of its blocking connection (RedisConnection.reconnect, after its watchdog abandoned a
// BZPOPMIN) never returned although the client was ready again, and the worker took no job again while its process
// stayed up and ready. BullMQ has fixed kin of this hang one by one (taskforcesh/bullmq#4479, #4585 for a standalone
// Redis, #4138 for a Cluster); its maintainers' advice for what remains (#3185) is to close such a worker and create
// a new one, which QueueService does.

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
