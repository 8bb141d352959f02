// Readiness (docs/operations.md, "Health"): the API's and the worker's /readyz are 503 only while the process drains.
// Postgres, Redis and the clusters are shared by every replica, so /readyz reports them in its body and stays 200
// while they are down: a readiness that required them would take every API pod out of its Service at once, and
// callers would get connection errors instead of `503 DEPENDENCY_UNAVAILABLE` + `Retry-After` per call. The stack's
// Postgres and Redis connections go through TCP proxies that the test cuts (its own outage only); the worker is a
// real process from the build with its metrics port on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthController } from '../../../src/health/health.controller.js';
import { Rig, sleep } from '../../faults/rig.js';
import { freePort } from '../../support/free-port.js';

interface Ready {
  status: number;
  body: { status: string; checks: Record<string, string | boolean> };
}

async function readyz(base: string): Promise<Ready> {
  const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json()) as Ready['body'] };
}

/**
 * Polls /readyz of each base until `done` holds for every answer (or fails after `timeoutMs`); every answer on the way
 * must be 200.
 */
async function readyUntil(bases: string[], done: (r: Ready) => boolean, timeoutMs = 15_000): Promise<Ready[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(bases.map(readyz));
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    if (answers.every(done)) return answers;
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${JSON.stringify(answers)}`);
    await sleep(100);
  }
}

describe('readiness: shared dependencies are reported, not required', () => {
  let rig: Rig;
  let api: string;
  let worker: string;

  beforeAll(async () => {
    const metricsPort = await freePort();
    rig = await Rig.start({
      name: 'readiness',
      workers: 1,
      proxies: true,
      workerEnv: { WORKER_METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' },
    });
    api = rig.url;
    worker = `http://127.0.0.1:${metricsPort}`;
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
  });

  it('reports every dependency ok while all answer', async () => {
    const [a, w] = await readyUntil([api, worker], (r) => r.body.checks.postgres === 'ok');
    expect(a.body).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok', schema: 'ok', cluster: 'ok', draining: false },
    });
    expect(w.body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', schema: 'ok', draining: false } });
  });

  it('stays 200 with Redis down, reporting it unavailable, and ok again when it is back', async () => {
    await rig.redisProxy!.cut();
    try {
      const [a, w] = await readyUntil([api, worker], (r) => r.body.checks.redis === 'unavailable');
      expect(a.body).toMatchObject({ status: 'ready', checks: { postgres: 'ok', redis: 'unavailable' } });
      expect(w.body).toMatchObject({ status: 'ready', checks: { postgres: 'ok', redis: 'unavailable' } });
    } finally {
      await rig.redisProxy!.restore();
    }
    await readyUntil([api, worker], (r) => r.body.checks.redis === 'ok', 30_000);
  }, 60_000);

  it('stays 200 with Postgres down, reporting it unavailable, and ok again when it is back', async () => {
    await rig.pgProxy!.cut();
    await rig.terminateProxiedBackends().catch(() => 0);
    try {
      const [a, w] = await readyUntil([api, worker], (r) => r.body.checks.postgres === 'unavailable');
      expect(a.body).toMatchObject({ status: 'ready', checks: { postgres: 'unavailable', redis: 'ok' } });
      expect(w.body).toMatchObject({ status: 'ready', checks: { postgres: 'unavailable', redis: 'ok' } });
    } finally {
      await rig.pgProxy!.restore();
    }
    await readyUntil([api, worker], (r) => r.body.checks.postgres === 'ok', 30_000);
  }, 60_000);

  it('stays 200 (the API) while no cluster answers, reporting the cluster unavailable', async () => {
    const fault = rig.emulator.faults.add({ verb: 'list', resource: 'namespaces', status: 403 });
    try {
      const [a] = await readyUntil([api], (r) => r.body.checks.cluster === 'unavailable');
      expect(a.body).toMatchObject({
        status: 'ready',
        checks: { postgres: 'ok', redis: 'ok', cluster: 'unavailable' },
      });
    } finally {
      rig.emulator.faults.remove(fault);
    }
    await readyUntil([api], (r) => r.body.checks.cluster === 'ok');
  });

  it('is 503 while the API drains, still reporting the dependencies', async () => {
    rig.api!.app.get(HealthController, { strict: false }).markDraining();
    const r = await readyz(api);
    expect(r.status).toBe(503);
    expect(r.body).toEqual({
      status: 'not-ready',
      checks: { postgres: 'ok', redis: 'ok', schema: 'ok', cluster: 'ok', draining: true },
    });
  });
});
