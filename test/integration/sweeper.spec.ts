import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { http, stackEnv, startApi, startWorker, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { QueueService } from '../../src/queue/queue.service.js';
import { OnboardingWorker } from '../../src/onboarding/onboarding.worker.js';
import { PrismaService } from '../../src/database/prisma.service.js';

// Requests whose jobs Redis no longer has (here: enqueued under another QUEUE_PREFIX, as after a
// Redis that lost its data) are re-enqueued by the sweeper, a batch per pass, each pass continuing
// where the last stopped, so a backlog larger than one batch is reached in full.
describe('the sweeper with a backlog larger than its batch', () => {
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
    await worker?.close();
    await api?.app.close();
    await emulator?.close();
  });

  it('re-enqueues every lost request, a batch of three per pass', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const ns = uniqueName('swept');
      await createNamespace(emulator, ns);
      const r = await http(api.url, 'POST', '/v1/onboardings', { namespace: ns, prerequisites: { enabled: false } });
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    // Each request's namespace write takes 8 s and the worker runs one at a time, so the oldest
    // requests stay unfinished (and their jobs in Redis) while the sweeper works through the rest.
    const slow = emulator.faults.add({ verb: 'patch', resource: 'namespaces', latencyMs: 8000 });
    // A worker on another queue prefix: none of these jobs exists there; only its sweeper can find them.
    worker = await startWorker({
      ...env,
      QUEUE_PREFIX: `${env.QUEUE_PREFIX}-other`,
      WORKER_CONCURRENCY: '1',
      SWEEP_BATCH_SIZE: '3',
      SWEEP_INTERVAL_MS: '100',
    });
    const queue = worker.get(QueueService);
    const t0 = Date.now();
    let missing = ids;
    while (missing.length && Date.now() - t0 < 5000) {
      missing = (await Promise.all(ids.map(async (id) => ((await queue.job(id)) ? null : id)))).filter(
        (id): id is string => id !== null,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    // Checking the same oldest batch on every pass would leave the newest ones without a job until
    // the first ones finished (8 s each).
    expect(missing).toEqual([]);
    emulator.faults.remove(slow);
    for (const id of ids)
      expect((await waitForStatus(api.url, id, ['SUCCEEDED', 'FAILED'], 60_000)).status).toBe('SUCCEEDED');
  });

  it('does not re-enqueue a request that finished between its read and its job check', async () => {
    const ns = uniqueName('raced');
    await createNamespace(emulator, ns);
    const r = await http(api.url, 'POST', '/v1/onboardings', { namespace: ns, prerequisites: { enabled: false } });
    expect(r.status).toBe(202);
    const id = r.body.id as string;
    // A worker on another prefix (the request's job is not there), sweeping only when asked.
    const other = await startWorker({ ...env, QUEUE_PREFIX: `${env.QUEUE_PREFIX}-race`, SWEEP_INTERVAL_MS: '600000' });
    try {
      const prisma = other.get(PrismaService);
      const queue = other.get(QueueService);
      // Old enough for the sweeper to look at it.
      await prisma.$executeRaw`UPDATE onboarding_request SET updated_at = now() - interval '1 minute'
        WHERE id = ${id}::uuid`;
      // Another worker claims and finishes it while the sweeper checks its job (a finished job is removed).
      const job = queue.job.bind(queue);
      queue.job = async (requestId: string) => {
        if (requestId === id) {
          await prisma.$executeRaw`UPDATE onboarding_request SET status = 'RUNNING', claimed_by = 'another',
            started_at = now(), heartbeat_at = now() WHERE id = ${id}::uuid`;
          await prisma.$executeRaw`UPDATE onboarding_request SET status = 'SUCCEEDED', finished_at = now(),
            claimed_by = NULL WHERE id = ${id}::uuid`;
        }
        return job(requestId);
      };
      // Other spec files share this database, so the pass may find their unfinished requests too: watch
      // what it enqueues rather than how many.
      const enqueued: string[] = [];
      const enqueue = queue.enqueue.bind(queue);
      queue.enqueue = (requestId, opts) => {
        enqueued.push(requestId);
        return enqueue(requestId, opts);
      };
      await other.get(OnboardingWorker).sweep();
      queue.job = job;
      queue.enqueue = enqueue;
      expect(enqueued).not.toContain(id);
      expect(await queue.job(id)).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
