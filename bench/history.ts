// 7. Flat as history grows: the same operations on a database holding a small history (the baseline,
// BENCH_HISTORY_BASELINE_REQUESTS) and one holding a year of it (BENCH_HISTORY_REQUESTS requests ×
// BENCH_HISTORY_EVENTS_PER_REQUEST audit events, seeded with SQL by lib/history-seed.ts), each timed the same
// way and compared as a ratio; every statement the service ran is EXPLAINed (plans written next to the results
// file) and checked for sequential scans of the big tables and for OFFSET. Then a retention pass on each.
//
// The service runs IN the bench process (the built dist/: API app on a local port, a worker context for the
// sweeper, the retention service), so that a hook on `pg` sees each statement with its parameters.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { BenchContext } from './lib/context.js';
import { ROOT } from './lib/emulator.js';
import { settings } from './lib/env.js';
import { seedHistory } from './lib/history-seed.js';
import { QUICK } from './lib/quick.js';
import { getLogDir, sleep } from './lib/proc.js';
import { fmt, summarize, type Section, type Target } from './lib/report.js';
import { deleteRedisKeys, Stack } from './lib/stack.js';

export const name = 'history';

type AppModule = typeof import('../src/app.js');
type ConfigModule = typeof import('../src/config/config.js');
type WorkerModule = typeof import('../src/onboarding/onboarding.worker.js');
type RetentionModule = typeof import('../src/retention/retention.service.js');

const dist = async <T>(path: string): Promise<T> => (await import(join(ROOT, 'dist/src', path))) as T;

const LIMIT = 1.5;
/** Tables whose size grows with history: a sequential scan of one of them is a finding. */
const BIG = /Seq Scan on (onboarding_request|audit_event\w*|step_run)\b/;

interface Captured {
  op: string;
  text: string;
  values: unknown[];
}

/** Records the statements `pg` sends while `current` is set (the service's Prisma adapter uses pg.Client). */
class StatementHook {
  current?: string;
  readonly seen: Captured[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was, never called unbound
  private readonly original = pg.Client.prototype.query;

  install(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const hook = this;
    const original = this.original;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string; values?: unknown[] };
      if (hook.current) {
        const text = typeof q === 'string' ? q : q?.text;
        const values = (typeof q === 'string' ? args[1] : q?.values) as unknown[] | undefined;
        if (text && !hook.seen.some((s) => s.op === hook.current && s.text === text))
          hook.seen.push({ op: hook.current, text, values: values ?? [] });
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof pg.Client.prototype.query;
  }

  uninstall(): void {
    pg.Client.prototype.query = this.original;
  }
}

interface OpResult {
  p50: number;
  p95: number;
  n: number;
  /** Rows per second, for throughput operations. */
  rate?: number;
}

type Plan = { op: string; text: string; plan: string; finding?: string };
type Retention = Awaited<ReturnType<typeof measureRetention>>;

const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

const encodeCursor = (createdAt: Date, id: string) =>
  Buffer.from(JSON.stringify({ createdAt: createdAt.toISOString(), id })).toString('base64url');

/** One database, seeded, with the service running on it; the operations to time, by name. */
interface Prepared {
  label: string;
  requests: number;
  seedS: number;
  dbSize: string;
  load: string;
  stack: Stack;
  env: Record<string, string>;
  ops: { op: string; fn: () => Promise<unknown> }[];
  /** Rows exported by the last audit export call. */
  exported: () => number;
  /** One second of the accept loop; returns the requests accepted. */
  acceptSlice: (ms: number) => Promise<number>;
  close: () => Promise<void>;
}

const LIST = `query($filter: OnboardingRequestFilter, $after: String) {
  onboardingRequests(first: 20, filter: $filter, after: $after) {
    edges { cursor node { id status namespace steps { name status } } } pageInfo { hasNextPage endCursor } } }`;
const EXPORT_OP = 'audit export (since = the newest BENCH_HISTORY_EXPORT_REQUESTS requests)';
const ACCEPT_OP = 'accept rate (POST /v1/onboardings, 10 callers)';

async function prepare(label: string, requests: number, ctx: BenchContext): Promise<Prepared> {
  const emulator = await ctx.emulator();
  await emulator.setLatency(0);
  const stack = await Stack.create(`history_${label}`, emulator, {
    SWEEP_INTERVAL_MS: '0',
    RETENTION_INTERVAL_MS: '0',
    WORKER_CONCURRENCY: '1',
  });
  const perRequest = settings.historyEventsPerRequest;
  process.stdout.write(`  ${label}: seeding ${fmt(requests)} requests, ${fmt(requests * perRequest)} events… `);
  const t0 = performance.now();
  const seeder = await stack.db().connect();
  try {
    await seedHistory(seeder, { requests, eventsPerRequest: perRequest, namespaces: Math.max(10, requests / 20) });
  } finally {
    seeder.release();
  }
  const seedS = (performance.now() - t0) / 1000;
  const db = stack.db();
  const { rows: sizeRows } = await db.query<{ size: string }>(
    'SELECT pg_size_pretty(pg_database_size(current_database())) AS size',
  );
  process.stdout.write(`${seedS.toFixed(0)} s (${sizeRows[0].size}), load ${load()}\n`);

  const { createApiApp, createWorkerContext } = await dist<AppModule>('app.js');
  const { loadConfig } = await dist<ConfigModule>('config/config.js');
  const { OnboardingWorker } = await dist<WorkerModule>('onboarding/onboarding.worker.js');
  const env = stack.env({ PORT: 0 }) as Record<string, string>;
  // The sweeper runs in a worker context that consumes nothing: its queue prefix is its own.
  const worker = await createWorkerContext(
    loadConfig({ ...env, ROLE: 'worker', QUEUE_PREFIX: `${env.QUEUE_PREFIX}-sweep` }),
  );
  const sweeper = worker.get(OnboardingWorker);
  const api = await createApiApp(loadConfig({ ...env, ROLE: 'api' }));
  await api.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(api.getHttpServer().address() as { port: number }).port}`;
  const headers = stack.headers();
  const get = async (path: string) => {
    const res = await fetch(url + path, { headers });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
    return text;
  };
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { errors?: unknown[]; data?: unknown };
    if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors).slice(0, 300)}`);
    return body.data;
  };
  // Picked by the bench (OFFSET here is the bench's own, once): the row 90% down the list, a request a third in.
  const deep = (
    await db.query<{ created_at: Date; id: string }>(
      `SELECT created_at, id FROM onboarding_request ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
      [Math.floor(requests * 0.9)],
    )
  ).rows[0];
  const sample = (
    await db.query<{ id: string; namespace: string }>(
      `SELECT id, namespace FROM onboarding_request WHERE id = md5('r' || $1)::uuid`,
      [Math.max(1, Math.floor(requests / 3))],
    )
  ).rows[0];
  const exportFrom = (
    await db.query<{ t: Date }>(
      `SELECT created_at AS t FROM onboarding_request ORDER BY created_at DESC OFFSET $1 LIMIT 1`,
      [Math.min(requests - 1, settings.historyExportRequests)],
    )
  ).rows[0].t;
  let exported = 0;
  const prefix = `hist-${label}-`;
  await emulator.seed(prefix, settings.historyAcceptSeconds * 500);
  let next = 0;
  return {
    label,
    requests,
    seedS,
    dbSize: sizeRows[0].size,
    load: load(),
    stack,
    env,
    ops: [
      { op: 'sweeper pass', fn: () => sweeper.sweep() },
      { op: 'onboardingRequests, first page (20)', fn: () => gql(LIST, {}) },
      {
        op: 'onboardingRequests, deep cursor page (90% down)',
        fn: () => gql(LIST, { after: encodeCursor(deep.created_at, deep.id) }),
      },
      {
        op: 'onboardingRequests filtered by namespace',
        fn: () => gql(LIST, { filter: { namespace: sample.namespace } }),
      },
      { op: 'onboardingRequests filtered by status (FAILED)', fn: () => gql(LIST, { filter: { status: 'FAILED' } }) },
      { op: "one request's audit trail (GET …/audit)", fn: () => get(`/v1/onboardings/${sample.id}/audit`) },
      {
        op: 'subscription replay of a finished request (SSE; ProgressService.open, as the GraphQL subscription)',
        fn: () => get(`/v1/onboardings/${sample.id}/events`),
      },
      {
        op: EXPORT_OP,
        fn: async () => {
          const text = await get(`/v1/audit?since=${encodeURIComponent(exportFrom.toISOString())}`);
          exported = text.split('\n').length - 1;
        },
      },
    ],
    exported: () => exported,
    acceptSlice: async (ms) => {
      let accepted = 0;
      const until = performance.now() + ms;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (performance.now() < until) {
            const res = await fetch(`${url}/v1/onboardings`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ namespace: `${prefix}${next++}`, prerequisites: { enabled: false } }),
            });
            await res.arrayBuffer();
            if (res.status === 202) accepted += 1;
          }
        }),
      );
      return accepted;
    },
    close: async () => {
      await api.close().catch(() => undefined);
      await worker.close().catch(() => undefined);
    },
  };
}

/**
 * Times every operation on both databases, alternating between them call by call (this machine's load
 * changes by the minute; alternation gives both the same share of it). The statements of the first
 * (warm-up) calls are captured for the plans.
 */
async function measureBoth(a: Prepared, b: Prepared, hook: StatementHook) {
  const results = new Map<string, { a: OpResult; b: OpResult }>();
  for (let i = 0; i < a.ops.length; i++) {
    const op = a.ops[i].op;
    for (const side of [a, b]) {
      hook.current = `${side.label}|${op}`;
      await side.ops[i].fn();
      hook.current = undefined;
    }
    const times: [number[], number[]] = [[], []];
    for (let r = 0; r < settings.historyReps; r++) {
      for (const [k, side] of [a, b].entries()) {
        const t0 = performance.now();
        await side.ops[i].fn();
        times[k].push(performance.now() - t0);
      }
    }
    const [sa, sb] = times.map(summarize);
    results.set(op, {
      a: { p50: sa.p50, p95: sa.p95, n: sa.n },
      b: { p50: sb.p50, p95: sb.p95, n: sb.n },
    });
    if (op === EXPORT_OP) {
      results.get(op)!.a.rate = a.exported() / (sa.p50 / 1000);
      results.get(op)!.b.rate = b.exported() / (sb.p50 / 1000);
    }
  }
  // Accept rate: half-second slices, alternating, BENCH_HISTORY_ACCEPT_SECONDS on each side.
  const accepted = [0, 0];
  const slices = Math.max(1, settings.historyAcceptSeconds * 2);
  for (let s = 0; s < slices; s++) {
    for (const [k, side] of [a, b].entries()) {
      const label = hook.current;
      hook.current = `${side.label}|${ACCEPT_OP}`;
      accepted[k] += await side.acceptSlice(500);
      hook.current = label;
    }
  }
  const seconds = slices * 0.5;
  results.set(ACCEPT_OP, {
    a: { p50: NaN, p95: NaN, n: accepted[0], rate: accepted[0] / seconds },
    b: { p50: NaN, p95: NaN, n: accepted[1], rate: accepted[1] / seconds },
  });
  return results;
}

/**
 * EXPLAIN of every statement captured on one database (ANALYZE for reads), with a finding when it scans a table
 * of more than 10 pages that grows with history (an empty partition ahead is not one) or pages with OFFSET.
 */
async function explainAll(side: Prepared, seen: Captured[]): Promise<Plan[]> {
  const db = side.stack.db();
  const { rows: sizes } = await db.query<{ relname: string; relpages: number }>(
    `SELECT relname, relpages FROM pg_class WHERE relkind = 'r'`,
  );
  const pages = new Map(sizes.map((r) => [r.relname, r.relpages]));
  const out: Plan[] = [];
  for (const s of seen.filter((x) => x.op.startsWith(`${side.label}|`))) {
    if (/^\s*(BEGIN|COMMIT|ROLLBACK|SET|SHOW|RESET)\b/i.test(s.text)) continue;
    const read = /^\s*(\/\*[^*]*\*\/\s*)?SELECT\b/i.test(s.text);
    let plan: string;
    try {
      const { rows } = await db.query<{ 'QUERY PLAN': string }>({
        text: `EXPLAIN ${read ? '(ANALYZE, TIMING OFF, SUMMARY OFF) ' : ''}${s.text}`,
        values: s.values,
      });
      plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    } catch (err) {
      plan = `(EXPLAIN failed: ${(err as Error).message})`;
    }
    const scans = [...plan.matchAll(new RegExp(BIG.source, 'g'))]
      .map((m) => m[1])
      .filter((t) => (pages.get(t) ?? 0) > 10);
    // Prisma writes LIMIT $n OFFSET $m with m = 0: only a non-zero offset pages by OFFSET.
    const offsets = [...s.text.matchAll(/\bOFFSET \$(\d+)/gi)].filter((m) => Number(s.values[Number(m[1]) - 1]) !== 0);
    const findings = [
      ...scans.map((t) => `Seq Scan on ${t}`),
      ...(offsets.length || /\bOFFSET [1-9]/i.test(s.text) ? ['OFFSET'] : []),
    ];
    out.push({
      op: s.op.slice(side.label.length + 1),
      text: s.text,
      plan,
      finding: findings.length ? findings.join('; ') : undefined,
    });
  }
  return out;
}

/**
 * A retention pass (AUDIT_RETENTION_DAYS = REQUEST_RETENTION_DAYS = BENCH_HISTORY_RETENTION_DAYS) while a
 * writer inserts audit events one at a time: its latency before and during the pass shows whether it waited.
 */
async function measureRetention({ stack, env }: Prepared) {
  const { RetentionService } = await dist<RetentionModule>('retention/retention.service.js');
  const { loadConfig } = await dist<ConfigModule>('config/config.js');
  const dir = mkdtempSync(join(getLogDir(), 'retention-'));
  const days = String(settings.historyRetentionDays);
  const service = new RetentionService(
    loadConfig({ ...env, AUDIT_RETENTION_DAYS: days, REQUEST_RETENTION_DAYS: days, RETENTION_EXPORT_DIR: dir }),
  );
  const writer = new pg.Client({ connectionString: stack.databaseUrl });
  writer.on('error', () => undefined); // the database is dropped at the end (and this machine's suites kill backends)
  await writer.connect();
  const write = async (until: () => boolean) => {
    const times: number[] = [];
    while (!until()) {
      const t0 = performance.now();
      await writer.query(`INSERT INTO audit_event (actor, action) VALUES ('bench', 'bench.write')`);
      times.push(performance.now() - t0);
      await sleep(5);
    }
    return summarize(times);
  };
  try {
    const tEnd = performance.now() + 3000;
    const writerBefore = await write(() => performance.now() > tEnd);
    let done = false;
    const t0 = performance.now();
    const [outcome, writerDuring] = await Promise.all([service.pass().finally(() => (done = true)), write(() => done)]);
    return {
      seconds: (performance.now() - t0) / 1000,
      partitions: outcome.partitionsDropped.length,
      exported: outcome.auditEventsExported,
      requestsRemoved: outcome.requestsRemoved,
      writerBefore,
      writerDuring,
    };
  } finally {
    await writer.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(ctx: BenchContext): Promise<Section> {
  const hook = new StatementHook();
  const sides: Prepared[] = [];
  try {
    sides.push(await prepare('baseline', settings.historyBaselineRequests, ctx));
    sides.push(await prepare('large', settings.historyRequests, ctx));
    const [small, large] = sides;
    hook.install();
    const loadDuring = load();
    const results = await measureBoth(small, large, hook);
    hook.uninstall();
    const plans = await Promise.all(sides.map((side) => explainAll(side, hook.seen)));
    const retention: Retention[] = [];
    for (const side of sides) retention.push(await measureRetention(side));
    return report(sides, { results, plans, retention, loadDuring });
  } finally {
    hook.uninstall();
    for (const side of sides) {
      await side.close();
      await side.stack.destroy();
      // The sweeper's worker context used a queue prefix of its own (`<prefix>-sweep`).
      await deleteRedisKeys(`${side.stack.queuePrefix}-sweep`);
    }
  }
}

interface Measured {
  results: Map<string, { a: OpResult; b: OpResult }>;
  plans: Plan[][];
  retention: Retention[];
  loadDuring: string;
}

function report(sides: Prepared[], { results, plans, retention, loadDuring }: Measured): Section {
  const [small, large] = sides;
  const targets: Target[] = [];
  const rows = [...results].map(([op, { a, b }]) => {
    const throughput = Number.isNaN(b.p50);
    const aRate = a.rate ?? NaN;
    const bRate = b.rate ?? NaN;
    const r = throughput ? aRate / bRate : b.p50 / a.p50;
    const met = r <= LIMIT;
    const measured = throughput
      ? `${fmt(bRate, 0)}/s vs ${fmt(aRate, 0)}/s`
      : `${fmt(b.p50, 1)} ms vs ${fmt(a.p50, 1)} ms`;
    targets.push({
      bench: name,
      target: `${op}: within ${LIMIT}× of the baseline`,
      measured: `${r.toFixed(2)}× (${measured})`,
      met,
    });
    return [
      op,
      throughput ? `${fmt(aRate, 0)}/s` : fmt(a.p50, 1),
      throughput ? `${fmt(bRate, 0)}/s` : fmt(b.p50, 1),
      throughput ? '—' : fmt(b.p95, 1),
      b.rate !== undefined && !throughput ? `${fmt(bRate, 0)} rows/s (baseline ${fmt(aRate, 0)})` : '',
      `${r.toFixed(2)}×`,
      met ? 'yes' : 'NO',
    ];
  });
  const findings = plans[1].filter((p) => p.finding);
  targets.push({
    bench: name,
    target: 'no sequential scan of a big table, no OFFSET (plans of every statement, large database)',
    measured: findings.length
      ? `${findings.length} finding(s): ${findings.map((f) => `${f.op}: ${f.finding}`).join('; ')}`
      : `none in ${plans[1].length} statements`,
    met: findings.length === 0,
  });
  const plansFile = writePlans(sides, plans);
  const ret = (s: Prepared, r: Retention) => [
    s.label,
    fmt(r.partitions),
    fmt(r.exported),
    fmt(r.requestsRemoved),
    fmt(r.seconds, 1),
    r.seconds > 0 ? fmt(r.exported / r.seconds, 0) : '—',
    `${fmt(r.writerBefore.p50, 1)} / ${fmt(r.writerBefore.p99, 1)} / ${fmt(r.writerBefore.max, 1)}`,
    `${fmt(r.writerDuring.p50, 1)} / ${fmt(r.writerDuring.p99, 1)} / ${fmt(r.writerDuring.max, 1)}`,
    fmt(r.writerDuring.n),
  ];
  const perRequest = settings.historyEventsPerRequest;
  return {
    name,
    title:
      `7. Flat as history grows: ${fmt(large.requests)} requests and ` +
      `${fmt(large.requests * perRequest)} audit events vs ${fmt(small.requests)}`,
    intro:
      `Two databases, each seeded with SQL (lib/history-seed.ts): a year of finished requests (2 step runs and ` +
      `${perRequest} audit events each; namespaces = requests ÷ 20, in 10 clusters). The service (built dist/) runs ` +
      `in the bench process: an API app per database on a local port (ROLE=api), a worker context for the sweeper, ` +
      `the retention service. Each operation: one warm-up call per database (its statements are EXPLAINed), then ` +
      `${settings.historyReps} timed calls over HTTP, alternating between the databases call by call so both see the ` +
      `same machine load; p50s compared. The baseline stands in for the empty database (an empty one has no deep ` +
      `page). Load average during the timed calls: ${loadDuring}.`,
    tables: [
      {
        headers: ['', 'requests', 'audit events', 'seed s', 'database size', 'load average after seeding'],
        rows: sides.map((s) => [s.label, s.requests, s.requests * perRequest, fmt(s.seedS, 0), s.dbSize, s.load]),
      },
      {
        headers: [
          'operation',
          'baseline p50 ms',
          'large p50 ms',
          'large p95 ms',
          'throughput',
          'large ÷ baseline',
          `≤ ${LIMIT}×`,
        ],
        rows,
      },
      {
        title:
          `Retention pass (AUDIT_RETENTION_DAYS = REQUEST_RETENTION_DAYS = ${settings.historyRetentionDays}) ` +
          'while a writer inserts audit events one at a time',
        headers: [
          'database',
          'partitions dropped',
          'events exported',
          'requests removed',
          'pass s',
          'events exported/s',
          'writer before p50 / p99 / max ms',
          'writer during p50 / p99 / max ms',
          'writes during',
        ],
        rows: sides.map((s, i) => ret(s, retention[i])),
      },
    ],
    notes: [
      `plans (EXPLAIN; ANALYZE for reads) of the statements the service ran, both databases: ${plansFile}`,
      ...findings.map((f) => `finding: ${f.op}: ${f.finding} — \`${f.text.slice(0, 100).replace(/\s+/g, ' ')}…\``),
    ],
    targets,
  };
}

function writePlans(sides: Prepared[], plans: Plan[][]): string {
  const day = new Date().toISOString().slice(0, 10);
  const dir = QUICK ? getLogDir() : join(ROOT, 'bench/results');
  // As the results file: a later run of the day gets its own (<day>-2-history-plans.md, …), never overwriting one.
  let name = `${day}-history-plans.md`;
  for (let n = 2; existsSync(join(dir, name)); n++) name = `${day}-${n}-history-plans.md`;
  const file = join(dir, name);
  const parts = [`# Plans of the history bench — ${day}`, ''];
  for (const [i, s] of sides.entries()) {
    parts.push(`## ${s.label}: ${fmt(s.requests)} requests`, '');
    for (const p of plans[i]) {
      parts.push(`### ${p.op}${p.finding ? ` — FINDING: ${p.finding}` : ''}`, '', '```sql', p.text.trim(), '```', '');
      parts.push('```', p.plan, '```', '');
    }
  }
  writeFileSync(file, parts.join('\n'));
  return QUICK ? file : `bench/results/${name}`;
}
