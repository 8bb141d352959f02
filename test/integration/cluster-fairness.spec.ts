// Fairness across clusters (src/queue/cluster-share.ts): each cluster has a budget of WORKER_CONCURRENCY slots of
// its own. 1) A slow cluster's backlog does not hold every worker slot: requests of cluster `staging` whose
// namespace writes hang for seconds are queued first, one request of cluster `emulator` last; with a budget of 2,
// the `emulator` request finishes while `staging` requests are still waiting their turn (without a per-cluster
// limit the worker's slots all go to `staging` and it waits behind them). 2) The slots a slow cluster holds do not
// come out of a healthy cluster's: with `staging` running its 2, both `emulator` requests run at once (the rule
// before 2026-12-04, an equal share of a fixed pool, gave `emulator` 1 slot and ran them one after the other).
// 3) An outlier is served last (src/kubernetes/cluster-health.ts): once half of `staging`'s calls fail, it runs one
// request at a time while `emulator` has work; with CLUSTER_OUTLIER_DETECTION=false it keeps running its budget.
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterHealth } from '../../src/kubernetes/cluster-health.js';
import { MetricsService } from '../../src/observability/metrics.service.js';
import { testDatabaseUrl } from '../support/database.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { http, stackEnv, startApi, startWorker, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

/** Requests `count` onboardings of `cluster`, each namespace's writes taking `latencyMs`; returns their ids. */
async function submit(
  emulator: Emulator,
  url: string,
  cluster: string,
  count: number,
  latencyMs: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const ns = uniqueName(`${cluster.slice(0, 4)}c`);
    await createNamespace(emulator, ns);
    // Both contexts reach this one emulator: the slowness is per namespace.
    emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, latencyMs });
    const r = await http(url, 'POST', '/v1/onboardings', { cluster, namespace: ns, prerequisites: { enabled: false } });
    expect(r.status).toBe(202);
    ids.push(r.body.id);
  }
  return ids;
}

describe('worker slots shared fairly across clusters', () => {
  let emulator: Emulator;
  let api: { app: INestApplication; url: string };
  let worker: INestApplicationContext | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    emulator = await startEmulator();
    env = await stackEnv(emulator, { ROLE: 'api' });
    api = await startApi(env);
  });
  afterAll(async () => {
    emulator?.faults.clear();
    await worker?.close();
    await api?.app.close();
    await emulator?.close();
  });

  it("runs a healthy cluster's request while a slow cluster's backlog waits", async () => {
    const slow = await submit(emulator, api.url, 'staging', 4, 6000);
    const [fast] = await submit(emulator, api.url, 'emulator', 1, 0);

    worker = await startWorker({ ...env, WORKER_CONCURRENCY: '2' });
    const done = await waitForStatus(api.url, fast, ['SUCCEEDED', 'FAILED'], 60_000);
    expect(done.status).toBe('SUCCEEDED');
    // Each `staging` request holds its slot for 6 s; had they taken both slots, all four would have
    // started (two at a time) before the `emulator` one could.
    const states = await Promise.all(
      slow.map(async (id) => (await http(api.url, 'GET', `/v1/onboardings/${id}`)).body),
    );
    expect(states.filter((s) => s.startedAt === null).length).toBeGreaterThanOrEqual(2);
    expect(states.filter((s) => s.status === 'SUCCEEDED').length).toBe(0);
    // The jobs it took over the cluster's share and put back are counted, by cluster.
    const deferred = (await worker.get(MetricsService).jobsDeferred.get()).values;
    expect(deferred.find((v) => v.labels.cluster === 'staging')?.value).toBeGreaterThan(0);
    expect(deferred.find((v) => v.labels.cluster === 'emulator')).toBeUndefined();
  });

  it("keeps a healthy cluster's budget while a slow cluster holds its own", async () => {
    // A queue of its own (fresh prefix): the first test's worker and its hanging requests are elsewhere.
    const env2 = await stackEnv(emulator, { ROLE: 'api' });
    const api2 = await startApi(env2);
    let worker2: INestApplicationContext | undefined;
    try {
      const slow = await submit(emulator, api2.url, 'staging', 2, 10_000);
      const healthy = await submit(emulator, api2.url, 'emulator', 2, 4000);
      worker2 = await startWorker({ ...env2, WORKER_CONCURRENCY: '2' });
      const done = await Promise.all(healthy.map((id) => waitForStatus(api2.url, id, ['SUCCEEDED', 'FAILED'], 60_000)));
      expect(done.map((d) => d.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      // Both ran at once (each write takes 4 s; one after the other they start ≥ 4 s apart) ...
      const [a, b] = done.map((d) => new Date(d.startedAt).getTime());
      expect(Math.abs(a - b)).toBeLessThan(2000);
      // ... while the slow cluster held its own 2 slots.
      const states = await Promise.all(
        slow.map(async (id) => (await http(api2.url, 'GET', `/v1/onboardings/${id}`)).body),
      );
      expect(states.map((s) => s.status)).toEqual(['RUNNING', 'RUNNING']);
    } finally {
      await worker2?.close();
      await api2.app.close();
    }
  });

  /**
   * 10 `staging` requests whose namespaces answer 300 ms late and 503 to half the calls, and 3 `emulator` requests
   * whose namespace patch takes 10 s (time for the verdict and for the requests in flight before it to end, on a
   * busy machine too), with a budget of 3. Samples the running requests of each cluster every 100 ms until the
   * `emulator` ones end; returns the most `staging` requests seen running at once after the worker judged
   * `staging` an outlier and its requests in flight from before had ended (or over the whole run when it never did).
   */
  async function stagingWhileEmulatorWorks(extra: Record<string, string>) {
    // The first test's worker would sweep these requests (QUEUED in the same database) into its own queue.
    await worker?.close();
    worker = undefined;
    const env3 = await stackEnv(emulator, { ROLE: 'api', ...extra });
    const api3 = await startApi(env3);
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    let worker3: INestApplicationContext | undefined;
    const faults: string[] = [];
    try {
      const staging = await submit(emulator, api3.url, 'staging', 10, 0);
      const healthy = await submit(emulator, api3.url, 'emulator', 3, 10_000);
      // Added after the requests were accepted: the API's request-time reads go to the same namespaces.
      for (const id of staging) {
        const ns = (await http(api3.url, 'GET', `/v1/onboardings/${id}`)).body.namespace;
        for (const where of [{ namespace: ns }, { resource: 'namespaces', name: ns }]) {
          faults.push(emulator.faults.add({ ...where, latencyMs: 300 }));
          faults.push(emulator.faults.add({ ...where, status: 503, probability: 0.5 }));
        }
      }
      worker3 = await startWorker({ ...env3, WORKER_CONCURRENCY: '3' });
      const health = worker3.get(ClusterHealth);
      let judged = false;
      let settled = false;
      let most = 0;
      let samples = 0;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
        const running = await db.query<{ cluster: string; n: number }>(
          `SELECT cluster, count(*)::int AS n FROM onboarding_request
            WHERE id = ANY($1) AND status = 'RUNNING' GROUP BY cluster`,
          [[...staging, ...healthy]],
        );
        const left = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM onboarding_request WHERE id = ANY($1) AND finished_at IS NULL`,
          [healthy],
        );
        if (left.rows[0].n === 0) break;
        const of = (c: string) => running.rows.find((r) => r.cluster === c)?.n ?? 0;
        judged ||= health.isOutlier('staging');
        settled ||= judged && of('staging') <= 1;
        if (settled || extra.CLUSTER_OUTLIER_DETECTION === 'false') {
          most = Math.max(most, of('staging'));
          samples += 1;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { judged, most, samples };
    } finally {
      for (const id of faults) emulator.faults.remove(id);
      await worker3?.close();
      await api3.app.close();
      await db.end();
    }
  }

  it('serves a cluster whose calls fail last, one request at a time, while another cluster has work', async () => {
    const { judged, most, samples } = await stagingWhileEmulatorWorks({});
    expect(judged).toBe(true);
    expect(samples).toBeGreaterThan(10);
    expect(most).toBe(1);
  }, 90_000);

  it('keeps running the budget of a failing cluster with outlier detection off', async () => {
    const { judged, most } = await stagingWhileEmulatorWorks({ CLUSTER_OUTLIER_DETECTION: 'false' });
    expect(judged).toBe(false);
    expect(most).toBe(3);
  }, 90_000);
});
