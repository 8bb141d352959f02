// One benchmark's service stack: a fresh Postgres database (CREATE DATABASE bench_<ts>_<name>,
// migrated with the built migrate.js), a unique BullMQ QUEUE_PREFIX, and the API / worker processes
// of the BUILT service (dist/), pointed at the emulator's kubeconfig.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { EmulatorProcess } from './emulator.js';
import { ROOT } from './emulator.js';
import { settings } from './env.js';
import { startChild, waitForHttp, type Child } from './proc.js';

export interface ServiceProcess {
  label: string;
  child: Child;
  pid: number;
  /** http://127.0.0.1:<port> for an API, the metrics endpoint for a worker. */
  url: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let runStamp = '';
/** One timestamp per bench run, shared by every stack of the run (bench_<stamp>_<name>). */
export function runId(): string {
  if (!runStamp) {
    const d = new Date();
    const p = (n: number) => String(n).padStart(2, '0');
    runStamp =
      `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_` +
      `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  }
  return runStamp;
}

function urlForDatabase(name: string): string {
  const u = new URL(settings.databaseAdminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

const live = new Set<Stack>();

async function withAdmin<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: settings.databaseAdminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/**
 * Postgres's checkpoints so far (started by time or requested, its own statistics view; pg_stat_checkpointer from
 * Postgres 17, pg_stat_bgwriter before).
 */
export async function checkpointCount(): Promise<number> {
  return withAdmin(async (admin) => {
    const { rows } = await admin
      .query<{ n: string }>('SELECT num_timed + num_requested AS n FROM pg_stat_checkpointer')
      .catch(() => admin.query<{ n: string }>('SELECT checkpoints_timed + checkpoints_req AS n FROM pg_stat_bgwriter'));
    return Number(rows[0].n);
  });
}

/**
 * Finishes a checkpoint now (CHECKPOINT, as the admin user), so that the next measured window does not share the
 * machine with one that the previous steps' writes started; answers the checkpoint count after it.
 */
export async function checkpointNow(): Promise<number> {
  // CHECKPOINT needs a superuser or the pg_checkpoint role: without it the run goes on, and says so.
  await withAdmin((admin) => admin.query('CHECKPOINT')).catch((err: Error) =>
    console.error(`  (no CHECKPOINT before the measured run: ${err.message})`),
  );
  return checkpointCount();
}

let template: Promise<string> | undefined;
/** The run's migrated template database (`bench_<run>_template`), created and migrated on first use. */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = `bench_${runId()}_template`;
    await withAdmin(async (admin) => {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${name}"`);
    });
    const migrate = startChild('template-migrate', process.execPath, [join(ROOT, 'dist/src/migrate.js')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: urlForDatabase(name) },
    });
    const code = await migrate.exited;
    if (code !== 0) throw new Error(`migration of ${name} failed; see ${migrate.logFile}`);
    return name;
  })();
  template.catch(() => (template = undefined));
  return template;
}

async function dropTemplate(): Promise<void> {
  if (!template) return;
  const name = await template.catch(() => undefined);
  template = undefined;
  if (name && !settings.keepDb)
    await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch((err: Error) =>
      console.error(`  (could not drop ${name}: ${err.message})`),
    );
}

/** Drops the databases and queue keys of stacks still alive (Ctrl-C path). */
export async function destroyAllStacks(): Promise<void> {
  await Promise.allSettled([...live].map((s) => s.destroy()));
  await dropTemplate();
}

/**
 * What a service process runs: the bundle the image runs (dist/bundle/*.mjs, the default), or tsc's files
 * (dist/src/*.js) with BENCH_ENTRY=src, whose file names let a CPU profile tell our code from each package's
 * (bench/profile.ts uses them) and which compare with the bundle on the same build.
 */
export function entryPoint(role: 'api' | 'worker'): string {
  const src = process.env.BENCH_ENTRY === 'src';
  if (src) return join(ROOT, role === 'api' ? 'dist/src/main.js' : 'dist/src/worker.js');
  return join(ROOT, role === 'api' ? 'dist/bundle/main.mjs' : 'dist/bundle/worker.mjs');
}

export class Stack {
  readonly token = `bench-${randomBytes(16).toString('hex')}`;
  readonly processes: ServiceProcess[] = [];
  private pool?: pg.Pool;

  private constructor(
    readonly name: string,
    readonly dbName: string,
    readonly databaseUrl: string,
    readonly queuePrefix: string,
    readonly emulator: EmulatorProcess,
    readonly baseEnv: Record<string, string>,
  ) {}

  /** Creates and migrates a fresh database; nothing runs yet. */
  static async create(name: string, emulator: EmulatorProcess, env: Record<string, string> = {}): Promise<Stack> {
    const dbName = `bench_${runId()}_${name.replace(/[^a-z0-9_]/g, '_')}`;
    const databaseUrl = urlForDatabase(dbName);
    // Every stack starts from a copy of one migrated database (CREATE DATABASE … TEMPLATE): one migration per
    // bench run instead of one per stack.
    const template = await migratedTemplate();
    await withAdmin(async (admin) => {
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${dbName}" TEMPLATE "${template}"`);
    });
    const queuePrefix = `bench-${runId()}-${name}-${randomBytes(3).toString('hex')}`;
    const stack = new Stack(name, dbName, databaseUrl, queuePrefix, emulator, env);
    live.add(stack);
    return stack;
  }

  env(extra: Record<string, string | number> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      // The heap settings the image runs with (Dockerfile); BENCH_NODE_OPTIONS='' for Node's defaults.
      NODE_OPTIONS: settings.nodeOptions,
      MALLOC_ARENA_MAX: settings.mallocArenaMax,
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: settings.redisUrl,
      KUBECONFIG: this.emulator.kubeconfig,
      QUEUE_PREFIX: this.queuePrefix,
      LOG_LEVEL: settings.logLevel,
      OSM_ONBOARDING_ADMIN_TOKEN: this.token,
      WORKER_CONCURRENCY: String(settings.workerConcurrency),
      K8S_QPS: String(settings.k8sQps),
      K8S_BURST: String(settings.k8sBurst),
      RESTART_SETTLE_MS: String(settings.restartSettleMs),
      POLL_MS: String(settings.pollMs),
      HOST: '127.0.0.1',
      // The per-caller API rate limit (default 600/min) would cap one bench token at 10 requests/s.
      RATE_LIMIT_PER_MINUTE: '0',
      // The drift scan's reads would share the per-cluster budget the benchmarks measure.
      DRIFT_SCAN_INTERVAL_MS: '0',
      // Teardown: the API's readiness delay on SIGTERM is a fifth of the grace (5 s at the default); nothing is
      // in flight when a bench stops its stack, so 2 s (0.4 s delay) keeps teardown short.
      SHUTDOWN_GRACE_MS: '2000',
      ...this.baseEnv,
    };
    for (const [k, v] of Object.entries(extra)) e[k] = String(v);
    return e;
  }

  /** Starts the API entry point (ROLE=api unless overridden; see entryPoint) and waits for /healthz. */
  async startApi(
    label: string,
    extra: Record<string, string | number> = {},
    nodeArgs: string[] = [],
  ): Promise<ServiceProcess> {
    const port = await freePort();
    const child = startChild(`${this.name}-${label}`, process.execPath, [...nodeArgs, entryPoint('api')], {
      cwd: ROOT,
      env: this.env({ ROLE: 'api', PORT: port, ...extra }),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, { child, timeoutMs: 60_000 });
    const p: ServiceProcess = { label, child, pid: child.pid, url, stop: () => child.stop() };
    this.processes.push(p);
    return p;
  }

  /** Starts the worker entry point (see entryPoint) and waits for its /healthz (WORKER_METRICS_PORT). */
  async startWorker(label: string, extra: Record<string, string | number> = {}): Promise<ServiceProcess> {
    const port = await freePort();
    const child = startChild(`${this.name}-${label}`, process.execPath, [entryPoint('worker')], {
      cwd: ROOT,
      env: this.env({ WORKER_METRICS_PORT: port, ...extra }),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, { child, timeoutMs: 60_000 });
    const p: ServiceProcess = { label, child, pid: child.pid, url, stop: () => child.stop() };
    this.processes.push(p);
    return p;
  }

  db(): pg.Pool {
    if (!this.pool) {
      this.pool = new pg.Pool({ connectionString: this.databaseUrl, max: 4 });
      // An idle connection can be killed under us (other suites on this machine terminate backends);
      // the pool replaces it, the bench must not crash.
      this.pool.on('error', (err) => console.error(`  (bench db pool: ${err.message})`));
    }
    return this.pool;
  }

  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
  }

  /** Stops the processes, drops the database and deletes the queue's Redis keys. */
  async destroy(): Promise<void> {
    if (!live.delete(this)) return;
    await Promise.allSettled(this.processes.map((p) => p.stop()));
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
    if (!settings.keepDb) {
      const admin = new pg.Client({ connectionString: settings.databaseAdminUrl });
      admin.on('error', () => undefined);
      try {
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`);
      } catch (err) {
        console.error(`  (could not drop ${this.dbName}: ${(err as Error).message})`);
      } finally {
        await admin.end().catch(() => undefined);
      }
    }
    await deleteRedisKeys(this.queuePrefix);
  }
}

export async function deleteRedisKeys(prefix: string): Promise<number> {
  const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
