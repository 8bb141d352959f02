import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { INestApplication } from '@nestjs/common';
import { startEmulator, type Emulator, type EmulatorOptions } from '../support/emulator/index.js';
import { ADMIN_TOKEN, stackEnv, startApi } from '../support/harness.js';
import { TcpProxy } from './tcp-proxy.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const LOG_DIR = process.env.FAULT_LOG_DIR ?? join(tmpdir(), 'osm-onboarding-fault-logs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Scale = 'small' | 'full';
export const SCALE: Scale = process.env.FAULT_SCALE === 'full' ? 'full' : 'small';
/** Real outages (pg_ctlcluster stop/start of the shared Postgres) only where nothing else runs: `npm run ` +
  `test:faults`. */
export const REAL_OUTAGES = process.env.FAULT_REAL_OUTAGES === '1';

export interface WorkerProc {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RigOptions {
  name: string;
  workers?: number;
  /** A Redis DB index of its own (the FLUSHDB scenario); default: the shared DB 0 with a unique prefix. */
  ownRedisDb?: boolean;
  /** Route the stack's Postgres and Redis connections through TCP proxies the test can cut. */
  proxies?: boolean;
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  emulator?: EmulatorOptions;
  /** Start the in-process API (ROLE=api). Default true. */
  api?: boolean;
}

export interface Submitted {
  namespace: string;
  id?: string;
  status: number;
  code?: string;
  /** How many attempts the submission took (503s while a dependency was away are retried). */
  attempts: number;
}

/**
 * One isolated stack for a fault scenario: its own emulator, queue prefix (and optionally its own
 * Redis DB), the run's Postgres database, an in-process API and N workers as real OS processes
 * started from the build (`node dist/bundle/worker.mjs`, or FAULT_WORKER_ENTRY), which a scenario may kill -9.
 */
export class Rig {
  emulator!: Emulator;
  env!: Record<string, string>;
  api?: { app: INestApplication; url: string };
  workers: WorkerProc[] = [];
  pgProxy?: TcpProxy;
  redisProxy?: TcpProxy;
  /** Direct connection (never through the proxy) for checks. */
  db!: pg.Pool;
  redisDb = 0;
  directRedisUrl!: string;
  directDatabaseUrl!: string;
  private redisLock?: Redis;
  private workerSeq = 0;

  constructor(readonly opts: RigOptions) {}

  static async start(opts: RigOptions): Promise<Rig> {
    const rig = new Rig(opts);
    await rig.init();
    return rig;
  }

  private async init(): Promise<void> {
    mkdirSync(LOG_DIR, { recursive: true });
    this.emulator = await startEmulator(this.opts.emulator ?? {});
    const base = await stackEnv(this.emulator, {
      QUEUE_PREFIX: `fault-${this.opts.name}-${randomBytes(3).toString('hex')}`,
      WORKER_CONCURRENCY: '8',
      HEARTBEAT_MS: '500',
      SWEEP_INTERVAL_MS: '1000',
      STEP_BACKOFF_MS: '20',
      SHUTDOWN_GRACE_MS: '10000',
      K8S_REQUEST_TIMEOUT_MS: '5000',
      K8S_QPS: '500',
      K8S_BURST: '1000',
      RATE_LIMIT_PER_MINUTE: '0',
      ...this.opts.env,
    });
    this.directDatabaseUrl = base.DATABASE_URL;
    const redis = new URL(base.REDIS_URL);
    if (this.opts.ownRedisDb) {
      this.redisDb = await this.claimRedisDb(base.REDIS_URL);
      redis.pathname = `/${this.redisDb}`;
    }
    this.directRedisUrl = redis.toString();
    this.env = { ...base, REDIS_URL: this.directRedisUrl };
    if (this.opts.proxies) {
      this.pgProxy = await TcpProxy.start(this.directDatabaseUrl);
      this.redisProxy = await TcpProxy.start(this.directRedisUrl);
      this.env.DATABASE_URL = this.pgProxy.url(this.directDatabaseUrl);
      this.env.REDIS_URL = this.redisProxy.url(this.directRedisUrl);
    }
    this.db = new pg.Pool({ connectionString: this.directDatabaseUrl, max: 4 });
    this.db.on('error', () => undefined);
    if (this.opts.api !== false) this.api = await startApi({ ...this.env, ROLE: 'api' });
    await Promise.all(Array.from({ length: this.opts.workers ?? 1 }, () => this.spawnWorker()));
  }

  /** A free Redis DB index (5..15), held with a marker key so parallel runs do not share it. */
  private async claimRedisDb(url: string): Promise<number> {
    for (let db = 5; db <= 15; db++) {
      const u = new URL(url);
      u.pathname = `/${db}`;
      const r = new Redis(u.toString(), { lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect();
      const ok = await r.set('osm-onboarding:fault-suite:lock', String(process.pid), 'EX', 900, 'NX');
      if (ok === 'OK' && (await r.dbsize()) === 1) {
        this.redisLock = r;
        return db;
      }
      if (ok === 'OK') await r.del('osm-onboarding:fault-suite:lock');
      r.disconnect();
    }
    throw new Error('no free Redis DB index in 5..15 (DBSIZE 0) for the FLUSHDB scenario');
  }

  /** FLUSHDB of the rig's own Redis DB (everything BullMQ holds for this stack is gone). */
  async flushRedis(): Promise<void> {
    if (!this.redisLock) throw new Error('flushRedis needs ownRedisDb');
    await this.redisLock.flushdb();
    await this.redisLock.set('osm-onboarding:fault-suite:lock', String(process.pid), 'EX', 900);
  }

  get url(): string {
    return this.api!.url;
  }

  async spawnWorker(extra: Record<string, string> = {}): Promise<WorkerProc> {
    const n = ++this.workerSeq;
    const log = createWriteStream(join(LOG_DIR, `${this.opts.name}-worker-${n}.log`));
    const child = spawn(process.execPath, [process.env.FAULT_WORKER_ENTRY ?? 'dist/bundle/worker.mjs'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...this.env,
        LOG_LEVEL: process.env.FAULT_WORKER_LOG_LEVEL ?? 'warn',
        ...this.opts.workerEnv,
        ...extra,
        ROLE: 'worker',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    await new Promise<void>((resolveStarted, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        log.write(d);
        if (out.length < 20_000) out += d.toString();
        if (out.includes('worker started')) resolveStarted();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(({ code }) =>
        reject(new Error(`worker exited with ${code} before it started: ${out.slice(-2000)}`)),
      );
    });
    const w = { child, pid: child.pid!, exited };
    this.workers.push(w);
    void exited.then(() => (this.workers = this.workers.filter((x) => x !== w)));
    return w;
  }

  /** kill -9 (or another signal); resolves when the process is gone. */
  async kill(w: WorkerProc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    w.child.kill(signal);
    await w.exited;
  }

  /** POSTs one request per input, 16 at a time, with an Idempotency-Key; 503s and network errors are retried. */
  async submit(
    kind: 'onboardings' | 'offboardings',
    inputs: Record<string, unknown>[],
    opts: { retryUntil?: number; on503?: (body: unknown) => void } = {},
  ): Promise<Submitted[]> {
    const results: Submitted[] = new Array(inputs.length);
    let next = 0;
    const one = async (i: number) => {
      const input = inputs[i];
      const ns = String(input.namespace);
      const key = `${kind}-${ns}-${this.env.QUEUE_PREFIX}`;
      const retryUntil = opts.retryUntil ?? Date.now() + 60_000;
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${this.url}/v1/${kind}`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${ADMIN_TOKEN}`,
              'content-type': 'application/json',
              'idempotency-key': key,
            },
            body: JSON.stringify(input),
            signal: AbortSignal.timeout(20_000),
          });
          const body = (await res.json().catch(() => ({}))) as { id?: string; error?: { code?: string } };
          if (res.status === 503 && Date.now() < retryUntil) {
            opts.on503?.(body);
            await sleep(200);
            continue;
          }
          results[i] = { namespace: ns, id: body.id, status: res.status, code: body.error?.code, attempts: attempt };
          return;
        } catch (err) {
          if (Date.now() >= retryUntil) {
            results[i] = { namespace: ns, status: 0, code: (err as Error).message, attempts: attempt };
            return;
          }
          await sleep(200);
        }
      }
    };
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < inputs.length) await one(next++);
      }),
    );
    return results;
  }

  /** Waits until every request is terminal (or the deadline); returns id → status. */
  async waitTerminal(ids: string[], timeoutMs: number): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.db.query<{ id: string; status: string }>(
        'SELECT id, status FROM onboarding_request WHERE id = ANY($1::uuid[])',
        [ids],
      );
      const statuses = new Map(rows.map((r) => [r.id, r.status]));
      const open = ids.filter(
        (id) => !['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'].includes(statuses.get(id) ?? ''),
      );
      if (open.length === 0 || Date.now() > deadline) return statuses;
      await sleep(250);
    }
  }

  /** The pids of the stack's Postgres backends (connections that came through the proxy). */
  async terminateProxiedBackends(): Promise<number> {
    const ports = this.pgProxy?.upstreamPorts() ?? [];
    if (!ports.length) return 0;
    const { rowCount } = await this.db.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> ' +
        'pg_backend_pid()',
      [ports],
    );
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.kill(w, 'SIGKILL')));
    await this.api?.app.close().catch(() => undefined);
    await this.emulator?.close();
    await this.pgProxy?.close();
    await this.redisProxy?.close();
    if (this.redisLock) {
      await this.redisLock.flushdb().catch(() => undefined);
      this.redisLock.disconnect();
    } else {
      await dropPrefix(this.directRedisUrl, this.env.QUEUE_PREFIX).catch(() => undefined);
    }
    await this.db?.end().catch(() => undefined);
  }
}

/** Removes the stack's BullMQ keys from a shared Redis DB. */
async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export { sleep };
