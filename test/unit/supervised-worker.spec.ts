// When a worker's fetch loop counts as stalled (FetchWatch, src/queue/supervised-worker.ts): jobs waiting for
// WORKER_STALL_MS in every look while the worker runs none and takes none; a job taken, a job running or an empty queue
// starts the clock again.
import { describe, expect, it } from 'vitest';
import { FetchWatch } from '../../src/queue/supervised-worker.js';

describe('FetchWatch', () => {
  it('judges a loop stalled once jobs have waited the whole period while it took none', () => {
    const watch = new FetchWatch(30_000, 0);
    expect(watch.stalled(2, 1_000)).toBe(false);
    expect(watch.stalled(2, 30_999)).toBe(false);
    expect(watch.stalled(2, 31_000)).toBe(true);
  });

  it('starts the clock again when the queue is empty at a look', () => {
    const watch = new FetchWatch(30_000, 0);
    expect(watch.stalled(1, 1_000)).toBe(false);
    expect(watch.stalled(0, 20_000)).toBe(false);
    expect(watch.stalled(1, 40_000)).toBe(false);
    expect(watch.stalled(1, 69_999)).toBe(false);
    expect(watch.stalled(1, 70_000)).toBe(true);
  });

  it('never judges a worker that runs a job (a busy worker takes nothing new), nor one that just took one', () => {
    const watch = new FetchWatch(30_000, 0);
    watch.taken(1_000);
    expect(watch.stalled(5, 100_000)).toBe(false);
    watch.settled();
    // The clock starts at this look, not at the last job taken (jobs were not seen waiting before).
    expect(watch.stalled(5, 100_001)).toBe(false);
    expect(watch.stalled(5, 130_000)).toBe(false);
    expect(watch.stalled(5, 130_001)).toBe(true);
    watch.taken(131_000);
    watch.settled();
    expect(watch.stalled(5, 150_000)).toBe(false);
    expect(watch.stalled(5, 161_000)).toBe(true);
  });

  it('starts again from nothing for a replacement worker', () => {
    const watch = new FetchWatch(1_000, 0);
    watch.taken(0);
    expect(watch.stalled(1, 5_000)).toBe(false);
    watch.reset(5_000);
    expect(watch.stalled(1, 5_500)).toBe(false);
    expect(watch.stalled(1, 6_500)).toBe(true);
  });
});
