// GroupInsert (src/onboarding/group-insert.ts): natural batching without a timer, the in-flight bound, the group
// size bound, and the fallback that gives every request of a failed group its own answer.
import { describe, expect, it } from 'vitest';
import { GroupInsert } from '../../src/onboarding/group-insert.js';

/** A fake database whose statements finish when the test says so. */
function harness(opts: { maxInFlight: number; maxGroup: number; failMany?: (items: number[]) => string | undefined }) {
  const statements: { kind: 'one' | 'many'; items: number[]; finish: () => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = <T>(kind: 'one' | 'many', items: number[], answer: () => T) =>
    new Promise<T>((resolve, reject) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      statements.push({
        kind,
        items,
        finish: () => {
          running--;
          try {
            resolve(answer());
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      });
    });
  const group = new GroupInsert<number, string>({
    one: (n) =>
      run('one', [n], () => {
        if (n < 0) throw new Error(`refused ${n}`);
        return `stored ${n}`;
      }),
    many: (items) =>
      run('many', items, () => {
        const failure = opts.failMany?.(items);
        if (failure) throw Object.assign(new Error(`group refused (${failure})`), { code: failure });
        return items.map((n) => `stored ${n}`);
      }),
    maxInFlight: opts.maxInFlight,
    maxGroup: opts.maxGroup,
    retryAlone: (err) => (err as { code?: string }).code === '23505',
  });
  const tick = () => new Promise((r) => setImmediate(r));
  const finishAll = async () => {
    while (statements.some((s) => s.finish)) {
      const open = statements.filter((s) => s.finish);
      for (const s of open) {
        const f = s.finish;
        (s as { finish?: () => void }).finish = undefined;
        f();
      }
      await tick();
    }
  };
  return { group, statements, finishAll, tick, maxRunning: () => maxRunning };
}

describe('GroupInsert', () => {
  it('a request that finds a free slot goes at once and alone (no timer, no added latency)', async () => {
    const h = harness({ maxInFlight: 2, maxGroup: 32 });
    const a = h.group.insert(1);
    expect(h.statements.map((s) => [s.kind, s.items])).toEqual([['one', [1]]]);
    await h.finishAll();
    expect(await a).toBe('stored 1');
    expect(h.group.stats).toEqual({ statements: 1, grouped: 0, fallbacks: 0 });
  });

  it('while every slot is busy, requests wait and the next free slot takes them in one statement', async () => {
    const h = harness({ maxInFlight: 2, maxGroup: 32 });
    const answers = [1, 2, 3, 4, 5, 6].map((n) => h.group.insert(n));
    // 1 and 2 took the two slots; 3–6 wait
    expect(h.statements.map((s) => s.items)).toEqual([[1], [2]]);
    h.statements[0].finish();
    await h.tick();
    expect(h.statements.map((s) => [s.kind, s.items])).toEqual([
      ['one', [1]],
      ['one', [2]],
      ['many', [3, 4, 5, 6]],
    ]);
    await h.finishAll();
    expect(await Promise.all(answers)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `stored ${n}`));
    expect(h.maxRunning()).toBe(2);
    expect(h.group.stats).toEqual({ statements: 3, grouped: 4, fallbacks: 0 });
  });

  it('never more than maxGroup requests in a statement, never more than maxInFlight statements', async () => {
    const h = harness({ maxInFlight: 1, maxGroup: 3 });
    const answers = Array.from({ length: 10 }, (_, i) => h.group.insert(i));
    await h.finishAll();
    expect(h.statements.map((s) => s.items)).toEqual([[0], [1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    expect(h.maxRunning()).toBe(1);
    expect(await Promise.all(answers)).toHaveLength(10);
  });

  it('a failed group is written again request by request: each gets its own row or its own error', async () => {
    const h = harness({
      maxInFlight: 1,
      maxGroup: 32,
      failMany: (items) => (items.some((n) => n < 0) ? '23505' : undefined),
    });
    const answers = [1, 2, -3, 4].map((n) => h.group.insert(n).catch((err: Error) => err.message));
    await h.finishAll();
    expect(h.statements.map((s) => [s.kind, s.items])).toEqual([
      ['one', [1]],
      ['many', [2, -3, 4]],
      ['one', [2]],
      ['one', [-3]],
      ['one', [4]],
    ]);
    expect(await Promise.all(answers)).toEqual(['stored 1', 'stored 2', 'refused -3', 'stored 4']);
    expect(h.group.stats.fallbacks).toBe(1);
  });

  it("a failure that is no request's doing (no connection) is the group's answer, without a second try", async () => {
    const h = harness({ maxInFlight: 1, maxGroup: 32, failMany: () => 'ECONNREFUSED' });
    const answers = [1, 2, 3].map((n) => h.group.insert(n).catch((err: Error) => err.message));
    await h.finishAll();
    expect(h.statements.map((s) => [s.kind, s.items])).toEqual([
      ['one', [1]],
      ['many', [2, 3]],
    ]);
    expect(await Promise.all(answers)).toEqual([
      'stored 1',
      'group refused (ECONNREFUSED)',
      'group refused (ECONNREFUSED)',
    ]);
    expect(h.group.stats.fallbacks).toBe(0);
  });
});
