import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { RedisProcess } from '../../support/redis-process.js';
import { seedAppNamespace } from '../../support/emulator/index.js';
import { ADMIN_TOKEN } from '../../support/harness.js';
import { REAL_OUTAGES, Rig, sleep } from '../../faults/rig.js';
import { fullOnboarding, PG_CLUSTER } from '../../faults/scenarios.js';
import { report } from '../../support/report.js';

// With Postgres or Redis away the API answers a coded 503 (never a 500 or a stack trace), /readyz
// stays 200 and reports the dependency unavailable (so the pods stay behind their Service and give
// those answers: readiness.spec.ts), /healthz stays up (no restart loop), and everything recovers
// by itself when the dependency is back: same API, same worker process. By default the outage is
// confined to this stack (its connections go through TCP proxies that the test cuts, and its
// Postgres backends are terminated like a shutdown does); `FAULT_REAL_OUTAGES=1` (npm run
// test:faults) stops and starts the machine's Postgres with pg_ctlcluster and pauses the real Redis
// server.
// Last, a Redis server of the test's own (redis-server on a free port) is killed before the API ever enqueued
// anything, and started again empty: the API must answer as it does when Redis goes away later.

const run = promisify(execFile);

async function call(base: string, method: string, path: string, body?: unknown, timeoutMs = 10_000) {
  const t = Date.now();
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, ms: Date.now() - t, headers: res.headers };
}

async function until<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
): Promise<{ value: T; ms: number }> {
  const t = Date.now();
  for (;;) {
    let value: T | undefined;
    try {
      value = await fn();
    } catch {
      value = undefined;
    }
    if (value !== undefined && ok(value)) return { value, ms: Date.now() - t };
    if (Date.now() - t > timeoutMs)
      throw new Error(`not recovered after ${timeoutMs} ms (last: ${JSON.stringify(value)?.slice(0, 300)})`);
    await sleep(100);
  }
}

/** Opens a Server-Sent Events stream: its status and first event (without waiting for the end). */
const firstEventLine = (text: string) => text.split('\n').find((l) => l.startsWith('event:')) ?? text.slice(0, 80);

async function streamStart(base: string, path: string): Promise<{ status: number; firstEvent: string; ms: number }> {
  const t = Date.now();
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 8000);
  try {
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: ctl.signal });
    if (res.status !== 200) return { status: res.status, firstEvent: await res.text(), ms: Date.now() - t };
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    return { status: 200, firstEvent: text.slice(0, 300), ms: Date.now() - t };
  } catch (err) {
    return { status: 0, firstEvent: String(err), ms: Date.now() - t };
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

/** The 503 contract: coded, no internals. */
function expectUnavailable(r: { status: number; json: any; text: string }) {
  expect(r.status, r.text).toBe(503);
  expect(r.json?.error?.code).toBe('DEPENDENCY_UNAVAILABLE');
  expect(r.text).not.toMatch(/\bat \S+ \(|node_modules|Prisma|ECONNREFUSED|stack/i);
}

describe('degraded dependencies', () => {
  let rig: Rig;
  let workerPid: number;
  const measured: string[] = [];

  beforeAll(async () => {
    rig = await Rig.start({ name: 'degraded', workers: 1, proxies: true });
    workerPid = rig.workers[0].pid;
    for (let i = 0; i < 5; i++) seedAppNamespace(rig.emulator.store, `degraded-${i}`);
    await rig.emulator.idle();
    expect((await call(rig.url, 'GET', '/readyz')).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    const title = `degraded dependencies (${REAL_OUTAGES ? 'real outages' : 'per-stack outages'})`;
    const text = `${title}:\n  ${measured.join('\n  ')}`;
    if (measured.length) report('degraded-dependencies', `${title}: ${measured.length} measurements`, text);
    await rig?.close();
  });

  it(
    'Postgres down: 503 DEPENDENCY_UNAVAILABLE on REST and GraphQL, /readyz 200 reports it, /healthz stays up; ' +
      'back by itself',
    async () => {
      const before = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-0'));
      expect(before.status).toBe(202);

      const t0 = Date.now();
      if (REAL_OUTAGES)
        await run('pg_ctlcluster', ['--skip-systemctl-redirect', ...PG_CLUSTER.split(' '), 'stop', '-m', 'fast']);
      else {
        await rig.pgProxy!.cut();
        await rig.terminateProxiedBackends().catch(() => 0);
      }
      try {
        const list = await call(rig.url, 'GET', '/v1/onboardings?limit=5');
        expectUnavailable(list);
        expect(list.headers.get('retry-after')).toBe('5');
        expectUnavailable(await call(rig.url, 'GET', `/v1/onboardings/${before.json.id}`));
        expectUnavailable(await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-1')));
        const gql = await call(rig.url, 'POST', '/graphql', {
          query: '{ onboardingRequests(first: 1) { edges { node { id } } } }',
        });
        expect(gql.json.errors[0].extensions.code).toBe('DEPENDENCY_UNAVAILABLE');
        expect(gql.text).not.toMatch(/node_modules|\bat \S+ \(/);
        const ready = await call(rig.url, 'GET', '/readyz');
        expect(ready.status).toBe(200);
        expect(ready.json.checks).toMatchObject({ postgres: 'unavailable', redis: 'ok' });
        expect((await call(rig.url, 'GET', '/healthz')).status).toBe(200);
        measured.push(`Postgres down: list ${list.ms} ms, every answer 503 DEPENDENCY_UNAVAILABLE`);
        await sleep(Math.max(0, 2000 - (Date.now() - t0))); // a 2 s outage at least
      } finally {
        if (REAL_OUTAGES) await run('pg_ctlcluster', ['--skip-systemctl-redirect', ...PG_CLUSTER.split(' '), 'start']);
        else await rig.pgProxy!.restore();
      }
      const back = Date.now();
      const ready = await until(
        () => call(rig.url, 'GET', '/readyz'),
        (r) => r.json?.checks?.postgres === 'ok',
        30_000,
      );
      const list = await until(
        () => call(rig.url, 'GET', '/v1/onboardings?limit=5'),
        (r) => r.status === 200,
        30_000,
      );
      measured.push(
        `Postgres back after ${back - t0} ms down: /readyz postgres ok after ${ready.ms} ms, REST 200 after ` +
          `${list.ms} ms`,
      );

      // The request accepted before the outage and one submitted after it both complete, on the same worker.
      const after = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-1'));
      expect(after.status).toBe(202);
      const done = await rig.waitTerminal([before.json.id, after.json.id], 60_000);
      expect([...done.values()]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      expect(rig.workers.map((w) => w.pid)).toEqual([workerPid]);
    },
    120_000,
  );

  it(
    'Redis down: /readyz 200 reports it; reads still answer, a new request is stored QUEUED at once and runs when ' +
      'Redis is back',
    async () => {
      const t0 = Date.now();
      await rig.redisProxy!.cut();
      let accepted: string;
      try {
        const ready = await call(rig.url, 'GET', '/readyz');
        expect(ready.status).toBe(200);
        expect(ready.json.checks).toMatchObject({ postgres: 'ok', redis: 'unavailable' });
        expect((await call(rig.url, 'GET', '/healthz')).status).toBe(200);
        const list = await call(rig.url, 'GET', '/v1/onboardings?limit=5');
        expect(list.status).toBe(200);
        // Postgres is the record: accepted (202, QUEUED) without waiting for Redis; the sweeper enqueues it later.
        const post = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-2'));
        expect(post.status, post.text).toBe(202);
        expect(post.json.status).toBe('QUEUED');
        expect(post.ms).toBeLessThan(8000);
        accepted = post.json.id;
        // Once the connection is known to be down, no call waits for the Redis command timeout (1 s): the rate
        // limit counts in this process and the progress publish is skipped (an outside audit measured every call
        // 1 s slower during an outage, every POST 2 s).
        const again = await call(rig.url, 'GET', '/v1/onboardings?limit=5');
        const second = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-4'));
        expect([again.status, second.status]).toEqual([200, 202]);
        expect(again.ms).toBeLessThan(1000);
        expect(second.ms).toBeLessThan(1000);
        // The event stream needs Redis for live events; it must not hang: a 503, or events from Postgres.
        const sse = await streamStart(rig.url, `/v1/onboardings/${accepted}/events`);
        measured.push(
          `Redis down: /readyz ${ready.ms} ms, list ${list.ms} ms, POST 202 in ${post.ms} ms, SSE ${sse.status} ` +
            `(${JSON.stringify(firstEventLine(sse.firstEvent))}) in ${sse.ms} ms`,
        );
        // Served from Postgres (replay + poll) until the subscription to live events completes.
        expect(sse.status, sse.firstEvent).toBe(200);
        expect(sse.firstEvent).toContain('request.created');
      } finally {
        await rig.redisProxy!.restore();
      }
      const back = Date.now();
      const ready = await until(
        () => call(rig.url, 'GET', '/readyz'),
        (r) => r.json?.checks?.redis === 'ok',
        30_000,
      );
      const done = await rig.waitTerminal([accepted!], 60_000);
      expect(done.get(accepted!)).toBe('SUCCEEDED');
      measured.push(
        `Redis back after ${back - t0} ms down: /readyz redis ok after ${ready.ms} ms, the request queued during the ` +
          `outage SUCCEEDED ${Date.now() - back} ms after`,
      );
      expect(rig.workers.map((w) => w.pid)).toEqual([workerPid]);
    },
    120_000,
  );

  it.runIf(REAL_OUTAGES)(
    'the real Redis server paused (CLIENT PAUSE 3000 ALL): commands time out, nothing hangs, all recovers',
    async () => {
      const admin = new Redis(rig.directRedisUrl, { maxRetriesPerRequest: 1 });
      try {
        await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
        const ready = await call(rig.url, 'GET', '/readyz');
        expect(ready.status).toBe(200);
        expect(ready.json.checks).toMatchObject({ redis: 'unavailable' });
        const post = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('degraded-3'));
        expect(post.status, post.text).toBe(202);
        measured.push(`real Redis paused 3 s: /readyz redis unavailable in ${ready.ms} ms, POST 202 in ${post.ms} ms`);
        const done = await rig.waitTerminal([post.json.id], 60_000);
        expect(done.get(post.json.id)).toBe('SUCCEEDED');
      } finally {
        admin.disconnect();
      }
    },
    120_000,
  );
});

describeWith(['redis-server'])('a Redis process killed before the API enqueued anything', () => {
  const PASSWORD = 'killed-redis-secret';
  let redis: RedisProcess;
  let rig: Rig;
  const measured: string[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.create(PASSWORD);
    await redis.start();
    // The worker starts once Redis is back: what the API left behind is seen before any sweeper acts.
    rig = await Rig.start({
      name: 'redis-killed',
      workers: 0,
      env: { REDIS_URL: redis.url },
    });
    for (let i = 0; i < 5; i++) seedAppNamespace(rig.emulator.store, `killed-${i}`);
    await rig.emulator.idle();
    expect((await call(rig.url, 'GET', '/readyz')).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    if (measured.length) report('redis-killed', `Redis killed: ${measured.length} measurements`, measured.join('\n'));
    await rig?.close();
    await redis.kill();
  });

  it(
    'POST, batch, cancel answer within seconds; nothing is left to run late; the sweeper runs them when Redis is ' +
      'back',
    async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn');
      await redis.kill();
      let ids: string[];
      let cancelled: string;
      try {
        // No request was enqueued by this API yet: its queue's connection never was ready.
        const post = await call(rig.url, 'POST', '/v1/onboardings', fullOnboarding('killed-0'));
        expect(post.status, post.text).toBe(202);
        expect(post.json.status).toBe('QUEUED');
        expect(post.ms).toBeLessThan(5000);
        const batch = await call(rig.url, 'POST', '/v1/batches', {
          kind: 'ONBOARD',
          targets: ['killed-1', 'killed-2', 'killed-3'].map((namespace) => ({ namespace })),
        });
        expect(batch.status, batch.text).toBe(202);
        expect(batch.ms).toBeLessThan(5000);
        const other = await call(rig.url, 'POST', '/v1/onboardings', { namespace: 'killed-4' });
        expect(other.status, other.text).toBe(202);
        cancelled = other.json.id;
        const cancel = await call(rig.url, 'POST', `/v1/onboardings/${cancelled}/cancel`, {});
        expect(cancel.status, cancel.text).toBe(200);
        const metrics = await call(rig.url, 'GET', '/metrics');
        expect(metrics.status).toBe(200);
        // Namespace status: a page with a next one needs Redis for its continue token (a coded 503, not a 500); a
        // page that holds them all does not.
        const paged = await call(rig.url, 'GET', '/v1/clusters/emulator/namespaces?limit=1');
        expect(paged.status, paged.text).toBe(503);
        expect(paged.json.error.code).toBe('DEPENDENCY_UNAVAILABLE');
        const whole = await call(rig.url, 'GET', '/v1/clusters/emulator/namespaces?limit=100');
        expect(whole.status, whole.text).toBe(200);
        measured.push(
          `Redis killed: POST 202 in ${post.ms} ms, batch of 3 202 in ${batch.ms} ms, POST 202 in ${other.ms} ms, ` +
            `cancel 200 in ${cancel.ms} ms, /metrics in ${metrics.ms} ms`,
        );
        ids = [post.json.id, ...batch.json.requests.map((r: { id: string }) => r.id)];
        const { rows } = await rig.db.query<{ status: string }>(
          'SELECT status FROM onboarding_request WHERE id = ANY($1::uuid[])',
          [ids],
        );
        expect(rows.map((r) => r.status)).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED']);
        const warnings = warn.mock.calls.map((c) => String(c[0]));
        for (const id of ids) expect(warnings).toContainEqual(expect.stringMatching(`request ${id} stored but not`));
        expect(warnings.join('\n')).not.toContain(PASSWORD);
      } finally {
        warn.mockRestore();
        await redis.start();
      }
      const back = Date.now();
      // The API's queue connection is back once its job counts are exported again. None of the calls that gave up
      // during the outage was left to run now: no job of theirs is in Redis (the sweeper is the one to add them).
      const depth = await until(
        () => call(rig.url, 'GET', '/metrics'),
        (r) => r.text.includes('osm_onboarding_queue_jobs{state="waiting"}'),
        15_000,
      );
      const direct = new Redis(rig.directRedisUrl, { maxRetriesPerRequest: 1 });
      try {
        await sleep(300);
        const left = await direct.exists(
          ...[...ids!, cancelled!].map((id) => `${rig.env.QUEUE_PREFIX}:onboarding:${id}`),
        );
        expect(left).toBe(0);
      } finally {
        direct.disconnect();
      }
      await rig.spawnWorker();
      const done = await rig.waitTerminal([...ids!, cancelled!], 60_000);
      expect(ids!.map((id) => done.get(id))).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
      expect(done.get(cancelled!)).toBe('CANCELLED');
      measured.push(
        `Redis back (empty): the API's queue connection back after ${depth.ms} ms; a worker started then, and ` +
          `its sweeper enqueued the ${ids!.length} requests: SUCCEEDED ${Date.now() - back} ms after Redis was back`,
      );
      // Each ran once: one request.started, no resume (no second job took it).
      const { rows } = await rig.db.query<{ action: string; n: number }>(
        'SELECT action, count(*)::int AS n FROM audit_event WHERE request_id = ANY($1::uuid[]) AND action IN ' +
          "('request.started', 'request.resumed') GROUP BY action",
        [ids!],
      );
      expect(rows).toEqual([{ action: 'request.started', n: ids!.length }]);
    },
    90_000,
  );
});
