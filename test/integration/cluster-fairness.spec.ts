// Fairness across clusters (src/queue/cluster-share.ts): a slow cluster's backlog does not hold every worker
// slot. Requests of cluster `staging` whose namespace writes hang for seconds are queued first, one request of
// cluster `emulator` last; with 2 slots, the `emulator` request finishes while `staging` requests are still waiting
// their turn (without the rule both slots go to `staging` and it waits behind all of them).
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { http, stackEnv, startApi, startWorker, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

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
    const slow: string[] = [];
    for (let i = 0; i < 4; i++) {
      const ns = uniqueName('slowc');
      await createNamespace(emulator, ns);
      // Both contexts reach this one emulator: the slowness is per namespace (the `staging` ones).
      emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, latencyMs: 6000 });
      const r = await http(api.url, 'POST', '/v1/onboardings', {
        cluster: 'staging',
        namespace: ns,
        prerequisites: { enabled: false },
      });
      expect(r.status).toBe(202);
      slow.push(r.body.id);
    }
    const fastNs = uniqueName('fastc');
    await createNamespace(emulator, fastNs);
    const fast = await http(api.url, 'POST', '/v1/onboardings', {
      cluster: 'emulator',
      namespace: fastNs,
      prerequisites: { enabled: false },
    });
    expect(fast.status).toBe(202);

    worker = await startWorker({ ...env, WORKER_CONCURRENCY: '2' });
    const done = await waitForStatus(api.url, fast.body.id, ['SUCCEEDED', 'FAILED'], 60_000);
    expect(done.status).toBe('SUCCEEDED');
    // Each `staging` request holds its slot for 6 s; had they taken both slots, all four would have
    // started (two at a time) before the `emulator` one could.
    const states = await Promise.all(
      slow.map(async (id) => (await http(api.url, 'GET', `/v1/onboardings/${id}`)).body),
    );
    expect(states.filter((s) => s.startedAt === null).length).toBeGreaterThanOrEqual(2);
    expect(states.filter((s) => s.status === 'SUCCEEDED').length).toBe(0);
  });
});
