// Outlier verdicts (src/kubernetes/cluster-health.ts) from the calls a worker made: the failure share, the 25th
// percentile of call times against the other clusters', the minimum of calls a verdict needs, the window, recovery,
// and the gauge that shows them.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ClusterHealth, HOLD_MS, MIN_CALLS, WINDOW_S } from '../../src/kubernetes/cluster-health.js';
import type { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { MetricsService } from '../../src/observability/metrics.service.js';
import type { QueueService } from '../../src/queue/queue.service.js';

const T0 = 1_800_000_000_000;

function health(env: Record<string, string> = {}) {
  // Neither the gateway (record() is fed directly) nor the queue (read only by the queue-depth gauge) is used here.
  const metrics = new MetricsService(undefined as unknown as QueueService);
  const h = new ClusterHealth(undefined as unknown as ClusterGateway, metrics, loadConfig({ ROLE: 'worker', ...env }));
  const calls = (cluster: string, n: number, ms: number, status: number | 'error' = 200, at = T0) => {
    for (let i = 0; i < n; i++) h.record({ cluster, verb: 'get', status, ms }, at);
  };
  const gauge = async () =>
    Object.fromEntries(
      (await metrics.registry.getSingleMetric('osm_onboarding_cluster_outlier')!.get()).values.map((v) => [
        v.labels.cluster,
        v.value,
      ]),
    );
  return { h, calls, gauge };
}

describe('cluster outliers', () => {
  it('judges a cluster whose calls fail in the set share or more an outlier, and not one below it', async () => {
    const { h, calls, gauge } = health();
    calls('a', 18, 10);
    calls('a', 2, 10, 503); // 10 %
    calls('b', 19, 10);
    calls('b', 1, 10, 'error'); // 5 %
    calls('c', 20, 10, 404); // refusals are answers, not failures
    expect(h.isOutlier('a', T0)).toBe(true);
    expect(h.isOutlier('b', T0)).toBe(false);
    expect(h.isOutlier('c', T0)).toBe(false);
    expect(await gauge()).toEqual({ a: 1 });
  });

  it('counts 429 and every 5xx as failures, and leaves watches out', () => {
    const { h, calls } = health();
    calls('a', 9, 10);
    calls('a', 1, 10, 429);
    calls('b', 9, 10);
    calls('b', 1, 10, 500);
    for (let i = 0; i < 50; i++) h.record({ cluster: 'b', verb: 'watch', status: 'error', ms: 30_000 }, T0);
    expect(h.isOutlier('a', T0)).toBe(true);
    expect(h.isOutlier('b', T0)).toBe(true);
    expect(h.window('b', T0).calls).toBe(10);
  });

  it("judges a cluster whose quick calls take the factor times the others' an outlier", () => {
    const { h, calls } = health();
    calls('slow', 20, 120);
    calls('a', 20, 12);
    calls('b', 20, 15);
    // A busy worker's long tail on every cluster moves means, not the quicker quarter.
    calls('a', 10, 400);
    calls('b', 10, 400);
    expect(h.isOutlier('slow', T0)).toBe(true);
    expect(h.isOutlier('a', T0)).toBe(false);
    expect(h.isOutlier('b', T0)).toBe(false);
    expect(h.window('slow', T0).p25Ms).toBeGreaterThan(100);
    expect(h.window('slow', T0).p25Ms).toBeLessThan(140);
  });

  it('needs the factor and 25 ms more: a few milliseconds against one are no outlier', () => {
    const { h, calls } = health();
    calls('a', 20, 8);
    calls('b', 20, 1);
    expect(h.isOutlier('a', T0)).toBe(false);
    const { h: h2, calls: calls2 } = health({ CLUSTER_OUTLIER_LATENCY_FACTOR: '10' });
    calls2('a', 20, 60);
    calls2('b', 20, 10);
    expect(h2.isOutlier('a', T0)).toBe(false);
  });

  it('changes no verdict on fewer calls than the minimum, and forgets calls older than the window', () => {
    const { h, calls } = health();
    calls('a', MIN_CALLS - 1, 10, 503);
    expect(h.isOutlier('a', T0)).toBe(false);
    calls('a', 1, 10, 503);
    expect(h.isOutlier('a', T0 + 300)).toBe(true);
    // Past the window only new calls count: too few to judge again, so the verdict holds ...
    const later = T0 + HOLD_MS + 1000;
    calls('a', 3, 10, 200, later);
    expect(h.window('a', later).calls).toBe(3);
    expect(h.isOutlier('a', later)).toBe(true);
    // ... until enough healthy calls say otherwise.
    calls('a', MIN_CALLS, 10, 200, later);
    expect(h.isOutlier('a', later + 300)).toBe(false);
  });

  it('holds an outlier for its hold time, then until it is below 2/3 of the bound', () => {
    const { h, calls } = health();
    calls('a', 10, 10, 503);
    expect(h.isOutlier('a', T0)).toBe(true);
    // Well at once, but within the hold time.
    const well = T0 + WINDOW_S * 1000;
    calls('a', 40, 10, 200, well);
    expect(h.isOutlier('a', well)).toBe(true);
    // Past it: 8 % of failures is under the 10 % that made it an outlier, not under 2/3 of it ...
    const past = T0 + HOLD_MS + WINDOW_S * 1000;
    calls('a', 46, 10, 200, past);
    calls('a', 4, 10, 503, past);
    expect(h.isOutlier('a', past)).toBe(true);
    // ... 5 % is.
    const after = past + WINDOW_S * 1000;
    calls('a', 95, 10, 200, after);
    calls('a', 5, 10, 503, after);
    expect(h.isOutlier('a', after)).toBe(false);
    // And a cluster that was never one is judged by the bound itself.
    calls('b', 46, 10, 200, after);
    calls('b', 4, 10, 503, after);
    expect(h.isOutlier('b', after + 300)).toBe(false);
  });

  it('keeps a verdict for a quarter of a second, then judges again', () => {
    const { h, calls } = health();
    calls('a', 20, 10);
    expect(h.isOutlier('a', T0)).toBe(false);
    calls('a', 20, 10, 503);
    expect(h.isOutlier('a', T0 + 100)).toBe(false);
    expect(h.isOutlier('a', T0 + 250)).toBe(true);
  });
});
