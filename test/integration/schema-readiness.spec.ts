// A process pointed at a database that is not migrated for its version (a rollout ahead of its migration Job, an
// empty database) is not ready (/readyz 503, checks.schema "behind") and answers calls with 503
// DEPENDENCY_UNAVAILABLE, not 500; one pointed at a database that does not exist answers 503 too. An outside audit
// saw both report ready and answer 500 INTERNAL.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/database/migrate.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { testDatabaseUrl } from '../support/database.js';
import { http, stackEnv, startApi } from '../support/harness.js';

describe('a database not migrated for this version', () => {
  let emulator: Emulator;
  let admin: pg.Client;
  const apps: INestApplication[] = [];
  const name = `osm_schema_${randomBytes(4).toString('hex')}`;
  const urlOf = (db: string) => {
    const u = new URL(testDatabaseUrl());
    u.pathname = `/${db}`;
    return u.toString();
  };

  beforeAll(async () => {
    emulator = await startEmulator();
    const u = new URL(testDatabaseUrl());
    u.pathname = '/postgres';
    admin = new pg.Client({ connectionString: u.toString() });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await emulator?.close();
  });

  const api = async (databaseUrl: string) => {
    const { app, url } = await startApi(await stackEnv(emulator, { ROLE: 'api', DATABASE_URL: databaseUrl }));
    apps.push(app);
    return url;
  };

  it('is not ready and answers 503 until it is migrated, then serves', async () => {
    const url = await api(urlOf(name));
    const ready = await http(url, 'GET', '/readyz', undefined, { authorization: '' });
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not-ready', checks: { postgres: 'ok', schema: 'behind' } });
    for (const [method, path, body] of [
      ['POST', '/v1/onboardings', { namespace: 'bookstore' }],
      ['GET', '/v1/onboardings', undefined],
    ] as const) {
      const r = await http(url, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    }

    await applyMigrations(urlOf(name), resolve(import.meta.dirname, '../../prisma/migrations'));
    const after = await http(url, 'GET', '/readyz', undefined, { authorization: '' });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'ready', checks: { schema: 'ok' } });
    expect((await http(url, 'GET', '/v1/onboardings')).status).toBe(200);
  });

  it('answers 503, not 500, when the database does not exist', async () => {
    const url = await api(urlOf(`${name}_missing`));
    const r = await http(url, 'GET', '/v1/onboardings');
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    // A shared dependency's state is reported, not required: still ready (dependency-checks.ts).
    const ready = await http(url, 'GET', '/readyz', undefined, { authorization: '' });
    expect(ready.body.checks).toMatchObject({ postgres: 'unavailable', schema: 'unknown' });
  });
});
