// The worker does not wait for Redis's answer to the progress events it publishes between steps (EventBus.send):
// with every answer from Redis held back, a request's run from its claim to its finish takes less time than the
// publishes in it would if each were awaited. (The one connection still sends them in order; the progress suites
// check what subscribers receive.)
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, type Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { TcpProxy } from '../faults/tcp-proxy.js';

/** How long each answer from Redis is held. */
const HOLD_MS = 400;

describe('progress events: the worker publishes without waiting for Redis', () => {
  let s: Stack;
  let proxy: TcpProxy;

  beforeAll(async () => {
    proxy = await TcpProxy.start(inject('redisUrl'));
    // The call budget per process: the shared one would wait for Redis on every lease.
    s = await startStack({ env: { REDIS_URL: proxy.url(inject('redisUrl')), K8S_RATE_LIMIT_SCOPE: 'process' } });
  });
  afterAll(async () => {
    await s?.close();
    await proxy?.close();
  });

  it('runs a request in less time than the answers to its publishes would take', async () => {
    const namespace = uniqueName('pub');
    seedAppNamespace(s.emulator.store, namespace);
    await s.emulator.idle();
    proxy.delay(HOLD_MS);
    const created = await http(s.url, 'POST', '/v1/onboardings', { namespace, restart: { mode: 'all' } });
    expect(created.status).toBe(202);
    const done = await waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED'], 60_000);
    expect(done.status).toBe('SUCCEEDED');
    const { body: audit } = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}/audit`);
    const actions: string[] = audit.items.map((e: { action: string }) => e.action);
    // Published between the claim (started_at) and the finish (finished_at): the claim's events, each step's
    // success with the next one's start, each step.applying. Awaited, each would hold the run for HOLD_MS.
    const publishes = 1 + actions.filter((a) => a === 'step.applying').length + done.steps.length - 1;
    expect(publishes).toBeGreaterThanOrEqual(5);
    const ranMs = Date.parse(done.finishedAt) - Date.parse(done.startedAt);
    expect(ranMs).toBeLessThan(2 * HOLD_MS);
  });
});
