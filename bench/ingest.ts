// 1. Ingest: onboarding requests accepted per second (validated, stored with the first audit event,
// enqueued) at increasing concurrency, over REST and GraphQL, with p50/p95/p99 latency; p99 at a fixed
// rate (autocannon's bursts and an open-loop steady pace), per HTTP platform; and, in the same run, the raw
// rate of the same inserts through `pg` alone (the physical limit).
// The API runs with ROLE=api and no worker, so every request stays QUEUED; each request names a
// distinct namespace that exists in the emulator (the API refuses a second active request per namespace).

import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import pg from 'pg';
import type { BenchContext } from './lib/context.js';
import { settings } from './lib/env.js';
import { startEmulatorProcess } from './lib/emulator.js';
import { freshPrefix, warmInformer } from './lib/onboard.js';
import { fmt, median, ratio, summarize, type Section } from './lib/report.js';
import { startPgCensus } from './lib/pg-proxy.js';
import {
  cpuSeconds,
  gcMsBetween,
  gcSeconds,
  heapBreakdown,
  MachineCpu,
  ProcessCpuCensus,
  renderCpuShares,
  residentMb,
  RssMonitor,
} from './lib/rss.js';
import { openLoop, openLoopOf, type OpenLoopResult } from './lib/open-loop.js';
import { checkpointCount, checkpointNow, deleteRedisKeys, Stack, type ServiceProcess } from './lib/stack.js';
import { sleep } from './lib/proc.js';

const EXCEEDED =
  ' (EXCEEDED: later requests named namespaces the emulator does not have; raise BENCH_INGEST_NAMESPACES)';

export const name = 'ingest';

const GQL = 'mutation Onboard($input: OnboardingInput!) { requestOnboarding(input: $input) { id } }';

interface LoadResult {
  label: string;
  connections: number;
  seconds: number;
  sent: number;
  accepted: number;
  rejected: number;
  errors: number;
  acceptedPerS: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  firstError?: string;
  /** API process CPU per accepted request, and the machine's busy share, during this step. */
  cpuMsPerRequest?: number;
  machineBusy?: number;
}

class Namespaces {
  next = 0;
  constructor(
    readonly prefix: string,
    readonly seeded: number,
  ) {}
  take(): string {
    return `${this.prefix}${this.next++}`;
  }
}

async function postOne(api: ServiceProcess, stack: Stack, namespace: string): Promise<void> {
  const res = await fetch(`${api.url}/v1/onboardings`, {
    method: 'POST',
    headers: stack.headers(),
    body: JSON.stringify({ namespace, prerequisites: { enabled: false } }),
  });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`census POST: HTTP ${res.status}`);
}

const INFORMER_SYNC_TIMEOUT_S = 300;

/** Starts the API's informer and waits for it; the seconds it took and the API's memory then. */
async function informerSyncedAfter(
  api: ServiceProcess,
  stack: Stack,
): Promise<{ syncS: number; rssMb?: number; hwmMb?: number } | undefined> {
  const syncS = await warmInformer(api, stack, INFORMER_SYNC_TIMEOUT_S);
  if (syncS === undefined) return undefined;
  return { syncS, ...(api.pid ? residentMb(api.pid) : undefined) };
}

async function load(
  api: ServiceProcess,
  stack: Stack,
  ns: Namespaces,
  opts: { protocol: 'rest' | 'graphql'; connections: number; seconds: number; rate?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let accepted = 0;
  let rejected = 0;
  let firstError: string | undefined;
  const request: autocannon.Request =
    opts.protocol === 'rest'
      ? {
          method: 'POST',
          path: '/v1/onboardings',
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ namespace: ns.take(), prerequisites: { enabled: false } }),
          }),
          onResponse: (status, body) => {
            if (status === 202) accepted++;
            else {
              rejected++;
              firstError ??= `HTTP ${status} ${body.slice(0, 200)}`;
            }
          },
        }
      : {
          method: 'POST',
          path: '/graphql',
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({
              query: GQL,
              variables: { input: { namespace: ns.take(), prerequisites: { enabled: false } } },
            }),
          }),
          onResponse: (status, body) => {
            if (status === 200 && !body.includes('"errors"') && body.includes('"id"')) accepted++;
            else {
              rejected++;
              firstError ??= `HTTP ${status} ${body.slice(0, 200)}`;
            }
          },
        };
  const instance = autocannon({
    url: api.url,
    connections: opts.connections,
    duration: opts.seconds,
    headers: stack.headers(),
    requests: [request],
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    timeout: 10,
  });
  // Without a callback autocannon returns its tracker (an EventEmitter) made thenable.
  (instance as unknown as EventEmitter).on(
    'response',
    (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms),
  );
  const result = await instance;
  const s = summarize(latencies);
  return {
    label: opts.protocol === 'rest' ? 'REST' : 'GraphQL',
    connections: opts.connections,
    seconds: result.duration,
    sent: result.requests.sent,
    accepted,
    rejected,
    errors: result.errors + result.timeouts,
    acceptedPerS: accepted / result.duration,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    max: s.max,
    firstError,
  };
}

/** A row of the fixed-rate table. */
function rateRow(
  who: string,
  generator: string,
  r: Pick<OpenLoopResult, 'acceptedPerS' | 'p50' | 'p95' | 'p99' | 'max' | 'rejected' | 'errors'>,
  inFlight: number,
  cpuShare?: number,
): (string | number)[] {
  return [
    who,
    generator,
    settings.ingestRate,
    Math.round(r.acceptedPerS),
    r.p50.toFixed(1),
    r.p95.toFixed(1),
    r.p99.toFixed(1),
    r.max.toFixed(1),
    `${r.rejected} / ${r.errors}`,
    inFlight,
    cpuShare === undefined ? '—' : `${Math.round(100 * cpuShare)}% of a core`,
  ];
}

/**
 * Empties the request tables and the stack's queue, so that every measured step, the API's and the raw insert's,
 * starts from the same empty state: the warm-ups and the sweeps store hundreds of thousands of QUEUED requests
 * (no worker takes them), and a step measured on a database and a Redis that large ran up to 2× slower than the
 * same step on empty ones (2026-12-05). How the accept rate holds up as history grows is bench 7's question.
 */
async function resetData(stack: Stack): Promise<void> {
  const client = await stack.db().connect();
  try {
    // The audit trail's trigger refuses TRUNCATE; a session in the replica role (a superuser's) fires no trigger.
    await client.query('SET session_replication_role = replica');
    // An insert of the API still in flight takes the three tables in another order than TRUNCATE: Postgres may end
    // one of them as a deadlock (SQLSTATE 40P01, seen once in a quick run); the insert is done by the next try.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query('TRUNCATE audit_event, step_run, onboarding_request CASCADE');
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
        await sleep(200);
      }
    }
  } finally {
    await client.query('RESET session_replication_role').catch(() => undefined);
    client.release();
  }
  await deleteRedisKeys(stack.queuePrefix);
}

type Row = Record<string, unknown>;

/**
 * Copies the rows one accepted request wrote (onboarding_request, its step_run rows and its first
 * audit_event) so the raw run inserts exactly the same columns, whatever migrations add.
 */
async function templateRows(db: pg.Pool): Promise<{ request: Row; steps: Row[]; audit: Row; jsonb: Set<string> }> {
  const request = (await db.query<Row>(`SELECT * FROM onboarding_request ORDER BY created_at LIMIT 1`)).rows[0];
  if (!request) throw new Error('no request stored by the warm-up');
  const steps = (await db.query<Row>(`SELECT * FROM step_run WHERE request_id = $1 ORDER BY position`, [request.id]))
    .rows;
  const audit = (
    await db.query<Row>(`SELECT * FROM audit_event WHERE request_id = $1 ORDER BY seq LIMIT 1`, [request.id])
  ).rows[0];
  const cols = await db.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND ` +
      `data_type IN ('jsonb', 'json')`,
  );
  return { request, steps, audit, jsonb: new Set(cols.rows.map((c) => `${c.table_name}.${c.column_name}`)) };
}

function insertSql(
  table: string,
  rows: Row[],
  jsonb: Set<string>,
  skip: string[] = [],
  firstParam = 1,
): { text: string; columns: string[] } {
  const columns = Object.keys(rows[0]).filter((c) => !skip.includes(c) && rows.some((r) => r[c] !== null));
  let n = firstParam - 1;
  const values = rows.map(() => `(${columns.map(() => `$${++n}`).join(', ')})`).join(', ');
  void jsonb;
  return { text: `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${values}`, columns };
}

const param = (table: string, column: string, value: unknown, jsonb: Set<string>) =>
  jsonb.has(`${table}.${column}`) && value !== null ? JSON.stringify(value) : value;

/**
 * The raw rate, two ways: `transaction` = BEGIN; INSERT request; INSERT its step runs (one statement);
 * INSERT audit event; COMMIT (5 round trips), and `statement` = the same three INSERTs as one
 * statement (data-modifying CTEs, 1 round trip), as the service writes them.
 */
async function raw(
  stack: Stack,
  connections: number,
  seconds: number,
  prefix: string,
  mode: 'transaction' | 'statement' | 'steady',
): Promise<{ perS: number; p50: number; p99: number; n: number; cpuMsPerTx: number; steady?: OpenLoopResult }> {
  const db = stack.db();
  const t = await templateRows(db);
  await resetData(stack);
  const poolSize = Math.min(connections, Number(stack.env().DATABASE_POOL_SIZE ?? 10));
  const raw = new pg.Pool({ connectionString: stack.databaseUrl, max: poolSize });
  raw.on('error', (err) => console.error(`  (raw pool: ${err.message})`));
  const req = insertSql('onboarding_request', [t.request], t.jsonb);
  const steps = insertSql('step_run', t.steps, t.jsonb);
  const audit = insertSql('audit_event', [t.audit], t.jsonb, ['id']);
  const stepsAt = insertSql('step_run', t.steps, t.jsonb, [], req.columns.length + 1);
  const auditAt = insertSql(
    'audit_event',
    [t.audit],
    t.jsonb,
    ['id'],
    req.columns.length + stepsAt.columns.length * t.steps.length + 1,
  );
  const oneStatement = `WITH r AS (${req.text}), s AS (${stepsAt.text}), e AS (${auditAt.text}) SELECT 1`;
  let seq = 0;
  let failures = 0;
  const latencies: number[] = [];
  // Warm the pool so connection set-up is not measured.
  await Promise.all(Array.from({ length: poolSize }, () => raw.query('SELECT 1')));
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  /** One request's rows: fresh ids, its own namespace, the template's other values. */
  const params = () => {
    const id = randomUUID();
    const namespace = `${prefix}${seq++}`;
    const now = new Date();
    const reqParams = req.columns.map((c) =>
      param(
        'onboarding_request',
        c,
        c === 'id'
          ? id
          : c === 'namespace'
            ? namespace
            : c === 'created_at' || c === 'updated_at'
              ? now
              : c === 'idempotency_key'
                ? null
                : t.request[c],
        t.jsonb,
      ),
    );
    const stepParams = t.steps.flatMap((s) =>
      steps.columns.map((c) =>
        param('step_run', c, c === 'id' ? randomUUID() : c === 'request_id' ? id : s[c], t.jsonb),
      ),
    );
    const auditParams = audit.columns.map((c) =>
      param(
        'audit_event',
        c,
        c === 'request_id'
          ? id
          : c === 'namespace'
            ? namespace
            : c === 'target'
              ? `namespaces/${namespace}`
              : c === 'created_at'
                ? now
                : t.audit[c],
        t.jsonb,
      ),
    );
    return { reqParams, stepParams, auditParams };
  };
  if (mode === 'steady') {
    // The fixed rate's floor: the same rows, one statement each, started at evenly spaced instants (the open loop
    // the steady REST row uses), through the service's connection budget.
    const steady = await openLoopOf(settings.ingestRate, settings.ingestRateSeconds, async () => {
      try {
        const { reqParams, stepParams, auditParams } = params();
        await raw.query({
          name: 'raw-ingest',
          text: oneStatement,
          values: [...reqParams, ...stepParams, ...auditParams],
        });
        return { accepted: true };
      } catch (err) {
        return { accepted: false, refusal: (err as Error).message };
      }
    });
    const cpu = process.cpuUsage(cpu0);
    await raw.end();
    return {
      perS: steady.acceptedPerS,
      p50: steady.p50,
      p99: steady.p99,
      n: steady.accepted,
      cpuMsPerTx: (cpu.user + cpu.system) / 1000 / Math.max(1, steady.accepted),
      steady,
    };
  }
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const { reqParams, stepParams, auditParams } = params();
        const started = performance.now();
        if (mode === 'statement') {
          try {
            await raw.query({
              name: 'raw-ingest',
              text: oneStatement,
              values: [...reqParams, ...stepParams, ...auditParams],
            });
          } catch {
            failures++;
            continue;
          }
          latencies.push(performance.now() - started);
          continue;
        }
        const client = await raw.connect();
        try {
          await client.query('BEGIN');
          await client.query(req.text, reqParams);
          await client.query(steps.text, stepParams);
          await client.query(audit.text, auditParams);
          await client.query('COMMIT');
        } catch {
          await client.query('ROLLBACK').catch(() => undefined);
          failures++;
          continue;
        } finally {
          client.release();
        }
        latencies.push(performance.now() - started);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await raw.end();
  const s = summarize(latencies);
  if (failures) console.error(`  (raw pg: ${failures} transactions failed)`);
  return {
    perS: latencies.length / elapsed,
    p50: s.p50,
    p99: s.p99,
    n: latencies.length,
    cpuMsPerTx: (cpu.user + cpu.system) / 1000 / Math.max(1, latencies.length),
  };
}

interface PlatformRun {
  platform: string;
  results: LoadResult[];
  /** autocannon's fixed rate: each tick's share sent back to back (the figure of earlier rounds). */
  burst: LoadResult;
  /** The open-loop generator: evenly spaced arrivals at the same rate. */
  steady: OpenLoopResult;
  steadyCpuShare: number;
  /** The API's garbage collection during the steady run, and the machine's busy share and CPU by process. */
  steadyGc?: { totalMs: number; majorMs: number };
  steadyMachine: { busy: number; byRole: [string, number][] };
  /** Postgres checkpoints that began during the steady run (it starts right after one). */
  steadyCheckpoints: number;
  /** The API's CPU per REST request in each warm-up round (ms). */
  warmup: number[];
  floor: { perS: number; p99: number };
}

const restBody = (ns: Namespaces) => () => JSON.stringify({ namespace: ns.take(), prerequisites: { enabled: false } });

/**
 * Boots API processes side by side; the processes in the order of `specs`. If one fails to boot, the others are
 * stopped and the error is thrown.
 */
async function bootAll(stack: Stack, specs: [string, Record<string, string | number>][]): Promise<ServiceProcess[]> {
  const booted = await Promise.allSettled(specs.map(([label, env]) => stack.startApi(label, env)));
  const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
  if (!failed) return booted.map((b) => (b as PromiseFulfilledResult<ServiceProcess>).value);
  for (const b of booted) if (b.status === 'fulfilled') await b.value.stop();
  throw failed.reason;
}

/** `load`, with the API's CPU per accepted request (ms) in `cpuMsPerRequest`. */
async function loadWithCpu(
  api: ServiceProcess,
  stack: Stack,
  ns: Namespaces,
  opts: Parameters<typeof load>[3],
): Promise<LoadResult & { cpuMsPerRequest: number }> {
  const cpu0 = cpuSeconds(api.pid) ?? 0;
  const r = await load(api, stack, ns, opts);
  const cpuMsPerRequest = (((cpuSeconds(api.pid) ?? 0) - cpu0) * 1000) / Math.max(1, r.accepted);
  return Object.assign(r, { cpuMsPerRequest });
}

/**
 * Brings an API to its steady state before it is measured: V8 keeps optimizing the request path for the first
 * 20-30 s of load (an API's CPU per request fell from 0.75 to 0.58 ms over 45 s at 50 connections, 2026-12-05),
 * and a long-running API is past that. Rounds of REST then GraphQL at 50 connections (BENCH_INGEST_WARMUP_S and
 * half of it), until the CPU per REST request is within 5 % of the round before, or BENCH_INGEST_WARMUP_MAX_S.
 * Returns the CPU per REST request of each round (ms).
 */
async function warmUp(api: ServiceProcess, stack: Stack, ns: Namespaces): Promise<number[]> {
  const rounds: number[] = [];
  const started = performance.now();
  for (;;) {
    const r = await loadWithCpu(api, stack, ns, { protocol: 'rest', connections: 50, seconds: settings.ingestWarmupS });
    rounds.push(r.cpuMsPerRequest);
    await load(api, stack, ns, {
      protocol: 'graphql',
      connections: 50,
      seconds: Math.max(0.5, settings.ingestWarmupS / 2),
    });
    const [before, last] = rounds.slice(-2);
    const steady = rounds.length >= 2 && Math.abs(last - before) <= 0.05 * before;
    if (steady || performance.now() - started >= settings.ingestWarmupMaxS * 1000) return rounds;
  }
}

/** The steady run's conditions: the API's GC time, and how busy the machine was with what. */
function steadyConditions(pr: PlatformRun): string {
  const gc = pr.steadyGc
    ? `GC ${pr.steadyGc.totalMs.toFixed(0)} ms (major ${pr.steadyGc.majorMs.toFixed(0)} ms)`
    : 'GC not read';
  const machine = `machine ${Math.round(100 * pr.steadyMachine.busy)}% busy`;
  return (
    `${gc} in ${pr.steady.seconds.toFixed(0)} s, ${machine} (${renderCpuShares(pr.steadyMachine.byRole)}), ` +
    `${pr.steadyCheckpoints} Postgres checkpoint(s) began during it`
  );
}

/** One API process on one HTTP platform: the concurrency steps, the burst and the steady fixed rate. */
async function measurePlatform(
  ctx: BenchContext,
  opts: { stack: Stack; ns: Namespaces; rss: RssMonitor; platform: string },
): Promise<PlatformRun> {
  const { stack, ns, rss, platform } = opts;
  const label = `api-${platform}`;
  const api = await stack.startApi(label, { HTTP_PLATFORM: platform, PRECHECK_TIMEOUT_MS: settings.ingestPrecheckMs });
  rss.track(label, api.pid);
  try {
    const warmup = await warmUp(api, stack, ns);
    // The framework's ceiling on this machine: GET /healthz (no auth, no I/O) through the same stack.
    const floorRun = await autocannon({
      url: `${api.url}/healthz`,
      connections: 50,
      duration: Math.min(3, settings.ingestWarmupS + 1),
    });
    const floor = { perS: floorRun.requests.average, p99: floorRun.latency.p99 };
    process.stdout.write(`  [${platform}] GET /healthz c=50: ${Math.round(floor.perS)}/s\n`);
    const results: LoadResult[] = [];
    for (const c of settings.ingestConnections) {
      for (const protocol of ['rest', 'graphql'] as const) {
        await resetData(stack);
        const machine = new MachineCpu().start();
        const r = await loadWithCpu(api, stack, ns, { protocol, connections: c, seconds: settings.ingestSeconds });
        r.machineBusy = machine.busyShare();
        results.push(r);
        process.stdout.write(
          `  [${platform}] ${r.label.padEnd(7)} c=${String(c).padStart(3)}: ${r.acceptedPerS.toFixed(0)} ` +
            `accepted/s, p99 ${r.p99.toFixed(1)} ms${r.rejected ? `, ${r.rejected} rejected (${r.firstError})` : ''}\n`,
        );
      }
    }
    await resetData(stack);
    const burst = await load(api, stack, ns, {
      protocol: 'rest',
      connections: 50,
      seconds: settings.ingestRateSeconds,
      rate: settings.ingestRate,
    });
    const body = restBody(ns);
    await resetData(stack);
    const checkpoints0 = await checkpointNow();
    const steadyCpu0 = cpuSeconds(api.pid) ?? 0;
    const gc0 = await gcSeconds(`${api.url}/metrics`);
    const steadyBusy = new MachineCpu().start();
    const steadyCensus = new ProcessCpuCensus(
      new Map([
        [api.pid, 'api'],
        [stack.emulator.child.pid, 'emulator'],
        [process.pid, 'bench'],
      ]),
    ).start();
    const steady = await openLoop({
      url: api.url,
      path: '/v1/onboardings',
      rate: settings.ingestRate,
      seconds: settings.ingestRateSeconds,
      headers: stack.headers(),
      body,
      accepted: (status) => status === 202,
    });
    const steadyCpuShare = ((cpuSeconds(api.pid) ?? 0) - steadyCpu0) / steady.seconds;
    const steadyMachine = { busy: steadyBusy.busyShare(), byRole: steadyCensus.seconds() };
    const steadyGc = gcMsBetween(gc0, await gcSeconds(`${api.url}/metrics`));
    const steadyCheckpoints = (await checkpointCount()) - checkpoints0;
    process.stdout.write(
      `  [${platform}] REST at ${settings.ingestRate}/s: burst p99 ${burst.p99.toFixed(1)} ms, steady p99 ` +
        `${steady.p99.toFixed(1)} ms (${steady.acceptedPerS.toFixed(0)} accepted/s)` +
        `${steady.rejected + steady.errors ? ` — ${steady.rejected}/${steady.errors} (${steady.firstError})` : ''}\n`,
    );
    const heap = await heapBreakdown(`${api.url}/metrics`, api.pid);
    const m = rss.finishOne(label);
    const acceptedAll = [...results, burst].reduce((sum, r) => sum + r.accepted, steady.accepted);
    if (m)
      ctx.memory.push({
        cpuMsPerItem: (m.cpuS * 1000) / Math.max(1, acceptedAll),
        bench: 'ingest',
        process: m.label,
        role: 'api',
        hwmMb: m.hwmMb,
        maxRssMb: m.maxRssMb,
        startRssMb: m.startRssMb,
        heap,
      });
    return {
      platform,
      results,
      burst,
      steady,
      steadyCpuShare,
      steadyGc,
      steadyMachine,
      steadyCheckpoints,
      floor,
      warmup,
    };
  } finally {
    await api.stop(); // the next platform and the raw run get the machine to themselves
  }
}

interface PlatformAb {
  pairs: number;
  /** Each pair's order of loads. */
  orders: string[][];
  rates: Record<string, number[]>;
  cpuMs: Record<string, number[]>;
  mean: Record<string, number>;
  cpu: Record<string, number>;
  faster: string;
  /** Rates and CPU per request both within BENCH_INGEST_AB_TIE: neither is faster; `faster` is the default. */
  even: boolean;
  rule: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Which platform accepts more: every platform's API up at once, loaded one at a time (REST, 50 connections), the
 * order rotated every pair, so neither always runs right after the other's load. A median ratio of the pairs' rates
 * within BENCH_INGEST_AB_TIE of 1 is a tie, and then the pairs' median ratio of API CPU per request decides.
 */
async function platformAb(
  stack: Stack,
  ns: Namespaces,
  apis: Map<string, ServiceProcess>,
): Promise<PlatformAb | undefined> {
  const platforms = [...apis.keys()];
  if (platforms.length < 2) return undefined;
  try {
    // Booted side by side with the other rows' APIs (bootAll), loaded one at a time.
    for (const api of apis.values()) await warmUp(api, stack, ns);
    const rates: Record<string, number[]> = Object.fromEntries(platforms.map((p) => [p, []]));
    const cpuMs: Record<string, number[]> = Object.fromEntries(platforms.map((p) => [p, []]));
    const orders = Array.from({ length: settings.ingestAbPairs }, (_, i) =>
      platforms.map((_, k) => platforms[(k + i) % platforms.length]),
    );
    for (const order of orders) {
      for (const p of order) {
        const api = apis.get(p)!;
        await resetData(stack);
        const r = await loadWithCpu(api, stack, ns, {
          protocol: 'rest',
          connections: 50,
          seconds: settings.ingestSeconds,
        });
        rates[p].push(r.acceptedPerS);
        cpuMs[p].push(r.cpuMsPerRequest);
      }
    }
    const m = Object.fromEntries(platforms.map((p) => [p, mean(rates[p])]));
    const cpu = Object.fromEntries(platforms.map((p) => [p, mean(cpuMs[p])]));
    // Decided on each pair's ratio (second platform ÷ first): the loads of a pair are seconds apart, so the ratio is
    // free of the machine's drift over the A/B (its rates fell by half from the first pairs to the last in one run),
    // and the median of the ratios ignores a pair that one disturbance hit (one ratio of 0.73 among 0.92–1.12 there).
    const [first, second] = platforms;
    const rateRatio = median(rates[second].map((r, i) => r / rates[first][i]));
    const cpuRatio = median(cpuMs[second].map((c, i) => c / cpuMs[first][i]));
    const within = (ratio: number) => Math.abs(ratio - 1) <= settings.ingestAbTie;
    const tie = within(rateRatio);
    // Equal on both counts: neither is faster, and the default stays (a switch would buy nothing measurable).
    const even = tie && within(cpuRatio) && platforms.includes(settings.defaultPlatform);
    // Not a tie: the higher rate; a tie on rates: the lower CPU per request.
    const secondWins = tie ? cpuRatio < 1 : rateRatio > 1;
    const faster = even ? settings.defaultPlatform : secondWins ? second : first;
    const pct = `${Math.round(settings.ingestAbTie * 100)} %`;
    const ratios =
      `median of the pairs' ${second} ÷ ${first}: rate ${rateRatio.toFixed(3)}, ` +
      `CPU per request ${cpuRatio.toFixed(3)}`;
    const rule = even
      ? `${ratios}; both within ${pct} of 1: a tie, the default stays`
      : tie
        ? `${ratios}; the rates within ${pct}: the lower CPU per request decides`
        : `${ratios}: the higher rate`;
    process.stdout.write(
      `  platform A/B (${settings.ingestAbPairs} alternated pairs, REST c=50): ` +
        platforms.map((p) => `${p} ${m[p].toFixed(0)}/s at ${cpu[p].toFixed(2)} ms CPU/req`).join(', ') +
        `; ${ratios} → ${even ? `a tie (${faster} stays)` : faster}\n`,
    );
    return { pairs: settings.ingestAbPairs, orders, rates, cpuMs, mean: m, cpu, faster, even, rule };
  } finally {
    for (const api of apis.values()) await api.stop();
  }
}

export async function run(ctx: BenchContext): Promise<Section> {
  // An emulator of its own, stopped at the end: the benches after this one share the context's emulator, and
  // its namespaces would be theirs (the API's informer lists every namespace of a cluster).
  const emulator = await startEmulatorProcess('ingest-emulator');
  const prefix = freshPrefix('i');
  const needed = settings.ingestNamespaces;
  process.stdout.write(`  seeding ${needed} namespaces… `);
  process.stdout.write(`${(await emulator.seed(prefix, needed)).toFixed(1)} s\n`);
  // Only the request-time read's row reads its namespaces (the other rows run with the read off): it takes seeded
  // ones, the others names of their own, so however long the warm-ups run, that row never runs out.
  const seeded = new Namespaces(prefix, needed);
  const ns = settings.ingestPrecheckMs > 0 ? seeded : new Namespaces(`${prefix}r-`, 0);

  const stack = await Stack.create('ingest', emulator);
  const rss = new RssMonitor();
  const runs: PlatformRun[] = [];
  const raws: { connections: number; perS: number; p50: number; p99: number; n: number; cpuMsPerTx: number }[] = [];
  const raw1s: { connections: number; perS: number; p50: number; p99: number; n: number; cpuMsPerTx: number }[] = [];
  try {
    for (const platform of settings.ingestPlatforms)
      runs.push(await measurePlatform(ctx, { stack, ns, rss, platform }));
    // The service's defaults: every POST reads its target namespace (TargetPrecheck) through the cluster's
    // rate-limited client, so the cluster's K8S_QPS (after K8S_BURST) bounds the accepted rate.
    // The APIs of the rows below boot side by side (a boot is mostly one core's work for a few seconds) and wait
    // idle until their row: the request-time read's, the census's (behind a counting proxy) and the platform A/B's.
    const census = await startPgCensus();
    const abPlatforms =
      settings.ingestPlatforms.length >= 2 && settings.ingestAbPairs >= 1 ? settings.ingestPlatforms : [];
    const [withRead, counted, ...abApis] = await bootAll(stack, [
      ['api-precheck', { HTTP_PLATFORM: settings.ingestPlatforms[0] }],
      ['api-census', { DATABASE_URL: census.url(stack.databaseUrl), PRECHECK_TIMEOUT_MS: settings.ingestPrecheckMs }],
      ...abPlatforms.map((p): [string, Record<string, string | number>] => [
        `ab-${p}`,
        { HTTP_PLATFORM: p, PRECHECK_TIMEOUT_MS: settings.ingestPrecheckMs },
      ]),
    ]).catch(async (err: unknown) => {
      await census.close();
      throw err;
    });
    let precheck: LoadResult;
    let informer: { syncS: number; rssMb?: number; hwmMb?: number } | undefined;
    try {
      // The first request starts the API's namespace informer (PRECHECK_INFORMER, default on): one paginated list
      // of every seeded namespace, then a watch. The measured steps start once it has synced (its gauge says so).
      informer = await informerSyncedAfter(withRead, stack);
      process.stdout.write(
        informer
          ? `  namespace informer synced in ${informer.syncS.toFixed(1)} s; ` +
              `API RSS ${informer.rssMb?.toFixed(0)} MiB (peak ${informer.hwmMb?.toFixed(0)} MiB)\n`
          : `  namespace informer: not synced within ${INFORMER_SYNC_TIMEOUT_S} s (off, or refused)\n`,
      );
      // Spends K8S_BURST first, so the measured step shows the steady K8S_QPS bound.
      await load(withRead, stack, seeded, { protocol: 'rest', connections: 50, seconds: settings.ingestWarmupS });
      await resetData(stack);
      precheck = await load(withRead, stack, seeded, {
        protocol: 'rest',
        connections: 50,
        seconds: settings.ingestSeconds,
      });
    } finally {
      await withRead.stop();
    }
    // Past the seeded namespaces, the read refuses each request (no such namespace) and the row measures refusals.
    const overrun =
      seeded.next > needed ? ` (ran past the ${needed} seeded namespaces: raise BENCH_INGEST_NAMESPACES)` : '';
    process.stdout.write(
      `  request-time read on (the defaults) REST c=50: ${precheck.acceptedPerS.toFixed(0)} accepted/s, p99 ` +
        `${precheck.p99.toFixed(1)} ms${overrun}\n`,
    );
    const { rows } = await stack
      .db()
      .query<{ n: string }>(`SELECT count(*) AS n FROM step_run GROUP BY request_id LIMIT 1`);
    const stepsPerRequest = Number(rows[0]?.n ?? 0);

    // Census: Postgres round trips of one accepted request (an API process behind a counting proxy).
    let censusPerRequest = NaN;
    let censusStatements: [string, number][] = [];
    try {
      const m = 50;
      for (let i = 0; i < 5; i++) await postOne(counted, stack, ns.take()); // warm-up
      census.reset();
      for (let i = 0; i < m; i++) await postOne(counted, stack, ns.take());
      censusPerRequest = census.roundTrips() / m;
      censusStatements = census.statements().map(([sql, c]) => [sql, c / m]);
    } finally {
      await counted.stop();
      await census.close();
    }

    const ab = await platformAb(stack, ns, new Map(abPlatforms.map((p, i) => [p, abApis[i]])));

    for (const c of settings.ingestConnections) {
      const r = await raw(stack, c, settings.ingestSeconds, `${prefix}raw${c}-`, 'transaction');
      raws.push({ connections: c, ...r });
      const one = await raw(stack, c, settings.ingestSeconds, `${prefix}raw1s${c}-`, 'statement');
      raw1s.push({ connections: c, ...one });
      process.stdout.write(
        `  raw pg  c=${String(c).padStart(3)}: ${r.perS.toFixed(0)} tx/s (one statement: ${one.perS.toFixed(0)}/s)\n`,
      );
    }

    // The fixed rate's floor: the same rows through pg alone, at the same steady pace, with the API stopped.
    const rawCheckpoints0 = await checkpointNow();
    const rawSteady = (await raw(stack, 10, 0, `${prefix}rawsteady-`, 'steady')).steady!;
    const rawSteadyCheckpoints = (await checkpointCount()) - rawCheckpoints0;
    process.stdout.write(
      `  raw pg at ${settings.ingestRate}/s (steady): p99 ${rawSteady.p99.toFixed(1)} ms ` +
        `(p50 ${rawSteady.p50.toFixed(1)}, ${Math.round(rawSteady.acceptedPerS)}/s)\n`,
    );

    // The physical limit at each concurrency: the faster of the two ways of writing the rows through pg.
    const rawAt = (c: number) =>
      Math.max(raws.find((r) => r.connections === c)!.perS, raw1s.find((r) => r.connections === c)!.perS);
    const bestOf = (results: LoadResult[], label: string) =>
      results.filter((r) => r.label === label).reduce((a, b) => (b.acceptedPerS > a.acceptedPerS ? b : a));
    const bestRaw = [...raws, ...raw1s].reduce((a, b) => (b.perS > a.perS ? b : a));
    // The faster platform by the alternated A/B (with one platform measured: that one); the targets below are
    // read off its sweep.
    const fastest = runs.find((pr) => pr.platform === ab?.faster) ?? runs[0];
    const bestRest = bestOf(fastest.results, 'REST');
    const bestGql = bestOf(fastest.results, 'GraphQL');
    const section: Section = {
      name,
      title: '1. Ingest: requests accepted per second',
      intro:
        `POST /v1/onboardings \`{namespace, prerequisites:{enabled:false}}\` and GraphQL ` +
        `\`requestOnboarding(input:…){id}\`, each for a distinct ` +
        `namespace; 1 API process (ROLE=api, no worker: requests stay QUEUED; ` +
        `LOG_LEVEL=${settings.logLevel}) per HTTP platform (HTTP_PLATFORM=${settings.ingestPlatforms.join(' / ')}, ` +
        `one after the other, the same database; then the platform A/B below, both up at once), each warmed up ` +
        `to its steady state first (rounds of ${settings.ingestWarmupS} s REST + ` +
        `${Math.max(0.5, settings.ingestWarmupS / 2)} s GraphQL at 50 connections until the CPU per REST request ` +
        `changes by ≤ 5 %; at most ` +
        `${settings.ingestWarmupMaxS} s), ` +
        `autocannon in the bench process, ${settings.ingestSeconds} s per step. Each accepted request wrote 1 ` +
        `onboarding_request + ` +
        `${stepsPerRequest} step_run + 1 audit_event row in one statement (a CTE, so one round trip and one ` +
        `implicit transaction), then published its event and enqueued a BullMQ job. ` +
        `"raw pg" = the same rows through \`pg\` alone, the faster of two ways: a transaction (BEGIN; 3 INSERTs; ` +
        `COMMIT) and one statement ` +
        `(the 3 INSERTs as CTEs, prepared), with the service's connection budget (min(concurrency, ` +
        `DATABASE_POOL_SIZE=10) connections), the API stopped.`,
      tables: [
        {
          headers: [
            'platform',
            'concurrency',
            'REST acc/s',
            'p50 ms',
            'p99 ms',
            'GraphQL acc/s',
            'p50 ms',
            'p99 ms',
            'raw pg tx / 1 stmt /s',
            'REST ÷ raw',
            'GraphQL ÷ raw',
            'API CPU ms/req REST/GQL',
            'machine busy',
          ],
          rows: runs.flatMap((pr) =>
            settings.ingestConnections.map((c) => {
              const r = pr.results.find((x) => x.label === 'REST' && x.connections === c)!;
              const g = pr.results.find((x) => x.label === 'GraphQL' && x.connections === c)!;
              return [
                pr.platform,
                c,
                Math.round(r.acceptedPerS),
                r.p50.toFixed(1),
                r.p99.toFixed(1),
                Math.round(g.acceptedPerS),
                g.p50.toFixed(1),
                g.p99.toFixed(1),
                `${Math.round(raws.find((x) => x.connections === c)!.perS)} / ` +
                  `${Math.round(raw1s.find((x) => x.connections === c)!.perS)}`,
                ratio(r.acceptedPerS, rawAt(c)),
                ratio(g.acceptedPerS, rawAt(c)),
                `${fmt(r.cpuMsPerRequest, 1)} / ${fmt(g.cpuMsPerRequest, 1)}`,
                `${Math.round(100 * (r.machineBusy ?? 0))}%`,
              ];
            }),
          ),
        },
        ...(ab
          ? [
              {
                title:
                  `Platform A/B: REST at 50 connections, ${settings.ingestSeconds} s per step, every platform's API ` +
                  `up at once and loaded one at a time, the order rotated every pair (accepted/s; API CPU ms per ` +
                  `request)`,
                headers: ['pair', 'order', ...settings.ingestPlatforms],
                rows: [
                  ...ab.orders.map((order, i) => [
                    i + 1,
                    order.join(' → '),
                    ...settings.ingestPlatforms.map(
                      (p) => `${Math.round(ab.rates[p][i])} (${ab.cpuMs[p][i].toFixed(2)})`,
                    ),
                  ]),
                  [
                    'mean',
                    '',
                    ...settings.ingestPlatforms.map((p) => `${Math.round(ab.mean[p])} (${ab.cpu[p].toFixed(2)})`),
                  ],
                ],
              },
            ]
          : []),
        {
          title:
            `Fixed rate: REST at ${settings.ingestRate} requests/s for ${settings.ingestRateSeconds} s — "steady" = ` +
            `open loop, evenly spaced arrivals, latency from each request's due time; "burst" = autocannon's ` +
            `overallRate over 50 connections (each tick's share sent back to back, the figure of earlier rounds)`,
          headers: [
            'platform',
            'generator',
            'offered/s',
            'accepted/s',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'max ms',
            'rejected / errors',
            'in flight max',
            'API CPU share',
          ],
          rows: [
            ...runs.flatMap((pr) => [
              rateRow(pr.platform, 'steady (open loop)', pr.steady, pr.steady.maxInFlight, pr.steadyCpuShare),
              rateRow(pr.platform, 'burst (autocannon)', pr.burst, 50),
            ]),
            rateRow('raw pg (no API)', 'steady (open loop)', rawSteady, rawSteady.maxInFlight),
          ],
        },
      ],
      notes: [
        `The rows above run with the request-time namespace read off (PRECHECK_TIMEOUT_MS=` +
          `${settings.ingestPrecheckMs}): they measure the service's own cost. At the defaults (read on, ` +
          `${settings.ingestPlatforms[0]}, REST, 50 connections, after the K8S_BURST is spent): ` +
          `${Math.round(precheck.acceptedPerS)} accepted/s, p99 ${precheck.p99.toFixed(1)} ms — each POST reads ` +
          `its namespace through the cluster's K8S_QPS=${settings.k8sQps} budget, and a read that waits past ` +
          `PRECHECK_TIMEOUT_MS (1,500 ms) lets the request through unchecked` +
          (informer
            ? ` — unless the namespace informer has synced (here in ${informer.syncS.toFixed(1)} s for ` +
              `${settings.ingestNamespaces} namespaces; API RSS then ${informer.rssMb?.toFixed(0)} MiB): a request ` +
              `then reads memory, and the measured step starts after that.`
            : '.') +
          overrun,
        `the HTTP stack's ceiling: GET /healthz (public, no I/O) at c=50: ` +
          runs.map((pr) => `${pr.platform} ${Math.round(pr.floor.perS)}/s (p99 ${pr.floor.p99} ms)`).join(', '),
        `the warm-up, the API's CPU per REST request in each round (ms): ` +
          runs.map((pr) => `${pr.platform} ${pr.warmup.map((x) => x.toFixed(2)).join(' → ')}`).join('; '),
        `during the steady run, the API's garbage collection and the machine: ` +
          runs.map((pr) => `${pr.platform} ${steadyConditions(pr)}`).join('; ') +
          `; raw pg ${rawSteadyCheckpoints} checkpoint(s). Each steady run (the raw one too) starts right after ` +
          `a CHECKPOINT: the steps before it write gigabytes of WAL, and a checkpoint that starts (at Postgres's ` +
          `max_wal_size) spreads its writes over minutes (one covered the Fastify API's steady run on 2026-12-06)`,
        `the open-loop generator's own scheduling lag (p99): ` +
          runs.map((pr) => `${pr.platform} ${pr.steady.lagP99.toFixed(1)} ms`).join(', '),
        `raw pg latency per transaction: ` +
          `${raws.map((r) => `c=${r.connections} p50 ${r.p50.toFixed(1)} / p99 ${r.p99.toFixed(1)} ms`).join('; ')}; ` +
          `client CPU per transaction (the bench process, pg only): ` +
          `${raws.map((r) => `c=${r.connections} ${r.cpuMsPerTx.toFixed(2)} ms`).join(', ')} — compare the API's ` +
          `CPU per request above`,
        `${seeded.next} of the ${seeded.seeded} seeded namespaces used by the request-time read's row (the ` +
          `other rows read none: ${ns.next} requests for names of their own)` +
          `${seeded.next > seeded.seeded ? EXCEEDED : ''}; ` +
          `rejected/errors: ` +
          runs
            .flatMap((pr) =>
              pr.results.map((r) => `${pr.platform} ${r.label} c=${r.connections} ${r.rejected}/${r.errors}`),
            )
            .join(', '),
        `Postgres round trips per accepted REST request (census through a counting proxy): ` +
          `${censusPerRequest.toFixed(1)} — ` +
          censusStatements.map(([sql, c]) => `${c.toFixed(1)}× ${sql.split(' ').slice(0, 4).join(' ')}`).join('; ') +
          `; the raw transaction needs 5 (BEGIN, 3 INSERTs, COMMIT), the raw statement 1.`,
      ],
      targets: [
        {
          bench: name,
          target: `the faster HTTP platform is the default (HTTP_PLATFORM=${settings.defaultPlatform})`,
          measured: ab
            ? `A/B of ${ab.pairs} alternated pairs: ` +
              settings.ingestPlatforms
                .map((p) => `${p} ${Math.round(ab.mean[p])}/s, ${ab.cpu[p].toFixed(2)} ms CPU/req`)
                .join(' vs ') +
              ` → ${ab.even ? `a tie, ${ab.faster} stays` : ab.faster} (${ab.rule}); ` +
              'best in the sweeps: ' +
              runs.map((pr) => `${pr.platform} ${Math.round(bestOf(pr.results, 'REST').acceptedPerS)}/s`).join(' vs ')
            : `only ${fastest.platform} measured`,
          met: ab ? ab.faster === settings.defaultPlatform : fastest.platform === settings.defaultPlatform,
        },
        {
          bench: name,
          target: `p99 ≤ 25 ms at ${settings.ingestRate} requests/s, steady pace (${fastest.platform})`,
          measured:
            `${fastest.steady.p99.toFixed(1)} ms (accepted ${Math.round(fastest.steady.acceptedPerS)}/s; burst ` +
            `p99 ${fastest.burst.p99.toFixed(1)} ms; the same rows through pg alone at this pace: p99 ` +
            `${rawSteady.p99.toFixed(1)} ms)`,
          met: fastest.steady.p99 <= 25 && fastest.steady.acceptedPerS >= settings.ingestRate * 0.95,
        },
        {
          bench: name,
          target: `REST ≥ 0.5× the raw insert rate (${fastest.platform})`,
          measured:
            `${ratio(bestRest.acceptedPerS, bestRaw.perS)} (REST ${Math.round(bestRest.acceptedPerS)}/s at ` +
            `c=${bestRest.connections} vs raw ${Math.round(bestRaw.perS)}/s best)`,
          met: bestRest.acceptedPerS >= 0.5 * bestRaw.perS,
        },
        {
          bench: name,
          target: `GraphQL ≥ 0.4× the raw insert rate (${fastest.platform})`,
          measured:
            `${ratio(bestGql.acceptedPerS, bestRaw.perS)} (GraphQL ${Math.round(bestGql.acceptedPerS)}/s at ` +
            `c=${bestGql.connections})`,
          met: bestGql.acceptedPerS >= 0.4 * bestRaw.perS,
        },
      ],
    };
    return section;
  } finally {
    rss.finish();
    await stack.destroy();
    await emulator.stop();
  }
}
