// 4. Progress latency: from a step event being committed (its `at`, the audit row's timestamp) to it
// arriving at a GraphQL subscriber (graphql-ws), with S concurrent subscribers (one WebSocket each)
// spread over 2 API instances (ROLE=api) and a separate worker process.

import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { BenchContext } from './lib/context.js';
import { settings } from './lib/env.js';
import { freshPrefix, pool, submitOnboardings, waitForTerminal } from './lib/onboard.js';
import { sleep } from './lib/proc.js';
import { fmt, summarize, type Section } from './lib/report.js';
import { cpuSeconds, MachineCpu, RssMonitor } from './lib/rss.js';
import { Stack, type ServiceProcess } from './lib/stack.js';

export const name = 'progress';

const SUBSCRIPTION =
  `subscription P($id: ID!, $after: Int) { onboardingProgress(requestId: $id, after: $after) { ` +
  `cursor type step at } }`;

interface Event {
  cursor: number;
  type: string;
  step: string | null;
  at: string;
}

async function subscriptionGauge(api: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  return Number(/^osm_onboarding_progress_subscriptions (\d+)/m.exec(text)?.[1] ?? 0);
}

export async function run(ctx: BenchContext): Promise<Section> {
  const emulator = await ctx.emulator();
  const R = settings.progressRequests;
  const S = settings.progressSubscribers;
  const prefix = freshPrefix('p');
  process.stdout.write(`  progress: seeding ${R} namespaces × 2 Deployments… `);
  process.stdout.write(`${(await emulator.seed(prefix, R, { deployments: 2 })).toFixed(1)} s\n`);

  const stack = await Stack.create('progress', emulator);
  const rss = new RssMonitor();
  const clients: Client[] = [];
  try {
    // One token opens every subscription: each API's per-caller bound (PROGRESS_MAX_STREAMS_PER_CALLER) must hold
    // its half of them.
    const bounds = { PROGRESS_MAX_STREAMS: Math.max(2_000, S), PROGRESS_MAX_STREAMS_PER_CALLER: Math.max(500, S) };
    const apis = [await stack.startApi('api1', bounds), await stack.startApi('api2', bounds)];
    for (const a of apis) rss.track(a.label, a.pid);
    const namespaces = Array.from({ length: R }, (_, i) => `${prefix}${i}`);
    const ids = await submitOnboardings(stack, apis, namespaces);

    // Subscriber i follows request i % R on API instance i % 2, each over its own WebSocket.
    const latencies: number[] = [];
    const byApi: number[][] = [[], []];
    const byType = new Map<string, number[]>();
    /** [the event's `at`, its latency] of every delivery: the latencies by the run's phase. */
    const timed: [number, number][] = [];
    let received = 0;
    let completed = 0;
    let errors = 0;
    let firstError = '';
    let allDone!: () => void;
    const done = new Promise<void>((r) => (allDone = r));
    process.stdout.write(`  progress: opening ${S} subscriptions over 2 API instances… `);
    const t0 = performance.now();
    await pool(
      Array.from({ length: S }, (_, i) => i),
      50,
      async (i) => {
        const api = apis[i % 2];
        const client = createClient({
          url: `${api.url.replace('http', 'ws')}/graphql`,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${stack.token}` },
          lazy: false,
          retryAttempts: 0,
        });
        clients.push(client);
        await new Promise<void>((resolve, reject) => {
          const off = client.on('connected', () => {
            off();
            resolve();
          });
          client.on('error', (e) => reject(e instanceof Error ? e : new Error(String(e))));
        });
        client.subscribe<{ onboardingProgress: Event }>(
          { query: SUBSCRIPTION, variables: { id: ids[i % R], after: 1 } }, // skip the stored request.created
          {
            next: (msg) => {
              const now = Date.now();
              const e = msg.data?.onboardingProgress;
              if (!e) {
                errors++;
                firstError ||= JSON.stringify(msg.errors ?? msg).slice(0, 200);
                return;
              }
              received++;
              const at = Date.parse(e.at);
              const ms = now - at;
              latencies.push(ms);
              timed.push([at, ms]);
              byApi[i % 2].push(ms);
              const list = byType.get(e.type) ?? [];
              list.push(ms);
              byType.set(e.type, list);
            },
            error: (err) => {
              errors++;
              firstError ||= JSON.stringify(err).slice(0, 200);
              if (++completed === S) allDone();
            },
            complete: () => {
              if (++completed === S) allDone();
            },
          },
        );
      },
    );
    // Every subscription is live once each API counts its streams (the generator registered its listener).
    const deadline = Date.now() + 60_000;
    let open = 0;
    while (Date.now() < deadline) {
      open = (await Promise.all(apis.map(subscriptionGauge))).reduce((a, b) => a + b, 0);
      if (open >= S) break;
      await sleep(100);
    }
    process.stdout.write(`${open} live in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    // What idle subscribers cost (no worker yet, so no events): API CPU and Postgres transactions per second.
    const xacts = async () =>
      Number(
        (
          await stack
            .db()
            .query<{ n: string }>(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`)
        ).rows[0].n,
      );
    await sleep(1500);
    const idleCpu0 = apis.map((a) => cpuSeconds(a.pid) ?? 0);
    const idleX0 = await xacts();
    const idleT0 = performance.now();
    await sleep(settings.progressIdleS * 1000);
    const idleS = (performance.now() - idleT0) / 1000;
    await sleep(1100); // pg_stat counters are flushed at most once a second
    const idleXacts = ((await xacts()) - idleX0 - 2) / idleS;
    const idleCpu = apis.map((a, i) => ((cpuSeconds(a.pid) ?? 0) - idleCpu0[i]) / (idleS + 1.1));

    // Where the time goes: the same events as the worker publishes them to Redis (commit → Redis → here).
    const redisLatencies: number[] = [];
    const redis = new Redis(settings.redisUrl);
    redis.on('error', () => undefined);
    await redis.subscribe(`${stack.queuePrefix}:events`);
    redis.on('message', (_channel: string, message: string) => {
      const now = Date.now();
      try {
        const e = JSON.parse(message) as Event;
        if (e.cursor > 1) redisLatencies.push(now - Date.parse(e.at));
      } catch {
        /* not an event */
      }
    });

    rss.resetCpu();
    const machine = new MachineCpu().start();
    const worker = await stack.startWorker('worker');
    rss.track('worker', worker.pid);
    const runStart = Date.now();
    await waitForTerminal(stack, R, settings.e2eTimeoutS);
    const processedS = (Date.now() - runStart) / 1000;
    await Promise.race([done, sleep(30_000)]);
    const machineBusy = machine.busyShare();
    redis.disconnect();
    const viaRedis = summarize(redisLatencies);
    const memory = rss.finish();
    const { rows } = await stack
      .db()
      .query<{ n: string }>(`SELECT count(*) AS n FROM audit_event WHERE seq > 1 AND request_id IS NOT NULL`);
    const expected = (Number(rows[0].n) * S) / R;

    const all = summarize(latencies);
    // The processes' first seconds of this work (a new worker; APIs that had delivered nothing yet) against the rest.
    const firstAt = timed.reduce((min, [at]) => Math.min(min, at), Infinity);
    const early = summarize(timed.filter(([at]) => at < firstAt + 2000).map(([, ms]) => ms));
    const later = summarize(timed.filter(([at]) => at >= firstAt + 2000).map(([, ms]) => ms));
    const a1 = summarize(byApi[0]);
    const a2 = summarize(byApi[1]);
    const cpu = (label: string) => memory.find((m) => m.label === label)?.cpuS ?? NaN;
    const section: Section = {
      name,
      title: `4. Progress latency: commit → GraphQL subscriber (${S} subscribers, 2 API instances)`,
      intro:
        `${R} requests (2 Deployments each, restart all) queued first; then ${S} graphql-ws clients (one WebSocket ` +
        `each, ${S / R} per request, ` +
        `alternating between 2 ROLE=api instances) subscribe to \`onboardingProgress(after: 1)\`; then a separate ` +
        `worker starts. Latency = ` +
        `arrival at the client − the event's \`at\` (the audit row's timestamp, taken when its one-statement write ` +
        `starts, just before it commits; same clock). ` +
        `The load generator runs in the bench process; the worker took ${processedS.toFixed(1)} s for the ${R} ` +
        `requests.`,
      tables: [
        {
          headers: [
            'subscribers',
            'events received',
            'expected',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'max ms',
            'api1 p99 ms',
            'api2 p99 ms',
            'errors',
          ],
          rows: [[S, received, Math.round(expected), all.p50, all.p95, all.p99, all.max, a1.p99, a2.p99, errors]],
        },
        {
          title: 'Where the time goes (same events, same clock)',
          headers: ['hop', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
          rows: [
            [
              'commit → Redis message (a client of the events channel in the bench process)',
              viaRedis.p50,
              viaRedis.p95,
              viaRedis.p99,
              viaRedis.max,
            ],
            ['commit → GraphQL subscriber', all.p50, all.p95, all.p99, all.max],
          ],
        },
        {
          title:
            "By the run's phase: events of its first 2 s (a new worker, APIs that had delivered nothing) and after",
          headers: ['events', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
          rows: [
            ['first 2 s', early.n, early.p50, early.p95, early.p99, early.max],
            ['after', later.n, later.p50, later.p95, later.p99, later.max],
          ],
        },
        {
          title: 'By event type',
          headers: ['event', 'count', 'p50 ms', 'p99 ms'],
          rows: [...byType.entries()]
            .sort((a, b) => b[1].length - a[1].length)
            .map(([type, l]) => {
              const s = summarize(l);
              return [type, s.n, s.p50, s.p99];
            }),
        },
      ],
      notes: [
        `idle cost of the ${S} subscriptions before any event (${settings.progressIdleS} s, no worker): API CPU ` +
          `${idleCpu.map((c, i) => `api${i + 1} ${Math.round(100 * c)}%`).join(', ')} of a core; ` +
          `Postgres ≈ ${Math.round(idleXacts)} transactions/s (each open subscription reads its events once when it ` +
          `opens; then one statement per API process every PROGRESS_POLL_MS, 10 s, checks all of them: ` +
          `src/events/stream-sweep.ts)`,
        `CPU during the run: api1 ${fmt(cpu('api1'), 1)} s, api2 ${fmt(cpu('api2'), 1)} s, worker ` +
          `${fmt(cpu('worker'), 1)} s over ${processedS.toFixed(1)} s; machine ${Math.round(100 * machineBusy)}% busy`,
        `peak RSS: ${memory.map((m) => `${m.label} ${m.hwmMb.toFixed(0)} MB`).join(', ')}`,
        ...(firstError ? [`first error: ${firstError}`] : []),
      ],
      targets: [
        {
          bench: name,
          target: 'p99 ≤ 50 ms',
          measured: `${all.p99} ms (p50 ${all.p50} ms, ${all.n} events)`,
          met: all.p99 <= 50 && errors === 0 && all.n > 0,
        },
      ],
    };
    return section;
  } finally {
    rss.finish();
    await Promise.allSettled(clients.map((c) => Promise.resolve(c.dispose())));
    await stack.destroy();
  }
}
