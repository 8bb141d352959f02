// Owns running async work over a list a few items at a time, the results in the list's order: a batch's plans and
// drafts (BATCH_READ_CONCURRENCY, onboarding.service.ts), namespace status's pod lists.

/** `fn` over `items`, at most `limit` at a time, the results in the items' order; the first failure rejects. */
export async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  limit: number,
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
