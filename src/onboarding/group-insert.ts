// Group insert of new requests (OnboardingRepository.insertNew outside a caller's transaction): owns the queue of
// requests waiting for a statement, how many statements run at once, and the fallback to one statement per
// request when a group statement fails.
//
// Why: most of the database's CPU for a new request is per statement, not per row (the executor, the lifecycle
// trigger, the commit). Measured on the bench machine, 5 requests in one statement cost Postgres 0.26 ms each
// against 0.55–0.66 ms in statements of their own (docs/performance.md, eighth round).
//
// How: natural batching, no timer. A request whose turn comes while fewer than `maxInFlight` statements run goes
// at once, alone; only while all of them run do new requests wait, and the next free slot takes all that waited
// (up to `maxGroup`) in one statement. An idle service therefore writes each request as before, with no added
// latency; a busy one writes groups as large as the load makes them.
//
// A group is one statement, so one implicit transaction: all of it is stored or none. When it fails because of
// one request's data (a second active request for a namespace, say: one row's unique violation fails the whole
// statement; `retryAlone` tells), each request of the group is written again in a statement of its own, so every
// caller gets exactly the answer it would have had alone (its row, or its own error) and no request fails for
// another's. Any other failure (no connection, a timeout) is every request's answer, as it would have been alone,
// without a second wait for each.

export interface GroupInsertOptions<I, O> {
  /** Writes one request alone. */
  one(item: I): Promise<O>;
  /** Writes several in one statement; answers in the items' order. */
  many(items: I[]): Promise<O[]>;
  /** Statements running at once (at most the pool's connections). */
  maxInFlight: number;
  /** Requests per statement at most. */
  maxGroup: number;
  /** Whether a group's failure may be one request's doing: then each is written again alone. */
  retryAlone: (err: unknown) => boolean;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export class GroupInsert<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  /** Statements written, requests written in groups, groups written again one by one (read by the tests). */
  readonly stats = { statements: 0, grouped: 0, fallbacks: 0 };

  constructor(private readonly options: GroupInsertOptions<I, O>) {}

  insert(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.options.maxGroup);
      this.inFlight++;
      void this.write(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async write(group: Waiting<I, O>[]): Promise<void> {
    this.stats.statements++;
    if (group.length === 1) {
      const [w] = group;
      await this.options.one(w.item).then(w.resolve, w.reject);
      return;
    }
    this.stats.grouped += group.length;
    let results: O[];
    try {
      results = await this.options.many(group.map((w) => w.item));
    } catch (err) {
      if (!this.options.retryAlone(err)) {
        for (const w of group) w.reject(err);
        return;
      }
      // Nothing of the group is stored: each request again, alone, for its own answer (the pool bounds how many of
      // these run at once).
      this.stats.fallbacks++;
      await Promise.all(group.map((w) => this.options.one(w.item).then(w.resolve, w.reject)));
      return;
    }
    group.forEach((w, i) => w.resolve(results[i]));
  }
}
