// Retention (src/retention/retention.service.ts) against real Postgres: an old month of the audit trail is
// exported, its partition detached without blocking inserts and dropped; finished requests whose events are
// gone are exported and deleted (the newest of a namespace stays); the trail stays append-only otherwise.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { loadConfig } from '../../src/config/config.js';
import { RetentionService } from '../../src/retention/retention.service.js';

const OLD_MONTH = 'audit_event_p202003';

describe('retention of the audit trail and of finished requests', () => {
  const db = new pg.Client({ connectionString: testDatabaseUrl() });
  const holder = new pg.Client({ connectionString: testDatabaseUrl() });
  const writer = new pg.Client({ connectionString: testDatabaseUrl() });
  let dir: string;
  beforeAll(async () => {
    await Promise.all([db.connect(), holder.connect(), writer.connect()]);
    dir = await mkdtemp(join(tmpdir(), 'osm-retention-'));
  });
  afterAll(async () => {
    await Promise.all([db.end(), holder.end(), writer.end()]);
  });

  /** A request that ran and finished at `at` (through the lifecycle's allowed transitions). */
  async function finishedRequest(namespace: string, at: string, status = 'SUCCEEDED'): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                       created_at, updated_at, event_seq)
       VALUES ($1, 'ONBOARD', 'retention', $2, 'osm', '{}', 'QUEUED', 'tester', $3, $3, 2)`,
      [id, namespace, at],
    );
    await db.query(`UPDATE onboarding_request SET status = 'RUNNING' WHERE id = $1`, [id]);
    await db.query(`UPDATE onboarding_request SET status = $3::"RequestStatus", finished_at = $2 WHERE id = $1`, [
      id,
      at,
      status,
    ]);
    await db.query(`INSERT INTO step_run (id, request_id, position, name) VALUES ($1, $2, 0, 'namespace')`, [
      randomUUID(),
      id,
    ]);
    await db.query(
      `INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, created_at)
       VALUES ($1, 1, 'tester', 'request.created', 'retention', $2, $3),
              ($1, 2, 'tester', 'request.succeeded', 'retention', $2, $3)`,
      [id, namespace, at],
    );
    return id;
  }

  it('exports and drops a whole old month without blocking writers; UPDATE/DELETE/TRUNCATE stay refused', async () => {
    await db.query(`SELECT audit_event_partition_for('2020-03-15T00:00:00Z')`);
    const ns = `retained-${Date.now()}`;
    const lone = `${ns}-lone`;
    const oldest = await finishedRequest(ns, '2020-03-02T10:00:00Z');
    const older = await finishedRequest(ns, '2020-03-05T10:00:00Z');
    const onlyOne = await finishedRequest(lone, '2020-03-06T10:00:00Z');
    const recent = await finishedRequest(ns, new Date().toISOString());
    // The ids an export shows: `<requestId>:<cursor>` for a request's event (src/audit/event-id.ts).
    const { rows: oldEvents } = await db.query<{ id: string }>(
      `SELECT coalesce(request_id::text || ':' || seq, id::text) AS id FROM ${OLD_MONTH} ORDER BY ${OLD_MONTH}.id`,
    );
    expect(oldEvents.length).toBeGreaterThanOrEqual(6);

    // A writer's transaction stays open: the detach has to wait for it (it may still see the partition).
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO audit_event (actor, action) VALUES ('holder', 'test.held')`);

    const retention = new RetentionService(
      loadConfig({
        DATABASE_URL: testDatabaseUrl(),
        AUDIT_RETENTION_DAYS: '400',
        REQUEST_RETENTION_DAYS: '400',
        RETENTION_EXPORT_DIR: dir,
        RETENTION_INTERVAL_MS: '0',
      }),
    );
    const pass = retention.pass();
    // The detach is waiting for the open transaction ...
    const t0 = Date.now();
    let waiting = false;
    while (!waiting && Date.now() - t0 < 20_000) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE query LIKE 'ALTER TABLE audit_event DETACH PARTITION%' AND wait_event_type = 'Lock'`,
      );
      waiting = rows[0].n > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 50));
    }
    expect(waiting).toBe(true);
    // ... and meanwhile new events are written: a plain DETACH (ACCESS EXCLUSIVE on audit_event) would
    // queue this insert behind it until the statement timeout.
    await writer.query(`SET statement_timeout = '5s'`);
    await writer.query(`INSERT INTO audit_event (actor, action) VALUES ('writer', 'test.during-retention')`);
    await holder.query('COMMIT');
    const outcome = await pass;

    expect(outcome.ran).toBe(true);
    expect(outcome.partitionsDropped).toEqual([OLD_MONTH]);
    expect((await db.query(`SELECT to_regclass($1) AS t`, [OLD_MONTH])).rows[0].t).toBeNull();
    const exported = gunzipSync(readFileSync(join(dir, `${OLD_MONTH}.jsonl.gz`)))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; requestId: string; action: string });
    expect(exported.map((e) => e.id)).toEqual(oldEvents.map((e) => e.id));
    expect(exported.filter((e) => e.requestId === oldest).map((e) => e.action)).toEqual([
      'request.created',
      'request.succeeded',
    ]);
    expect(existsSync(join(dir, `${OLD_MONTH}.jsonl.gz.partial`))).toBe(false);

    // Old finished requests (their events gone) are exported and removed; the newest of a namespace stays.
    const { rows: left } = await db.query<{ id: string }>(
      `SELECT id FROM onboarding_request WHERE namespace = ANY($1)`,
      [[ns, lone]],
    );
    expect(left.map((r) => r.id).sort()).toEqual([onlyOne, recent].sort());
    expect(outcome.requestsRemoved).toBeGreaterThanOrEqual(2);
    expect((await db.query(`SELECT 1 FROM step_run WHERE request_id = $1`, [oldest])).rowCount).toBe(0);
    const requestFiles = outcome.files.filter((f) => f.includes('onboarding_request-'));
    const docs = requestFiles.flatMap((f) =>
      gunzipSync(readFileSync(f))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { request: { id: string }; steps: { name: string }[] }),
    );
    expect(docs.find((d) => d.request.id === oldest)?.steps.map((s) => s.name)).toEqual(['namespace']);
    expect(docs.some((d) => d.request.id === older)).toBe(true);

    // The recent history is untouched and still append-only, on the parent and on a partition directly.
    const { rows: kept } = await db.query(`SELECT seq FROM audit_event WHERE request_id = $1 ORDER BY seq`, [recent]);
    expect(kept).toEqual([{ seq: 1 }, { seq: 2 }]);
    const current = `audit_event_p${new Date().toISOString().slice(0, 7).replace('-', '')}`;
    await expect(db.query(`UPDATE audit_event SET actor = 'mallory' WHERE request_id = $1`, [recent])).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query(`DELETE FROM audit_event WHERE request_id = $1`, [recent])).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM ${current} WHERE request_id = $1`, [recent])).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE ${current}`)).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE audit_event`)).rejects.toThrow(/append-only/);
  });

  const retentionOf = (requestDays: number) =>
    new RetentionService(
      loadConfig({
        DATABASE_URL: testDatabaseUrl(),
        AUDIT_RETENTION_DAYS: '400',
        REQUEST_RETENTION_DAYS: String(requestDays),
        RETENTION_EXPORT_DIR: dir,
        RETENTION_INTERVAL_MS: '0',
      }),
    );

  it("keeps a namespace's newest success (drift, re-apply read it) and the months of unfinished requests", async () => {
    const ns = `kept-${Date.now()}`;
    await db.query(`SELECT audit_event_partition_for('2020-06-15T00:00:00Z')`);
    // The newest request of the namespace failed; the success before it is what the namespace should be.
    const success = await finishedRequest(ns, '2020-06-02T10:00:00Z');
    const failed = await finishedRequest(ns, '2020-06-05T10:00:00Z', 'FAILED');
    // A request still waiting for its approvals, created in an old month.
    const waiting = randomUUID();
    await db.query(`SELECT audit_event_partition_for('2020-07-15T00:00:00Z')`);
    await db.query(
      `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                       created_at, updated_at, event_seq, approvals_required)
       VALUES ($1, 'ONBOARD', 'retention', $2, 'osm', '{}', 'PENDING_APPROVAL', 'tester', $3, $3, 1, 1)`,
      [waiting, `${ns}-waiting`, '2020-07-02T10:00:00Z'],
    );
    await db.query(
      `INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, created_at)
       VALUES ($1, 1, 'tester', 'request.created', 'retention', $2, $3)`,
      [waiting, `${ns}-waiting`, '2020-07-02T10:00:00Z'],
    );

    const outcome = await retentionOf(400).pass();
    expect(outcome.partitionsDropped).toContain('audit_event_p202006');
    expect(outcome.partitionsHeld).toContain('audit_event_p202007');
    const { rows: left } = await db.query<{ id: string }>('SELECT id FROM onboarding_request WHERE namespace = $1', [
      ns,
    ]);
    expect(left.map((r) => r.id).sort()).toEqual([success, failed].sort());
    const trail = await db.query('SELECT action FROM audit_event WHERE request_id = $1', [waiting]);
    expect(trail.rows).toEqual([{ action: 'request.created' }]);
  });

  it('a drop that would wait for a long reader of the requests gives way; a later pass drops it', async () => {
    await db.query(`SELECT audit_event_partition_for('2020-08-15T00:00:00Z')`);
    await finishedRequest(`giveway-${Date.now()}`, '2020-08-02T10:00:00Z');
    // A long reader of onboarding_request (an export, a report): DROP TABLE of a partition locks that table
    // ACCESS EXCLUSIVE (the foreign key), and a drop waiting for it would queue every later statement behind it.
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM onboarding_request');
    try {
      const pass = retentionOf(0).pass();
      await writer.query(`SET statement_timeout = '2s'`);
      // Writers keep going while the pass runs (each waits at most one short lock attempt of the drop).
      for (let i = 0; i < 6; i++) {
        await writer.query(
          `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                           event_seq, updated_at)
           VALUES ($1, 'ONBOARD', 'retention', $2, 'osm', '{}', 'QUEUED', 'tester', 1, now())`,
          [randomUUID(), `giveway-writer-${Date.now()}-${i}`],
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      const outcome = await pass;
      expect(outcome.partitionsHeld).toContain('audit_event_p202008');
      expect(outcome.partitionsDropped).not.toContain('audit_event_p202008');
    } finally {
      await holder.query('COMMIT');
    }
    const again = await retentionOf(0).pass();
    expect(again.partitionsDropped).toContain('audit_event_p202008');
    expect((await db.query(`SELECT to_regclass('audit_event_p202008') AS t`)).rows[0].t).toBeNull();
  });

  it('keeps the months ahead partitioned, and a retention period needs an export directory', async () => {
    const ahead = new Date();
    ahead.setUTCMonth(ahead.getUTCMonth() + 3);
    const name = `audit_event_p${ahead.toISOString().slice(0, 7).replace('-', '')}`;
    await new RetentionService(loadConfig({ DATABASE_URL: testDatabaseUrl(), RETENTION_INTERVAL_MS: '0' })).pass();
    expect((await db.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [name])).rows[0].ok).toBe(true);

    expect(() => loadConfig({ AUDIT_RETENTION_DAYS: '30' })).toThrow(/RETENTION_EXPORT_DIR: is required/);
    expect(() => loadConfig({ REQUEST_RETENTION_DAYS: '30', RETENTION_EXPORT_DIR: dir })).toThrow(
      /REQUEST_RETENTION_DAYS: needs AUDIT_RETENTION_DAYS/,
    );
  });
});
