import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { applyMigrations } from '../../src/database/migrate.js';

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
