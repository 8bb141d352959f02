// Owns how many of a batch's targets read the cluster at once: a batch's plans (and a dry-run batch's drafts) go
// a few at a time, so that a 500-target batch does not put all its calls at once in the cluster's call budget
// (rate-limiter.ts, a FIFO queue per process) ahead of every other caller's.

/** How many targets of one batch read the cluster at once. */
export const BATCH_READ_CONCURRENCY = 4;

/** `fn` over `items`, at most `limit` at a time, the results in the items' order; the first failure rejects. */
export async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  limit = BATCH_READ_CONCURRENCY,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        failed = true; // the others stop taking new items
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
