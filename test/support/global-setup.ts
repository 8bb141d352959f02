import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { applyMigrations } from '../../src/database/migrate.js';

// Each test run gets its own database, migrated with the same runner as production,
// and dropped afterwards (in the integration tier each test file works on a copy of it: file-database.ts).
// Postgres itself is the one the machine (or .ci/run) started.
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's migrated database: the template of each test file's own copy (file-database.ts). */
    databaseUrl: string;
    databaseAdminUrl: string;
    redisUrl: string;
  }
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** What the integration tier needs from the machine, said plainly when it is not there. */
async function requireServices(): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const sql = 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user';
    const { rows } = await client.query<{ rolsuper: boolean }>(sql);
    if (!rows[0]?.rolsuper) throw new Error('the user is not a superuser (the tests create and drop databases)');
  } catch (err) {
    throw new Error(
      `the integration tests need Postgres at ${ADMIN_URL} with a passwordless superuser ` +
        `(set TEST_DATABASE_ADMIN_URL, or run docker compose up -d postgres redis): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => {});
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {}); // reported below
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(
      `the integration tests need Redis at ${REDIS_URL} ` +
        `(set TEST_REDIS_URL, or run docker compose up -d postgres redis): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    redis.disconnect();
  }
}

export default async function setup(project: TestProject) {
  await requireServices();
  const name = `osm_onboarding_test_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await applyMigrations(url.toString(), resolve(import.meta.dirname, '../../prisma/migrations'));
  project.provide('databaseUrl', url.toString());
  project.provide('databaseAdminUrl', ADMIN_URL);
  project.provide('redisUrl', REDIS_URL);

  return async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    // The test files' copies (file-database.ts) drop themselves; whatever a crashed file left goes here.
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [
      `${name}\\_f%`,
    ]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  };
}
