// PLAN_CONCURRENCY: plans sent together wait their turn in the API process (a plan holds its namespace's lists
// while it runs), seen in the emulator's request log: one plan's reads end before the next plan's begin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName } from '../support/harness.js';

describe('plans wait their turn (PLAN_CONCURRENCY)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { PLAN_CONCURRENCY: '1' } });
  });
  afterAll(() => s?.close());

  it('computes one plan at a time: the second reads the cluster only once the first is done', async () => {
    const names = [uniqueName('turn'), uniqueName('turn')];
    for (const ns of names) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    // Slow pod lists, so that two plans run together would overlap.
    s.emulator.faults.add({ verb: 'list', resource: 'pods', latencyMs: 300 });
    s.emulator.requests.clear();
    const plans = await Promise.all(
      names.map((namespace) => http(s.url, 'POST', '/v1/onboardings/plan', { namespace })),
    );
    expect(plans.map((p) => p.status)).toEqual([200, 200]);
    const span = (ns: string) => {
      const calls = s.emulator.requests.all().filter((e) => e.namespace === ns && e.verb === 'list');
      expect(calls.length).toBeGreaterThan(0);
      return { from: Math.min(...calls.map((c) => c.at)), to: Math.max(...calls.map((c) => c.at + c.durationMs)) };
    };
    const [a, b] = names.map(span).sort((x, y) => x.from - y.from);
    expect(b.from).toBeGreaterThanOrEqual(a.to);
  });
});
