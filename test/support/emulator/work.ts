// Background work of the simulated control plane (controller queues, kubelet delays, informer lag).
// Tracking it lets tests and the seed wait until the cluster has settled.

export class WorkTracker {
  private pending = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private waiters: (() => void)[] = [];
  private closed = false;

  /** Runs `fn` after `ms` milliseconds (0 = next macrotask), unless the emulator closed. */
  schedule(ms: number, fn: () => void): void {
    if (this.closed) return;
    this.pending++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      try {
        if (!this.closed) fn();
      } catch (err) {
        process.emitWarning(`emulator background task failed: ${(err as Error).stack ?? String(err)}`);
      } finally {
        this.pending--;
        this.notifyIfIdle();
      }
    }, ms);
    this.timers.add(timer);
  }

  /**
   * Like schedule, but not counted by idle(): for slow periodic retries (a controller waiting for a
   * webhook to come back) that would otherwise keep the cluster from ever looking settled.
   */
  scheduleUntracked(ms: number, fn: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      try {
        fn();
      } catch (err) {
        process.emitWarning(`emulator background task failed: ${(err as Error).stack ?? String(err)}`);
      }
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  /** Resolves once no background work is pending. */
  idle(): Promise<void> {
    if (this.pending === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.pending = 0;
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.pending !== 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
