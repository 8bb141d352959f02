// Every process keeps the audit partitions of the months ahead (database/partition-upkeep.ts), at start and on its
// own timer, whatever the retention settings: an outside audit had RETENTION_INTERVAL_MS=0 stop their creation
// (only the worker's retention pass made them), so every write would fail once the months ran out.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/database/migrate.js';
import { PARTITIONS_AHEAD_MONTHS } from '../../src/database/partition-upkeep.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { testDatabaseUrl } from '../support/database.js';
import { stackEnv, startApi } from '../support/harness.js';

describe('the audit partitions ahead', () => {
  let emulator: Emulator;
  let admin: pg.Client;
  let db: pg.Client;
  let app: INestApplication | undefined;
  const name = `osm_parts_${randomBytes(4).toString('hex')}`;
  const url = (database: string) => {
    const u = new URL(testDatabaseUrl());
    u.pathname = `/${database}`;
    return u.toString();
  };
  const monthsAhead = (n: number) => {
    const d = new Date();
    const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
    return `audit_event_p${m.getUTCFullYear()}${String(m.getUTCMonth() + 1).padStart(2, '0')}`;
  };
  const attached = async () =>
    (
      await db.query<{ relname: string }>(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'audit_event'::regclass ORDER BY 1`,
      )
    ).rows.map((r) => r.relname);

  beforeAll(async () => {
    emulator = await startEmulator();
    admin = new pg.Client({ connectionString: url('postgres') });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await applyMigrations(url(name), resolve(import.meta.dirname, '../../prisma/migrations'));
    db = new pg.Client({ connectionString: url(name) });
    await db.connect();
  });
  afterAll(async () => {
    await app?.close();
    await db?.end();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await emulator?.close();
  });

  it('are made by an API process with retention passes off', async () => {
    // The months ahead gone (as when the last upkeep ran long ago).
    const ahead = Array.from({ length: PARTITIONS_AHEAD_MONTHS }, (_, i) => monthsAhead(i + 1));
    for (const part of ahead) {
      await db.query(`ALTER TABLE audit_event DETACH PARTITION "${part}"`);
      await db.query(`DROP TABLE "${part}"`);
    }
    expect(await attached()).not.toContain(ahead[0]);

    const env = await stackEnv(emulator, { ROLE: 'api', DATABASE_URL: url(name), RETENTION_INTERVAL_MS: '0' });
    ({ app } = await startApi(env));
    let parts: string[] = [];
    for (let i = 0; i < 100 && !ahead.every((p) => parts.includes(p)); i++) {
      parts = await attached();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(parts).toEqual(expect.arrayContaining([monthsAhead(0), ...ahead]));
  });
});
