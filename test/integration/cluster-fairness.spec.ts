// Fairness across clusters (src/queue/cluster-share.ts): each cluster has a budget of WORKER_CONCURRENCY slots of
// its own. 1) A slow cluster's backlog does not hold every worker slot: requests of cluster `staging` whose
// namespace writes hang for seconds are queued first, one request of cluster `emulator` last; with a budget of 2,
// the `emulator` request finishes while `staging` requests are still waiting their turn (without a per-cluster
// limit the worker's slots all go to `staging` and it waits behind them). 2) The slots a slow cluster holds do not
// come out of a healthy cluster's: with `staging` running its 2, both `emulator` requests run at once (the rule
// before 2026-12-04, an equal share of a fixed pool, gave `emulator` 1 slot and ran them one after the other).
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
