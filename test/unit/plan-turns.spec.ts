// PlanTurns: PLAN_CONCURRENCY turns shared by every cluster, a freed one handed to the cluster with the fewest plans
// running, and a wait bounded by the plan's deadline.
import { describe, expect, it } from 'vitest';
import { PlanTurns } from '../../src/onboarding/plan-turns.js';

describe('PlanTurns (who plans next)', () => {
  it("gives a freed turn to another cluster's plan before a slow cluster's next ones", async () => {
    const turns = new PlanTurns(2);
    const a1 = await turns.take('slow', 1_000);
    const a2 = await turns.take('slow', 1_000);
    const order: string[] = [];
    const wait = (cluster: string, name: string) =>
      turns.take(cluster, 1_000).then((release) => {
        order.push(name);
        return release;
      });
    const queued = [wait('slow', 'slow 3'), wait('slow', 'slow 4'), wait('healthy', 'healthy')];
    a1!();
    a2!();
    const [healthy, slow3] = await Promise.all([queued[2], queued[0]]);
    // The first freed turn went to the healthy cluster (none running), the second to the slow one's first waiter.
    expect(order).toEqual(['healthy', 'slow 3']);
    healthy!();
    expect(await queued[1]).toBeTypeOf('function');
    expect(order).toEqual(['healthy', 'slow 3', 'slow 4']);
    slow3!();
  });

  it('answers undefined when no turn comes within the wait, and forgets that plan', async () => {
    const turns = new PlanTurns(1);
    const held = await turns.take('a', 1_000);
    expect(await turns.take('b', 20)).toBeUndefined();
    held!();
    held!(); // twice: counted once
    const next = await turns.take('b', 20);
    expect(next).toBeTypeOf('function');
    expect(await turns.take('c', 20)).toBeUndefined();
  });
});
