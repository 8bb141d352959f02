import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../../support/emulator/index.js';
import { ADMIN_TOKEN } from '../../support/harness.js';
import { ROOT, Rig, sleep } from '../../faults/rig.js';
import { fullOnboarding } from '../../faults/scenarios.js';
import { loadRequests } from '../../faults/checks.js';
import { report } from '../../support/report.js';

// SIGTERM, measured on the real processes (node dist/bundle/main.mjs, node dist/bundle/worker.mjs):
// the API turns /readyz to 503 first, keeps serving during the readiness delay, finishes its
// in-flight requests, then exits 0; the worker takes no new job, lets the running step finish,
// hands the request back (request.released) and exits 0; the next worker resumes it at the next
// step. Past SHUTDOWN_GRACE_MS the process exits 1 and the request resumes after its heartbeat.

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

function start(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<Proc & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<{ code: number | null; at: number }>((r) =>
    child.on('exit', (code) => r({ code, at: Date.now() })),
  );
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(ready);
      if (m) resolve({ child, out: () => out, exited, match: m });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`${script} exited ${code}: ${out.slice(-1500)}`)));
  });
}

const get = async (url: string, init: RequestInit = {}) => {
  const t = Date.now();
  try {
    const res = await fetch(url, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) },
      signal: AbortSignal.timeout(15_000),
    });
    return {
      status: res.status,
      body: await res.text(),
      ms: Date.now() - t,
      connection: res.headers.get('connection'),
    };
  } catch (err) {
    return { status: 0, body: String((err as Error).cause ?? err), ms: Date.now() - t, connection: null };
  }
};

describe('graceful shutdown (SIGTERM)', () => {
  let rig: Rig;
  const measured: string[] = [];

  beforeAll(async () => {
    rig = await Rig.start({ name: 'shutdown', workers: 0 });
  }, 60_000);
  afterAll(async () => {
    const text = `shutdown:\n  ${measured.join('\n  ')}`;
    if (measured.length) report('shutdown', `shutdown: ${measured.length} measurements`, text);
    await rig?.close();
  });

  it(
    'API: /readyz 503 at once, in-flight requests finish, new connections refused after the delay, exit ' + '0',
    async () => {
      const api = await start(
        'dist/bundle/main.mjs',
        { ...rig.env, ROLE: 'api', PORT: '0', LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '5000' },
        /listening on (http:\/\/[\d.]+:\d+)/,
      );
      const base = api.match[1];
      try {
        seedAppNamespace(rig.emulator.store, 'shutdown-plan');
        await rig.emulator.idle();
        expect((await get(`${base}/readyz`)).status).toBe(200);
        // A dry run whose pod listing takes 2.5 s: in flight when SIGTERM arrives.
        const slow = rig.emulator.faults.add({
          verb: 'list',
          resource: 'pods',
          namespace: 'shutdown-plan',
          latencyMs: 2500,
          times: 1,
        });
        const inflight = get(`${base}/v1/onboardings/plan`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ namespace: 'shutdown-plan' }),
        });
        await sleep(300);
        const t0 = Date.now();
        api.child.kill('SIGTERM');
        await sleep(50);
        const ready = await get(`${base}/readyz`);
        expect(ready.status).toBe(503);
        expect(JSON.parse(ready.body).checks.draining).toBe(true);
        // Still serving while load balancers notice (readiness delay = min(5 s, grace / 5) = 1 s),
        // with Connection: close.
        const during = await get(`${base}/healthz`);
        expect(during.status).toBe(200);
        expect(during.connection).toBe('close');
        const done = await inflight;
        const answeredAt = Date.now() - t0;
        expect(done.status, `${done.body}\n${api.out()}`).toBe(200);
        rig.emulator.faults.remove(slow);
        await sleep(Math.max(0, 1200 - (Date.now() - t0)));
        const refused = await get(`${base}/healthz`);
        expect(refused.status).toBe(0);
        const { code, at } = await api.exited;
        expect(code).toBe(0);
        expect(at - t0).toBeLessThan(5000);
        expect(api.out()).toMatch(/SIGTERM: draining/);
        expect(api.out()).toMatch(/stopped cleanly/);
        measured.push(
          `API: /readyz 503 ${ready.ms} ms after SIGTERM; in-flight plan (2.5 s) answered 200 at +${answeredAt} ms; ` +
            `exit 0 after ${at - t0} ms (grace 5000 ms)`,
        );
      } finally {
        api.child.kill('SIGKILL');
      }
    },
    60_000,
  );

  it('ROLE=all (API + worker in one process): a running request is handed back, the process exits 0', async () => {
    seedAppNamespace(rig.emulator.store, 'shutdown-all');
    await rig.emulator.idle();
    rig.emulator.configure({ podStartMs: 1500 });
    try {
      const all = await start(
        'dist/bundle/main.mjs',
        { ...rig.env, ROLE: 'all', PORT: '0', LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '10000' },
        /listening on (http:\/\/[\d.]+:\d+)/,
      );
      const [s] = await rig.submit('onboardings', [fullOnboarding('shutdown-all')]);
      for (;;) {
        const { rows } = await rig.db.query("SELECT status FROM step_run WHERE request_id = $1 AND name = 'restart'", [
          s.id,
        ]);
        if (rows[0]?.status === 'RUNNING') break;
        await sleep(20);
      }
      const t0 = Date.now();
      all.child.kill('SIGTERM');
      const { code, at } = await all.exited;
      expect(code, all.out()).toBe(0);
      const r = (await loadRequests(rig.db, [s.id!])).get(s.id!)!;
      expect(r.status).toBe('QUEUED');
      expect(r.events.at(-1)).toMatchObject({ action: 'request.released', data: { stoppedBefore: 'verify' } });
      measured.push(
        `ROLE=all: SIGTERM during restart → restart finished, request released before verify, exit 0 after ` +
          `${at - t0} ms`,
      );
    } finally {
      rig.emulator.configure({ podStartMs: 0 });
    }
  }, 60_000);

  it(
    'worker: the running step finishes, the request is handed back and resumed by the next worker at the next ' +
      'step; exit 0',
    async () => {
      const names = ['shutdown-w0', 'shutdown-w1', 'shutdown-w2'];
      for (const ns of names) seedAppNamespace(rig.emulator.store, ns);
      await rig.emulator.idle();
      rig.emulator.configure({ podStartMs: 1500 }); // the restart step waits ~1.5 s for its rollout
      try {
        const first = await start(
          'dist/bundle/worker.mjs',
          { ...rig.env, ROLE: 'worker', LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '15000', WORKER_CONCURRENCY: '8' },
          /worker started/,
        );
        const submitted = await rig.submit(
          'onboardings',
          names.map((ns) => fullOnboarding(ns)),
        );
        const ids = submitted.map((s) => s.id!);
        // SIGTERM while a restart step is running.
        for (;;) {
          const { rows } = await rig.db.query(
            "SELECT count(*)::int AS n FROM step_run WHERE request_id = ANY($1::uuid[]) AND name = 'restart' AND " +
              "status = 'RUNNING'",
            [ids],
          );
          if (rows[0].n > 0) break;
          await sleep(20);
        }
        const t0 = Date.now();
        first.child.kill('SIGTERM');
        const { code, at } = await first.exited;
        expect(code, first.out()).toBe(0);
        const stoppedIn = at - t0;
        let records = await loadRequests(rig.db, ids);
        const released = [...records.values()].filter((r) => r.events.some((e) => e.action === 'request.released'));
        expect(released.length).toBeGreaterThan(0);
        for (const r of records.values()) {
          // Nothing failed or was cut mid-step: every step is either done or not started.
          expect(r.steps.filter((s) => s.status === 'RUNNING' || s.status === 'FAILED')).toEqual([]);
          if (r.status !== 'SUCCEEDED') expect(r.status).toBe('QUEUED');
        }
        const releasedBefore = released.map(
          (r) => r.events.find((e) => e.action === 'request.released')!.data.stoppedBefore,
        );

        const second = await start(
          'dist/bundle/worker.mjs',
          { ...rig.env, ROLE: 'worker', LOG_LEVEL: 'warn' },
          /worker started/,
        );
        try {
          const done = await rig.waitTerminal(ids, 60_000);
          expect([...done.values()]).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
          records = await loadRequests(rig.db, ids);
          for (const r of released) {
            const events = records.get(r.id)!.events;
            // No step ran again after the hand-over: each succeeded once, the interrupted one was not restarted.
            const succeeded = events.filter((e) => e.action === 'step.succeeded').map((e) => e.step);
            expect(new Set(succeeded).size, `${r.namespace}: ${succeeded.join(',')}`).toBe(succeeded.length);
            const releasedAt = events.findIndex((e) => e.action === 'request.released');
            const before = new Set(
              events
                .slice(0, releasedAt)
                .filter((e) => e.action === 'step.succeeded')
                .map((e) => e.step),
            );
            expect(events.slice(releasedAt).filter((e) => e.action === 'step.started' && before.has(e.step))).toEqual(
              [],
            );
            const resumedBy = events.filter((e) => e.action === 'request.started').map((e) => e.data.worker);
            expect(resumedBy).toHaveLength(2);
            expect(resumedBy[1]).toContain(`:${second.child.pid}:`);
          }
          measured.push(
            `worker: SIGTERM during restart → exit 0 after ${stoppedIn} ms; ${released.length} request(s) released ` +
              `before ${releasedBefore.join(', ')}, resumed and SUCCEEDED on the next worker, no step run twice`,
          );
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      } finally {
        rig.emulator.configure({ podStartMs: 0 });
      }
    },
    90_000,
  );

  it(
    'worker: past SHUTDOWN_GRACE_MS it exits 1; the unfinished request resumes elsewhere after its ' + 'heartbeat',
    async () => {
      seedAppNamespace(rig.emulator.store, 'shutdown-grace');
      await rig.emulator.idle();
      rig.emulator.configure({ podStartMs: 4000 }); // the restart step outlasts a 1 s grace
      try {
        const w = await start(
          'dist/bundle/worker.mjs',
          { ...rig.env, ROLE: 'worker', LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '1000' },
          /worker started/,
        );
        const [s] = await rig.submit('onboardings', [fullOnboarding('shutdown-grace')]);
        for (;;) {
          const { rows } = await rig.db.query(
            "SELECT status FROM step_run WHERE request_id = $1 AND name = 'restart'",
            [s.id],
          );
          if (rows[0]?.status === 'RUNNING') break;
          await sleep(20);
        }
        const t0 = Date.now();
        w.child.kill('SIGTERM');
        const { code, at } = await w.exited;
        expect(code).toBe(1);
        expect(at - t0).toBeGreaterThanOrEqual(900);
        expect(at - t0).toBeLessThan(3000);
        expect(w.out()).toMatch(/grace of 1000 ms exceeded/);
        rig.emulator.configure({ podStartMs: 0 });
        const next = await start(
          'dist/bundle/worker.mjs',
          { ...rig.env, ROLE: 'worker', LOG_LEVEL: 'warn' },
          /worker started/,
        );
        try {
          const done = await rig.waitTerminal([s.id!], 60_000);
          expect(done.get(s.id!)).toBe('SUCCEEDED');
          const r = (await loadRequests(rig.db, [s.id!])).get(s.id!)!;
          expect(r.events.some((e) => e.action === 'request.resumed')).toBe(true);
          measured.push(
            `worker: grace 1000 ms exceeded → exit 1 after ${at - t0} ms; ` +
              'request resumed by the next worker, SUCCEEDED',
          );
        } finally {
          next.child.kill('SIGTERM');
          await next.exited;
        }
      } finally {
        rig.emulator.configure({ podStartMs: 0 });
      }
    },
    90_000,
  );
});
