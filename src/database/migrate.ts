import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

// Applies prisma/migrations the way `prisma migrate deploy` does, without Prisma's
// schema-engine binary (it cannot be downloaded here). The `_prisma_migrations`
// table, checksums and advisory lock match prisma-engines, so a real
// `prisma migrate deploy` accepts the history this writes.
const PRISMA_MIGRATE_LOCK = 72707369;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationOutcome {
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends Error {}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

export async function applyMigrations(databaseUrl: string, migrationsDir: string): Promise<MigrationOutcome> {
  const names = (await readdir(migrationsDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    await client.query(MIGRATIONS_TABLE);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const failed = rows.find((r) => r.finished_at === null);
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} failed earlier (P3009): resolve it before applying more migrations`,
      );
    }
    const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const outcome: MigrationOutcome = { applied: [], alreadyApplied: [] };
    for (const name of names) {
      const sql = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8');
      const sum = checksum(sql);
      const previous = done.get(name);
      if (previous !== undefined) {
        if (previous !== sum && previous !== checksum(sql.replace(/\r\n/g, '\n'))) {
          throw new MigrationError(`migration ${name} was edited after it was applied (checksum differs)`);
        }
        outcome.alreadyApplied.push(name);
        continue;
      }
      const id = randomUUID();
      await client.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ' +
          '($1, $2, $3, now(), 0)',
        [id, sum, name],
      );
      try {
        await client.query(sql);
      } catch (err) {
        await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, String(err)]);
        throw new MigrationError(`migration ${name} failed: ${(err as Error).message}`);
      }
      await client.query(
        'UPDATE "_prisma_migrations" SET applied_steps_count = applied_steps_count + 1, finished_at = now() WHERE ' +
          'id = $1',
        [id],
      );
      outcome.applied.push(name);
    }
    return outcome;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** Creates the database named in the URL when it does not exist yet (returns true if it did). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) return false;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
  } catch {
    return false; // no access to the maintenance database: assume the target exists
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}
