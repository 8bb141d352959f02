import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { applyMigrations } from '../../src/database/migrate.js';
import { PrismaService } from '../../src/database/prisma.service.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { loadConfig, type AppConfig } from '../../src/config/config.js';

const MIGRATIONS = resolve(import.meta.dirname, '../../prisma/migrations');

describe('database (real Postgres)', () => {
  const db = new pg.Client({ connectionString: testDatabaseUrl() });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  it('records migrations exactly as prisma migrate deploy does, and re-running applies nothing', async () => {
    const { rows } = await db.query(
      'SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM _prisma_migrations ' +
        'ORDER BY migration_name',
    );
    const names = (await readdir(MIGRATIONS, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(names.length).toBeGreaterThan(0);
    const expected = await Promise.all(
      names.map(async (name) => ({
        migration_name: name,
        checksum: createHash('sha256')
          .update(await readFile(resolve(MIGRATIONS, name, 'migration.sql'), 'utf8'))
          .digest('hex'),
        finished_at: expect.any(Date),
        applied_steps_count: 1,
        rolled_back_at: null,
      })),
    );
    expect(rows).toEqual(expected);
    expect(await applyMigrations(testDatabaseUrl(), MIGRATIONS)).toEqual({ applied: [], alreadyApplied: names });
  });

  it('PREPARED statements past Prisma: typed like $queryRaw; idle connections Postgres ends are replaced', async () => {
    const prisma = new PrismaService({ databaseUrl: testDatabaseUrl(), databasePoolSize: 2 } as AppConfig);
    try {
      const one = Prisma.sql`/* prepared */ SELECT 1::int8 AS big, now() AS at, '{"a":1}'::jsonb AS doc`;
      const [row] = await prisma.prepared<{ big: bigint; at: Date; doc: unknown }>(one);
      expect(row).toEqual({ big: 1n, at: expect.any(Date), doc: { a: 1 } });
      await expect(prisma.prepared(Prisma.sql`SELECT 1`)).rejects.toThrow(/PREPARED/);
      // Postgres ends the pool's idle connection (a restart, a failover) before Prisma itself ever connected: the
      // pool's 'error' event must not end the process (vitest reports an uncaught error), and the next call works.
      await db.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1',
        [(await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid],
      );
      await new Promise((r) => setTimeout(r, 200));
      expect((await prisma.prepared<{ big: bigint }>(one))[0].big).toBe(1n);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('keeps pooled connections DATABASE_POOL_IDLE_MS, with TCP keep-alive on each (Linux: /proc/net/tcp)', async () => {
    /** Opens `n` pooled connections at once; returns their backends' pids and client ports. */
    const open = async (prisma: PrismaService, n: number) =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const [row] = await prisma.$queryRaw<{ pid: number; port: number }[]>`
            SELECT pg_backend_pid() AS pid, inet_client_port() AS port, pg_sleep(0.1)::text AS slept`;
          return row;
        }),
      );
    const alive = async (pids: number[]) =>
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [pids]))
        .rows[0].n;
    const config = (idleMs: string) =>
      loadConfig({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: '3', DATABASE_POOL_IDLE_MS: idleMs });
    const brief = new PrismaService(config('1000'));
    const kept = new PrismaService(config('0'));
    try {
      const [b, k] = await Promise.all([open(brief, 3), open(kept, 3)]);
      expect(new Set(b.map((r) => r.pid)).size).toBe(3);
      expect(await alive(b.map((r) => r.pid))).toBe(3);
      await new Promise((r) => setTimeout(r, 2500));
      // pg closes an idle connection after 10 s unless told otherwise: at 2.5 s both pools would still hold theirs.
      expect(await alive(b.map((r) => r.pid))).toBe(0);
      expect(await alive(k.map((r) => r.pid))).toBe(3);
      // The kept connections' sockets have their keep-alive timer armed (timer_active 2 in /proc/net/tcp).
      const table = (file: string) => readFile(file, 'utf8').catch(() => ''); // no tcp6 without IPv6
      const tcp = (await table('/proc/net/tcp')) + (await table('/proc/net/tcp6'));
      const timers = k.map((r) => {
        const hexPort = r.port.toString(16).toUpperCase().padStart(4, '0');
        const line = tcp.split('\n').find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`));
        return line?.trim().split(/\s+/)[5]?.split(':')[0];
      });
      expect(timers).toEqual(['02', '02', '02']);
    } finally {
      await Promise.all([brief.$disconnect(), kept.$disconnect()]);
    }
  });

  async function newRequest(namespace: string, status = 'QUEUED') {
    const id = crypto.randomUUID();
    await db.query(
      `INSERT INTO onboarding_request
           (id, kind, cluster, namespace, mesh_name, options, status, requested_by, updated_at)
       VALUES ($1, 'ONBOARD', 'db-test', $2, 'osm', '{}', $3, 'tester', now())`,
      [id, namespace, status],
    );
    return id;
  }

  it('keeps the audit trail append-only: UPDATE, DELETE and TRUNCATE are refused by the database', async () => {
    const id = await newRequest(`audit-${Date.now()}`);
    await db.query(
      `INSERT INTO audit_event (request_id, seq, actor, action) VALUES ($1, 1, 'tester', 'request.created')`,
      [id],
    );
    await expect(db.query(`UPDATE audit_event SET actor = 'mallory' WHERE request_id = $1`, [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query(`DELETE FROM audit_event WHERE request_id = $1`, [id])).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE audit_event`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM onboarding_request WHERE id = $1`, [id])).rejects.toThrow(
      /foreign key|append-only/,
    );
    const { rows } = await db.query(`SELECT actor FROM audit_event WHERE request_id = $1`, [id]);
    expect(rows).toEqual([{ actor: 'tester' }]);
  });

  it('allows one active request per (cluster, namespace), enforced by a partial unique index', async () => {
    const ns = `active-${Date.now()}`;
    // New rows start QUEUED (the lifecycle trigger refuses any other first status but PLANNED/PENDING_APPROVAL).
    const running = await newRequest(ns, 'QUEUED');
    await db.query(`UPDATE onboarding_request SET status = 'RUNNING' WHERE id = $1`, [running]);
    await expect(newRequest(ns, 'QUEUED')).rejects.toThrow(/onboarding_request_active_target_key/);
    await expect(newRequest(ns, 'RUNNING')).rejects.toThrow(/is not a transition of the request lifecycle/);
    await newRequest(ns, 'PLANNED'); // a plan is not active
    await db.query(`UPDATE onboarding_request SET status = 'SUCCEEDED' WHERE id = $1`, [running]);
    await newRequest(ns, 'QUEUED'); // finished requests do not count
  });
});
