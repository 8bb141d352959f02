// The webhook dispatcher's producer while its Redis is away (a redis-server of the test's own, on a free port, killed
// and started again empty): an event's fan-out stores the delivery PENDING and returns within the producer's deadline
// (PRODUCER_TIMEOUT_MS) instead of waiting for the whole outage, so a worker shutting down is not held up by the
// fan-outs in flight (which the dispatcher waits for); once Redis is back, the sweeper enqueues the delivery and it
// is delivered once.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { EventBus } from '../../../src/events/event-bus.service.js';
import type { ProgressEvent } from '../../../src/events/progress-event.js';
import { PRODUCER_TIMEOUT_MS } from '../../../src/queue/queue.service.js';
import { SecretBox } from '../../../src/webhooks/webhook-crypto.js';
import { WebhookDispatcher } from '../../../src/webhooks/webhook-dispatcher.service.js';
import { describeWith } from '../../support/binaries.js';
import { RedisProcess } from '../../support/redis-process.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { ADMIN_TOKEN, stackEnv, startWorker } from '../../support/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describeWith(['redis-server'])('webhooks: the dispatcher with its Redis killed', () => {
  let redis: RedisProcess;
  let emulator: Emulator;
  let env: Record<string, string>;
  let db: pg.Client;
  let receiver: Server;
  let worker: INestApplicationContext | undefined;
  /** Deliveries received, by delivery id (x-osm-onboarding-delivery). */
  const hits = new Map<string, number>();
  const requestId = randomUUID();

  const event = (cursor: number): ProgressEvent => ({
    id: String(cursor),
    requestId,
    cursor,
    type: cursor === 1 ? 'request.created' : 'request.succeeded',
    actor: 'tester',
    step: null,
    message: 'test',
    data: {},
    at: new Date().toISOString(),
  });

  const delivery = async (cursor: number) =>
    (
      await db.query<{ id: string; status: string; attempts: number }>(
        'SELECT id, status, attempts FROM webhook_delivery WHERE request_id = $1 AND cursor = $2',
        [requestId, cursor],
      )
    ).rows[0];

  beforeAll(async () => {
    redis = await RedisProcess.create();
    await redis.start();
    receiver = createHttpServer((req, res) => {
      const id = String(req.headers['x-osm-onboarding-delivery']);
      hits.set(id, (hits.get(id) ?? 0) + 1);
      req.resume().on('end', () => res.writeHead(200).end('ok'));
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    emulator = await startEmulator();
    env = await stackEnv(emulator, { REDIS_URL: redis.url, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
    db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    await db.query(
      `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                       updated_at)
       VALUES ($1, 'ONBOARD', 'redis-gone', 'hooked', 'osm', '{}', 'QUEUED', 'tester', now())`,
      [requestId],
    );
    await db.query(`UPDATE onboarding_request SET status = 'RUNNING' WHERE id = $1`, [requestId]);
    await db.query(`UPDATE onboarding_request SET status = 'SUCCEEDED', finished_at = now() WHERE id = $1`, [
      requestId,
    ]);
    // The environment admin's webhook, sealed with the key derived from its token (no WEBHOOK_SECRET_KEY).
    await db.query(
      `INSERT INTO webhook_subscription (id, owner_id, owner_roles, owner_scopes, url, event_types,
                                         secret_ciphertext, updated_at)
       VALUES ($1, 'token:bootstrap-admin', '{admin}', '{*/*}', $2, '{request.*}', $3, now())`,
      [randomUUID(), hook, new SecretBox(`admin-token:${ADMIN_TOKEN}`).seal('whsec_redis_gone')],
    );
    worker = await startWorker(env);
  }, 15_000);

  afterAll(async () => {
    // Bounded: BullMQ's workers (the onboarding queue's too) may not close after their Redis restarted empty; not
    // what this file tests.
    await Promise.race([worker?.close(), sleep(5000)]);
    await redis.kill();
    await db?.end();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    await emulator?.close();
  });

  it('stores the delivery and returns within the deadline; delivered once when Redis is back', async () => {
    const dispatcher = worker!.get(WebhookDispatcher);
    await redis.kill();
    const t = Date.now();
    // Without a bound, the queue's add waits in the connection's offline queue until Redis is back.
    expect(await dispatcher.fanOut(event(1))).toBe(1);
    const fanOutMs = Date.now() - t;
    expect(fanOutMs).toBeLessThan(PRODUCER_TIMEOUT_MS + 1500);
    const stored = await delivery(1);
    expect(stored).toMatchObject({ status: 'PENDING', attempts: 0 });

    await redis.start();
    const back = Date.now();
    // The sweeper (every SWEEP_INTERVAL_MS) enqueues a PENDING delivery once it is older than its grace (30 s).
    await db.query(`UPDATE webhook_delivery SET created_at = now() - interval '1 minute' WHERE id = $1`, [stored.id]);
    await until(
      () => delivery(1),
      (d) => d.status === 'SUCCEEDED',
      10_000,
    );
    await sleep(500);
    expect(hits.get(stored.id)).toBe(1);
    expect(await delivery(1)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    console.log(`fan-out with Redis killed: ${fanOutMs} ms; delivered ${Date.now() - back} ms after Redis was back`);
  }, 15_000);

  it("ends an event's fan-out within the deadline: nothing holds up the worker's shutdown", async () => {
    await redis.kill();
    const warn = vi.spyOn(Logger.prototype, 'warn');
    try {
      const t = Date.now();
      // The message as the subscriber connection handed it over just before Redis went away: the dispatcher's
      // shutdown waits for the fan-out it starts (and, before the bound, for the whole outage).
      const bus: unknown = worker!.get(EventBus);
      (bus as { dispatch(message: string): void }).dispatch(JSON.stringify(event(2)));
      await until(
        async () => warn.mock.calls.map((c) => String(c[0])).join('\n'),
        (logged) => /webhook delivery \S+ stored but not enqueued yet/.test(logged),
        PRODUCER_TIMEOUT_MS + 3000,
      );
      const ms = Date.now() - t;
      expect(ms).toBeLessThan(PRODUCER_TIMEOUT_MS + 1500);
      console.log(`fan-out of an event from the bus with Redis killed ended in ${ms} ms`);
    } finally {
      warn.mockRestore();
    }
    const stored = await delivery(2);
    expect(stored).toMatchObject({ status: 'PENDING', attempts: 0 });
    await redis.start();
    await db.query(`UPDATE webhook_delivery SET created_at = now() - interval '1 minute' WHERE id = $1`, [stored.id]);
    await until(
      () => delivery(2),
      (d) => d.status === 'SUCCEEDED',
      10_000,
    );
    await sleep(500);
    expect(hits.get(stored.id)).toBe(1);
  }, 15_000);
});
