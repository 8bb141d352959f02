// Owns the plan turns of one API process (PLAN_CONCURRENCY): how many plans run at once, who goes next, and how long
// a plan may wait for its turn.
//
// The turns are shared by every cluster, not counted per cluster: they bound the process's heap (a plan holds its
// namespace's lists), which per-cluster turns would multiply by the number of clusters. So that one slow cluster
// cannot keep the others waiting, a freed turn goes to the cluster with the fewest plans running among those with
// plans waiting (the earliest arrival first among equals), not to whichever plan came first: a cluster whose plans
// hang holds the turns it has until their deadline (PLAN_TIMEOUT_MS), but its queue does not stand in front of other
// clusters' plans. And no plan waits longer than its deadline for a turn.

interface Waiter {
  cluster: string;
  /** Arrival order, across clusters. */
  seq: number;
  grant: (release: () => void) => void;
}

export class PlanTurns {
  private running = 0;
  private readonly runningBy = new Map<string, number>();
  /** Plans waiting for a turn, per cluster, in arrival order. */
  private readonly waiting = new Map<string, Waiter[]>();
  private arrivals = 0;

  constructor(private readonly turns: number) {}

  /**
   * A turn for a plan of `cluster`: resolves with its release (call it once, when the plan is done or abandoned), or
   * with undefined when none came within `waitMs`.
   */
  take(cluster: string, waitMs: number): Promise<(() => void) | undefined> {
    if (this.running < this.turns) return Promise.resolve(this.start(cluster));
    return new Promise((resolve) => {
      const waiter: Waiter = { cluster, seq: this.arrivals++, grant: resolve };
      const queue = this.waiting.get(cluster) ?? [];
      queue.push(waiter);
      this.waiting.set(cluster, queue);
      const timer = setTimeout(() => {
        this.leave(waiter);
        resolve(undefined);
      }, waitMs);
      waiter.grant = (release) => {
        clearTimeout(timer);
        resolve(release);
      };
    });
  }

  private start(cluster: string): () => void {
    this.running += 1;
    this.runningBy.set(cluster, (this.runningBy.get(cluster) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      const n = (this.runningBy.get(cluster) ?? 1) - 1;
      if (n > 0) this.runningBy.set(cluster, n);
      else this.runningBy.delete(cluster);
      this.next();
    };
  }

  /** Hands the free turns to the waiting plans: the cluster with the fewest running first, then the earliest. */
  private next(): void {
    while (this.running < this.turns) {
      let chosen: Waiter | undefined;
      for (const [cluster, queue] of this.waiting) {
        const head = queue[0];
        const load = this.runningBy.get(cluster) ?? 0;
        const best = chosen ? (this.runningBy.get(chosen.cluster) ?? 0) : Infinity;
        if (!chosen || load < best || (load === best && head.seq < chosen.seq)) chosen = head;
      }
      if (!chosen) return;
      this.leave(chosen);
      chosen.grant(this.start(chosen.cluster));
    }
  }

  private leave(waiter: Waiter): void {
    const queue = this.waiting.get(waiter.cluster);
    if (!queue) return;
    const i = queue.indexOf(waiter);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.waiting.delete(waiter.cluster);
  }
}
