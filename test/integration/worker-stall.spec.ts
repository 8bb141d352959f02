// A worker whose BullMQ fetch loop stops taking jobs (as after a Redis Cluster restarted whole, where BullMQ's recovery
// of its blocking connection can hang for good) is replaced by a new one once jobs have waited WORKER_STALL_MS, so
// requests and webhook deliveries do not wait behind a process that looks healthy (src/queue/supervised-worker.ts).
import { createServer, type Server } from 'node:http';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnboardingWorker } from '../../src/onboarding/onboarding.worker.js';
import { MetricsService } from '../../src/observability/metrics.service.js';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher.service.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, stackEnv, startApi, startWorker, uniqueName, waitForStatus } from '../support/harness.js';

const STALL_MS = 1_500;

describe(`a worker whose fetch loop stalls is replaced (WORKER_STALL_MS=${STALL_MS})`, () => {
  let emulator: Emulator;
  let api: { app: INestApplication; url: string };
  let worker: INestApplicationContext;
  /** A webhook receiver: the event types it was sent. */
  let receiver: Server;
  const received: string[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push((JSON.parse(body) as { type: string }).type);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    emulator = await startEmulator();
    const env = await stackEnv(emulator, { WORKER_STALL_MS: String(STALL_MS), WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
    api = await startApi({ ...env, ROLE: 'api' });
    worker = await startWorker({ ...env, ROLE: 'worker' });
  });
  afterAll(async () => {
    await worker?.close();
    await api?.app.close();
    await emulator?.close();
    await new Promise((r) => receiver?.close(r));
  });

  const onboard = async () => {
    const namespace = uniqueName('stall');
    seedAppNamespace(emulator.store, namespace);
    await emulator.idle();
    const r = await http(api.url, 'POST', '/v1/onboardings', { namespace });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };

  /** What /metrics says of a queue's worker replacements (no line before the first). */
  const replacements = async (queue: string) => {
    const text = await worker.get(MetricsService).registry.metrics();
    const line = new RegExp(`^osm_onboarding_worker_replacements_total\\{queue="${queue}"\\} (\\d+)`, 'm');
    return Number(line.exec(text)?.[1] ?? 0);
  };

  it('runs the request that waits behind the stalled loop, on a new worker', async () => {
    const consumer = worker.get(OnboardingWorker).consumer!;
    expect((await waitForStatus(api.url, await onboard(), ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    // Idle longer than WORKER_STALL_MS with nothing waiting: not a stall, the worker stays.
    const first = consumer.current;
    await new Promise((r) => setTimeout(r, STALL_MS * 2));
    expect(consumer.current).toBe(first);
    expect(await replacements('onboarding')).toBe(0);

    // The loop stops taking jobs behind the service's back (BullMQ's pause, once its fetch loop has ended).
    await first.pause();
    expect(first.isRunning()).toBe(false);
    const t0 = Date.now();
    const id = await onboard();
    const ended = await waitForStatus(api.url, id, ['SUCCEEDED', 'FAILED'], 20_000);
    expect(ended.status).toBe('SUCCEEDED');
    // Not before the request had waited WORKER_STALL_MS.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(STALL_MS);
    expect(consumer.current).not.toBe(first);
    expect(consumer.current.isRunning()).toBe(true);
    expect(await replacements('onboarding')).toBe(1);
    // The stalled worker is closed, not left beside the new one.
    await expect.poll(() => first.closing !== undefined && first.closing !== null, { timeout: 6_000 }).toBe(true);
  });

  it("delivers the webhook that waits behind the deliveries worker's stalled loop, on a new worker", async () => {
    const port = (receiver.address() as { port: number }).port;
    const hook = await http(api.url, 'POST', '/v1/webhooks', {
      url: `http://127.0.0.1:${port}/hook`,
      eventTypes: ['request.succeeded'],
    });
    expect(hook.status).toBe(201);
    const consumer = worker.get(WebhookDispatcher).consumer!;
    const first = consumer.current;
    await first.pause();
    expect(first.isRunning()).toBe(false);
    const t0 = Date.now();
    expect((await waitForStatus(api.url, await onboard(), ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    await expect.poll(() => received.includes('request.succeeded'), { timeout: 20_000 }).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(STALL_MS);
    expect(consumer.current).not.toBe(first);
    expect(await replacements('webhooks')).toBe(1);
  });
});
