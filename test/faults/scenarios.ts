import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.js';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import { ensureExclusion } from '../../src/onboarding/steps/kit/mesh-config.js';
import { seedAppNamespace, startEmulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN } from '../support/harness.js';
import {
  apiServerCidr,
  auditWrites,
  duplicateEvidence,
  exclusionList,
  exclusionProblems,
  loadRequests,
  MESH_CONFIG_REF,
  onboardedProblems,
  untouchedProblems,
  type RequestRecord,
} from './checks.js';
import { LOG_DIR, REAL_OUTAGES, Rig, SCALE, sleep, type Scale, type Submitted } from './rig.js';

const run = promisify(execFile);

export interface ScenarioResult {
  scenario: string;
  requests: number;
  succeeded: number;
  failedAsExpected: number;
  lost: number;
  duplicated: number;
  durationMs: number;
  /** Anything else wrong: unexpected status, wrong final state, unaudited write. */
  problems: string[];
  notes: string[];
}

export interface ScenarioSize {
  kill9: { requests: number; kills: number };
  flush: { requests: number; flushes: number };
  transient: { requests: number };
  permanent: { requests: number; forbidden: number; invalid: number };
  cidrs: { requests: number };
  postgres: { requests: number; outageMs: number };
  race: { requests: number; duplicateJobs: number; stalls: number };
}

export const SIZES: Record<Scale, ScenarioSize> = {
  small: {
    kill9: { requests: 16, kills: 3 },
    flush: { requests: 12, flushes: 1 },
    transient: { requests: 12 },
    permanent: { requests: 12, forbidden: 2, invalid: 2 },
    cidrs: { requests: 100 },
    postgres: { requests: 12, outageMs: 2000 },
    race: { requests: 12, duplicateJobs: 2, stalls: 1 },
  },
  full: {
    kill9: { requests: 200, kills: 10 },
    flush: { requests: 200, flushes: 2 },
    transient: { requests: 200 },
    permanent: { requests: 200, forbidden: 20, invalid: 20 },
    cidrs: { requests: 100 },
    postgres: { requests: 200, outageMs: 5000 },
    race: { requests: 200, duplicateJobs: 3, stalls: 5 },
  },
};
export const SIZE = SIZES[SCALE];

const rand = (min: number, max: number) => min + Math.random() * (max - min);

/** A full-featured onboarding: every step but traffic-policy permissive (mesh-wide) is on. */
export function fullOnboarding(ns: string, opts: { smi?: boolean; apiAccess?: boolean } = {}): Record<string, unknown> {
  return {
    namespace: ns,
    prerequisites: { enabled: true },
    ...(opts.apiAccess === false ? {} : { apiServerAccess: { method: 'ip-exclusion' } }),
    ...(opts.smi
      ? {
          trafficPolicy: {
            mode: 'smi',
            smi: {
              httpRouteGroups: [
                { name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['GET'] }] } },
              ],
              trafficTargets: [
                {
                  name: 'allow-app',
                  spec: {
                    destination: { kind: 'ServiceAccount', name: 'app-0' },
                    sources: [{ kind: 'ServiceAccount', name: 'app-0', namespace: ns }],
                    rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
                  },
                },
              ],
            },
          },
        }
      : {}),
    metrics: true,
    appProtocols: [{ service: 'app-0', port: 'http', appProtocol: 'http' }],
    restart: { mode: 'all' },
    verify: { timeoutSeconds: 120 },
  };
}

interface Expect {
  status: 'SUCCEEDED' | 'FAILED';
  code?: string;
  /** The failing step must have failed fast (one attempt). */
  failFast?: boolean;
}

interface BatchOptions {
  name: string;
  rig: Rig;
  count: number;
  smi?: boolean;
  /** What each namespace's request must end as (default: SUCCEEDED). */
  expect?: (ns: string, i: number) => Expect;
  /** Chaos that runs while the batch is submitted and worked on; gets a `done()` probe. */
  chaos?: (ctx: { done: () => boolean; progress: () => Promise<number> }) => Promise<string[] | void>;
  timeoutMs?: number;
  /** Faults to install after seeding (before submitting). */
  setup?: (namespaces: string[]) => void;
  submitRetryMs?: number;
}

/** Seeds `count` namespaces, submits a full onboarding for each, runs the chaos, then checks everything. */
export async function runBatch(o: BatchOptions): Promise<ScenarioResult> {
  const { rig } = o;
  const started = Date.now();
  const namespaces = Array.from({ length: o.count }, (_, i) => `${o.name}-${String(i).padStart(3, '0')}`);
  for (const ns of namespaces) seedAppNamespace(rig.emulator.store, ns, { deployments: 1, replicas: 1 });
  await rig.emulator.idle();
  const exclusionBefore = exclusionList(rig.emulator);
  const cidr = apiServerCidr(rig.emulator);
  o.setup?.(namespaces);
  const expectOf = (ns: string, i: number): Expect => o.expect?.(ns, i) ?? { status: 'SUCCEEDED' };

  let submitted: Submitted[] = [];
  let finished = false;
  const ids = () => submitted.map((s) => s.id).filter((id): id is string => !!id);
  const progress = async () => {
    try {
      const { rows } = await rig.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM onboarding_request WHERE namespace LIKE $1 AND status IN ' +
          "('SUCCEEDED','FAILED','CANCELLED')",
        [`${o.name}-%`],
      );
      return rows[0].n / o.count;
    } catch {
      return 0;
    }
  };
  const chaos = o.chaos?.({ done: () => finished, progress }) ?? Promise.resolve();
  submitted = await rig.submit(
    'onboardings',
    namespaces.map((ns) => fullOnboarding(ns, { smi: o.smi })),
    { retryUntil: Date.now() + (o.submitRetryMs ?? 60_000) },
  );
  const statuses = await waitTerminalTolerant(rig, ids(), o.timeoutMs ?? 120_000);
  finished = true;
  const chaosNotes = (await chaos) ?? [];
  rig.emulator.faults.clear();

  const records = await loadRequests(rig.db, ids());
  const result: ScenarioResult = {
    scenario: o.name,
    requests: o.count,
    succeeded: 0,
    failedAsExpected: 0,
    lost: 0,
    duplicated: 0,
    durationMs: 0,
    problems: [],
    notes: [...chaosNotes],
  };
  namespaces.forEach((ns, i) => {
    const s = submitted[i];
    const want = expectOf(ns, i);
    if (!s?.id || s.status !== 202) {
      result.problems.push(`${ns}: not accepted (${s?.status} ${s?.code ?? ''})`);
      return;
    }
    const r = records.get(s.id);
    const status = r?.status ?? statuses.get(s.id);
    if (!r || !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(status ?? '')) {
      result.lost++;
      result.problems.push(`${ns}: LOST (request ${s.id} is ${status ?? 'missing'})`);
      return;
    }
    const dup = duplicateEvidence(r);
    if (dup.length) {
      result.duplicated++;
      result.problems.push(...dup.map((d) => `${ns}: DUPLICATE ${d}`));
    }
    if (r.status !== want.status || (want.code && r.error_code !== want.code)) {
      result.problems.push(
        `${ns}: ${r.status} ${r.error_code ?? ''}, expected ${want.status} ${want.code ?? ''} (${failedStep(r)})`,
      );
      return;
    }
    if (want.status === 'SUCCEEDED') {
      const p = onboardedProblems(rig.emulator, ns, r.created_at, { smi: !!o.smi, apiAccess: true });
      if (p.length) result.problems.push(...p);
      else result.succeeded++;
    } else {
      const failed = r.steps.find((x) => x.status === 'FAILED');
      // Fail fast: the permanent error ends the step the first time it is seen. Earlier attempts may have been
      // retried for a transient cause (a lost MeshConfig race, 409), but never for the permanent code itself.
      const retriedPermanent = r.events.filter(
        (e) => e.action === 'step.retrying' && e.step === failed?.name && e.data.code === want.code,
      );
      if (want.failFast && failed && retriedPermanent.length)
        result.problems.push(
          `${ns}: step ${failed.name} retried ${want.code} ${retriedPermanent.length} time(s), not failed at once`,
        );
      else result.failedAsExpected++;
    }
  });
  const writes = auditWrites(rig.emulator.requests.all(), records.values());
  result.problems.push(...writes.unaudited.map((u) => `UNAUDITED write ${u}`));
  result.problems.push(
    ...exclusionProblems(
      rig.emulator,
      exclusionBefore.filter((e) => e !== cidr),
      [cidr],
    ),
  );
  result.notes.push(`${writes.writes} cluster writes, all audited: ${writes.unaudited.length === 0}`);
  const retries = [...records.values()].reduce(
    (n, r) => n + r.events.filter((e) => e.action === 'step.retrying').length,
    0,
  );
  const resumed = [...records.values()].reduce(
    (n, r) => n + r.events.filter((e) => e.action === 'request.resumed').length,
    0,
  );
  // How close a step came to its attempt budget (STEP_MAX_ATTEMPTS): the margin a flaky scenario would show first.
  const most = Math.max(0, ...[...records.values()].flatMap((r) => r.steps.map((x) => x.attempts)));
  result.notes.push(
    `${retries} step retries (most attempts of one step: ${most}), ${resumed} resumes${resumeGaps(records.values())}`,
  );
  result.durationMs = Date.now() - started;
  return result;
}

/** How long requests stood still before a resume (kill → stale heartbeat → sweeper → claim). */
function resumeGaps(records: Iterable<RequestRecord>): string {
  const gaps: number[] = [];
  let worst = { gap: 0, what: '' };
  for (const r of records) {
    r.events.forEach((e, i) => {
      if (i === 0) return;
      const gap = e.created_at.getTime() - r.events[i - 1].created_at.getTime();
      if (e.action === 'request.resumed') gaps.push(gap);
      if (gap > worst.gap)
        worst = {
          gap,
          what: `${r.namespace} ${r.events[i - 1].action} ${r.events[i - 1].step ?? ''} → ${e.action} ${e.step ?? ''}`,
        };
    });
  }
  const resume = gaps.length ? ` (stalled ${Math.min(...gaps)}–${Math.max(...gaps)} ms before a resume)` : '';
  return `${resume}; longest pause ${worst.gap} ms: ${worst.what}`;
}

const failedStep = (r: RequestRecord) => {
  const s = r.steps.find((x) => x.status === 'FAILED' || x.status === 'RUNNING' || x.status === 'PENDING');
  return s
    ? `step ${s.name} ${s.status} ${s.error_code ?? ''} after ${s.attempts} ` +
        `attempt(s)${s.error_message ? `: ${s.error_message.slice(0, 300)}` : ''}`
    : 'no failed step';
};

/** rig.waitTerminal, but tolerant of the checker's own Postgres connection failing during an outage. */
async function waitTerminalTolerant(rig: Rig, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await rig.waitTerminal(ids, Math.max(0, deadline - Date.now()));
    } catch {
      if (Date.now() > deadline) return new Map();
      await sleep(500);
    }
  }
}

// ------------------------------------------------------------------ the scenarios

/** kill -9 a worker at random moments during the batch; a replacement starts at once. */
export async function killWorkers(): Promise<ScenarioResult> {
  const { requests, kills } = SIZE.kill9;
  const rig = await Rig.start({ name: 'kill9', workers: 2 });
  try {
    return await runBatch({
      name: 'kill9',
      rig,
      count: requests,
      smi: true,
      timeoutMs: 300_000,
      chaos: async ({ done }) => {
        let killed = 0;
        const mid: number[] = [];
        const spawning: Promise<unknown>[] = [];
        while (killed < kills && !done()) {
          await sleep(rand(200, SCALE === 'full' ? 2500 : 1200));
          // A random moment, but one where the victim is running something (else the kill proves nothing).
          const running = async (pid: number) =>
            (
              await rig.db.query<{ n: number }>(
                "SELECT count(*)::int AS n FROM onboarding_request WHERE status = 'RUNNING' AND claimed_by LIKE $1",
                [`%:${pid}:%`],
              )
            ).rows[0].n;
          const candidates = [...rig.workers].sort(() => Math.random() - 0.5);
          for (const victim of candidates) {
            const n = await running(victim.pid);
            if (n === 0) continue;
            await rig.kill(victim, 'SIGKILL');
            killed++;
            mid.push(n);
            spawning.push(rig.spawnWorker());
            break;
          }
        }
        await Promise.all(spawning);
        return [`${killed} kill -9 (requests running in the victim: ${mid.join(', ')})`];
      },
    });
  } finally {
    await rig.close();
  }
}

/** FLUSHDB of the stack's own Redis DB mid-batch: the queue is gone, Postgres is the record. */
export async function flushRedis(): Promise<ScenarioResult> {
  const { requests, flushes } = SIZE.flush;
  const rig = await Rig.start({ name: 'redis-flush', workers: 2, ownRedisDb: true });
  try {
    return await runBatch({
      name: 'redis-flush',
      rig,
      count: requests,
      timeoutMs: 240_000,
      chaos: async ({ done, progress }) => {
        const notes: string[] = [];
        for (let i = 0; i < flushes && !done(); i++) {
          const at = (i + 1) / (flushes + 1) - 0.15;
          while (!done() && (await progress()) < at) await sleep(100);
          if (done()) break;
          await rig.flushRedis();
          notes.push(`FLUSHDB (db ${rig.redisDb}) at ${Math.round((await progress()) * 100)}% done`);
        }
        return notes;
      },
    });
  } finally {
    await rig.close();
  }
}

/** 20% of Kubernetes calls fail: 500, 429 with Retry-After, no answer (client deadline), dropped connection. */
export async function transientKubeFaults(): Promise<ScenarioResult> {
  const rig = await Rig.start({ name: 'kube-transient', workers: 2, env: { K8S_REQUEST_TIMEOUT_MS: '1000' } });
  try {
    return await runBatch({
      name: 'kube-transient',
      rig,
      count: SIZE.transient.requests,
      timeoutMs: 300_000,
      setup: () => {
        // Rules are tried in order, each with its own probability: 8% + 6% + 3% + 3% = 20% of all calls.
        rig.emulator.faults.add({ status: 500, probability: 0.08 });
        rig.emulator.faults.add({ status: 429, retryAfterSeconds: 1, probability: 0.06 / 0.92 });
        rig.emulator.faults.add({ timeout: true, probability: 0.03 / 0.86 });
        rig.emulator.faults.add({ drop: true, probability: 0.03 / 0.83 });
      },
      chaos: async ({ done }) => {
        while (!done()) await sleep(200);
        const log = rig.emulator.requests.all();
        const faulted = log.filter((e) => e.fault).length;
        return [
          `${faulted}/${log.length} Kubernetes calls faulted ` +
            `(${Math.round((100 * faulted) / Math.max(1, log.length))}%)`,
        ];
      },
    });
  } finally {
    await rig.close();
  }
}

/** 403 and 422 for some namespaces: those fail at once with KUBE_FORBIDDEN / KUBE_INVALID, the others succeed. */
export async function permanentKubeFaults(): Promise<ScenarioResult> {
  const { requests, forbidden, invalid } = SIZE.permanent;
  const rig = await Rig.start({ name: 'kube-permanent', workers: 2 });
  const kindOf = (i: number) => (i < forbidden ? 'forbidden' : i < forbidden + invalid ? 'invalid' : 'ok');
  try {
    const result = await runBatch({
      name: 'kube-permanent',
      rig,
      count: requests,
      timeoutMs: 240_000,
      setup: (namespaces) => {
        namespaces.forEach((ns, i) => {
          // 403 on the first namespace write (api-server-access annotates it); 422 on the Service patch (app-protocol).
          if (kindOf(i) === 'forbidden')
            rig.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 403 });
          if (kindOf(i) === 'invalid')
            rig.emulator.faults.add({ verb: 'patch', resource: 'services', namespace: ns, status: 422 });
        });
      },
      expect: (_, i) =>
        kindOf(i) === 'forbidden'
          ? { status: 'FAILED', code: 'KUBE_FORBIDDEN', failFast: true }
          : kindOf(i) === 'invalid'
            ? { status: 'FAILED', code: 'KUBE_INVALID', failFast: true }
            : { status: 'SUCCEEDED' },
    });
    for (let i = 0; i < forbidden; i++)
      result.problems.push(...untouchedProblems(rig.emulator, `kube-permanent-${String(i).padStart(3, '0')}`));
    return result;
  } finally {
    await rig.close();
  }
}

/**
 * 100 writers, each adding its own CIDR to the shared MeshConfig exclusion list at the same time,
 * through 4 separate clients (as 4 workers would), with 10% of the MeshConfig patches failing with
 * 500: every CIDR ends up in the list exactly once and no pre-existing entry is lost.
 */
export async function concurrentExclusions(): Promise<ScenarioResult> {
  const started = Date.now();
  const n = SIZE.cidrs.requests;
  const emulator = await startEmulator();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'cidrs-'));
    await writeFile(join(dir, 'kubeconfig'), emulator.kubeconfig());
    const config = loadConfig({ KUBECONFIG: join(dir, 'kubeconfig'), K8S_QPS: '1000', K8S_BURST: '1000' });
    const clients = Array.from({ length: 4 }, () => {
      const g = new ClusterGateway(config);
      return g.client(g.defaultCluster());
    });
    const before = exclusionList(emulator);
    emulator.faults.add({ verb: 'patch', resource: 'meshconfigs', status: 500, probability: 0.1 });
    const cidrs = Array.from({ length: n }, (_, i) => `10.${200 + Math.floor(i / 250)}.${i % 250}.1/32`);
    let transientRetries = 0;
    const outcomes = await Promise.all(
      cidrs.map(async (cidr, i) => {
        // What the runner does around a step: retry transient failures (the helper itself re-plans on conflicts).
        for (let attempt = 1; ; attempt++) {
          try {
            return await ensureExclusion(clients[i % clients.length], 'osm-system', cidr, {
              attempts: 80,
              baseMs: 10,
              maxMs: 1000,
            });
          } catch (err) {
            if (err instanceof KubeError && err.reason === 'TRANSIENT' && attempt < 20) {
              transientRetries++;
              await sleep(rand(5, 50));
              continue;
            }
            return `error: ${(err as Error).message}`;
          }
        }
      }),
    );
    emulator.faults.clear();
    const list = exclusionList(emulator);
    const present = cidrs.filter((c) => list.filter((x) => x === c).length === 1).length;
    const problems = exclusionProblems(emulator, before, cidrs);
    problems.push(...outcomes.filter((o) => o !== 'added' && o !== 'present').map((o) => `ensureExclusion: ${o}`));
    const patches = emulator.requests.count({ verb: 'patch', resource: 'meshconfigs' });
    const conflicts = emulator.requests.count(
      (e) => e.verb === 'patch' && e.resource === 'meshconfigs' && (e.status === 409 || e.status === 422),
    );
    return {
      scenario: 'exclusion-cidrs',
      requests: n,
      succeeded: present,
      failedAsExpected: 0,
      lost: n - present,
      duplicated: cidrs.filter((c) => list.filter((x) => x === c).length > 1).length,
      durationMs: Date.now() - started,
      problems,
      notes: [
        `${patches} MeshConfig patches (${conflicts} lost the optimistic-concurrency race and were re-planned, ` +
          `${transientRetries} retried after a 500); list has ${list.length} entries`,
      ],
    };
  } finally {
    await emulator.close();
  }
}

/**
 * Postgres goes away mid-batch and comes back. The API answers 503 DEPENDENCY_UNAVAILABLE during the
 * outage (never 500), accepted requests are not lost, submissions retried with their Idempotency-Key
 * are accepted once it is back. `FAULT_REAL_OUTAGES=1`: the shared server is stopped and started with
 * pg_ctlcluster; otherwise the stack's backends are terminated (57P01, as in a restart) and its
 * proxy refuses connections, so other test files keep their database.
 */
export async function restartPostgres(): Promise<ScenarioResult> {
  const { requests, outageMs } = SIZE.postgres;
  const rig = await Rig.start({ name: 'pg-restart', workers: 2, proxies: true });
  // The probe's target exists, so its POST gets past the request-time namespace check to Postgres.
  seedAppNamespace(rig.emulator.store, 'pg-restart-extra', { deployments: 1, replicas: 1 });
  const codes = new Map<string, number>();
  const count = (k: string) => codes.set(k, (codes.get(k) ?? 0) + 1);
  try {
    const result = await runBatch({
      name: 'pg-restart',
      rig,
      count: requests,
      timeoutMs: 240_000,
      submitRetryMs: 120_000,
      chaos: async ({ progress, done }) => {
        while (!done() && (await progress()) < 0.2) await sleep(100);
        const outage = await postgresOutage(rig, outageMs, async () => {
          const r = await probe(rig.url, 'GET', '/v1/onboardings?limit=1');
          count(`GET ${r.status} ${r.code ?? ''}`.trim());
          const p = await probe(rig.url, 'POST', '/v1/onboardings', { namespace: 'pg-restart-extra' });
          count(`POST ${p.status} ${p.code ?? ''}`.trim());
        });
        return [
          `outage ${outage.mode} ${outage.downMs} ms; API answers during it: ` +
            `${[...codes].map(([k, v]) => `${k} ×${v}`).join(', ')}; first 2xx ${outage.recoveredMs} ms after ` +
            `Postgres was back`,
        ];
      },
    });
    if (![...codes.keys()].some((k) => k.endsWith('503 DEPENDENCY_UNAVAILABLE')))
      result.problems.push('the API never answered 503 DEPENDENCY_UNAVAILABLE during the outage');
    for (const k of codes.keys())
      if (/ 5\d\d/.test(k) && !k.endsWith('503 DEPENDENCY_UNAVAILABLE'))
        result.problems.push(`the API answered ${k} during the outage`);
    return result;
  } finally {
    await rig.close();
  }
}

export async function probe(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; code?: string; ms: number }> {
  const t = Date.now();
  try {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const json = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
    return { status: res.status, code: json.error?.code, ms: Date.now() - t };
  } catch (err) {
    return { status: 0, code: (err as Error).name, ms: Date.now() - t };
  }
}

export const PG_CLUSTER = process.env.FAULT_PG_CLUSTER ?? '15 main';

/** Takes Postgres away for `ms` (really, or for this rig only), probing the API meanwhile. */
export async function postgresOutage(
  rig: Rig,
  ms: number,
  duringOutage: () => Promise<void>,
): Promise<{ mode: string; downMs: number; recoveredMs: number }> {
  const t0 = Date.now();
  if (REAL_OUTAGES) {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', ...PG_CLUSTER.split(' '), 'stop', '-m', 'fast']);
  } else {
    await rig.pgProxy!.cut();
    await rig.terminateProxiedBackends().catch(() => 0);
  }
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await duringOutage();
    await sleep(200);
  }
  if (REAL_OUTAGES) await run('pg_ctlcluster', ['--skip-systemctl-redirect', ...PG_CLUSTER.split(' '), 'start']);
  else await rig.pgProxy!.restore();
  const back = Date.now();
  for (;;) {
    const r = await probe(rig.url, 'GET', '/v1/onboardings?limit=1');
    if (r.status === 200 || Date.now() - back > 60_000) break;
    await sleep(50);
  }
  return {
    mode: REAL_OUTAGES ? 'pg_ctlcluster stop/start' : 'backends terminated + connections refused',
    downMs: back - t0,
    recoveredMs: Date.now() - back,
  };
}

/**
 * Two workers on the same queue, every request delivered 1 + N times (extra BullMQ jobs with other
 * ids, as duplicate deliveries would), and workers frozen (SIGSTOP) past their heartbeat so the other
 * takes their requests over, then thawed (SIGCONT): no request runs twice at once.
 */
export async function racingWorkers(): Promise<ScenarioResult> {
  const { requests, duplicateJobs, stalls } = SIZE.race;
  const rig = await Rig.start({ name: 'race', workers: 2 });
  const queue = new Queue('onboarding', {
    connection: new Redis(rig.directRedisUrl, { maxRetriesPerRequest: null }),
    prefix: rig.env.QUEUE_PREFIX,
  });
  try {
    const result = await runBatch({
      name: 'race',
      rig,
      count: requests,
      timeoutMs: 240_000,
      chaos: async ({ done }) => {
        // Duplicate deliveries of every request as soon as it exists.
        let extra = 0;
        const seen = new Set<string>();
        const notes: string[] = [];
        let stalled = 0;
        const stallLoop = (async () => {
          while (stalled < stalls && !done()) {
            await sleep(rand(200, 1000));
            // Freeze a worker that is running something, past its heartbeat: the other worker's
            // sweeper takes its requests over; when it thaws, it must not go on with them.
            const victim = rig.workers[stalled % rig.workers.length];
            const { rows } = await rig.db.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM onboarding_request WHERE status = 'RUNNING' AND claimed_by LIKE $1",
              [`%:${victim.pid}:%`],
            );
            if (rows[0].n === 0) continue;
            victim.child.kill('SIGSTOP');
            await sleep(3000); // > 3 × HEARTBEAT_MS + SWEEP_INTERVAL_MS
            victim.child.kill('SIGCONT');
            stalled++;
          }
        })();
        while (!done()) {
          const { rows } = await rig.db.query<{ id: string }>(
            'SELECT id FROM onboarding_request WHERE namespace LIKE $1',
            ['race-%'],
          );
          for (const { id } of rows) {
            if (seen.has(id)) continue;
            seen.add(id);
            for (let k = 0; k < duplicateJobs; k++) {
              await queue.add(
                'run-request',
                { requestId: id },
                { jobId: `${id}-dup-${k}`, removeOnComplete: true, removeOnFail: true },
              );
              extra++;
            }
          }
          await sleep(100);
        }
        await stallLoop;
        notes.push(`${extra} duplicate deliveries, ${stalled} worker freeze(s) of 3 s (SIGSTOP/SIGCONT)`);
        return notes;
      },
    });
    const lost = countInLogs('race', /lost its claim/g);
    result.notes.push(`${lost} in-flight run(s) stopped by the claim fence after a freeze`);
    return result;
  } finally {
    await queue.close().catch(() => undefined);
    await rig.close();
  }
}

export function countInLogs(prefix: string, re: RegExp): number {
  let n = 0;
  for (const f of readdirSync(LOG_DIR).filter((x) => x.startsWith(`${prefix}-worker-`)))
    n += (readFileSync(join(LOG_DIR, f), 'utf8').match(re) ?? []).length;
  return n;
}

export const SCENARIOS: [string, () => Promise<ScenarioResult>][] = [
  ['kill -9 workers', killWorkers],
  ['FLUSHDB Redis', flushRedis],
  ['20% transient Kubernetes faults', transientKubeFaults],
  ['403/422 Kubernetes faults', permanentKubeFaults],
  ['100 concurrent exclusion CIDRs', concurrentExclusions],
  ['Postgres restart', restartPostgres],
  ['two workers racing', racingWorkers],
];

export function table(results: ScenarioResult[]): string {
  const head = ['scenario', 'requests', 'succeeded', 'failed as expected', 'lost', 'duplicated', 'problems', 'seconds'];
  const rows = results.map((r) =>
    [
      r.scenario,
      r.requests,
      r.succeeded,
      r.failedAsExpected,
      r.lost,
      r.duplicated,
      r.problems.length,
      (r.durationMs / 1000).toFixed(1),
    ].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const out = [
    `fault suite (FAULT_SCALE=${SCALE}${REAL_OUTAGES ? ', real outages' : ''})`,
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ];
  for (const r of results) {
    out.push(`- ${r.scenario}: ${r.notes.join('; ')}`);
    for (const p of r.problems.slice(0, 15)) out.push(`    ! ${p}`);
    if (r.problems.length > 15) out.push(`    ! … ${r.problems.length - 15} more`);
  }
  return out.join('\n');
}

export { MESH_CONFIG_REF };
