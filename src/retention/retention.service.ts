// Retention of the audit trail and of finished requests (worker role): export, then remove, never
// blocking writers. The audit trail is partitioned by month (migration 20261203200000_audit_partitions):
// a month older than AUDIT_RETENTION_DAYS is exported whole to RETENTION_EXPORT_DIR, detached CONCURRENTLY
// (inserts go on) and dropped, so no audit row is ever updated or deleted. Finished requests older than
// REQUEST_RETENTION_DAYS whose audit events are gone are exported and deleted in small batches.
// Each pass also makes the audit partitions of the months ahead, as every process does on its own
// (database/partition-upkeep.ts).

import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { jsonLine, toExportRow, type AuditRow } from '../audit-export/audit-export.service.js';
import { removeRetainedRequests } from '../onboarding/onboarding.repository.js';
import { PARTITIONS_AHEAD_MONTHS } from '../database/partition-upkeep.js';

/** Only one process runs a pass at a time (session-level advisory lock). */
const RETENTION_LOCK = 72707370;
const EXPORT_PAGE = 5000;
const REQUEST_BATCH = 1000;
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'];
/** Read through the status index (the unfinished are few): the months they keep. */
const UNFINISHED = ['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING'];
/**
 * Dropping a detached partition locks onboarding_request (the foreign key's table) ACCESS EXCLUSIVE: a drop that
 * waits for a long reader or writer of it would queue every later statement on that table behind it. So it waits at
 * most this long for the lock, DROP_TRIES times a pass; a partition it could not drop stays detached (exported,
 * invisible to every query of the trail) and is dropped by a later pass.
 */
const DROP_LOCK_TIMEOUT_MS = 250;
const DROP_TRIES = 4;

export interface RetentionOutcome {
  /** Partitions exported, detached and dropped (audit_event_pYYYYMM). */
  partitionsDropped: string[];
  /**
   * Partitions old enough but kept this pass: holding events of a request that is not finished (its trail stays
   * whole while it can still change), or detached but not dropped (its table's lock was not free in time).
   */
  partitionsHeld: string[];
  auditEventsExported: number;
  requestsRemoved: number;
  /** Files written to RETENTION_EXPORT_DIR. */
  files: string[];
  /** False when another process held the retention lock (nothing was done). */
  ran: boolean;
}

interface Partition {
  name: string;
  /** Exclusive upper bound of its range. */
  upper: Date;
  attached: boolean;
  detachPending: boolean;
}

@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<RetentionOutcome>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onApplicationBootstrap(): void {
    const { intervalMs } = this.config.retention;
    if (intervalMs <= 0) return;
    const tick = () =>
      void this.pass().catch((err: unknown) => this.logger.warn(`retention pass failed: ${(err as Error).message}`));
    this.timer = setInterval(tick, intervalMs);
    tick();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass (concurrent calls share it): partitions ahead, then audit retention, then request retention. */
  pass(now = new Date()): Promise<RetentionOutcome> {
    this.running ??= this.run(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(now: Date): Promise<RetentionOutcome> {
    const out: RetentionOutcome = {
      partitionsDropped: [],
      partitionsHeld: [],
      auditEventsExported: 0,
      requestsRemoved: 0,
      files: [],
      ran: false,
    };
    const db = new pg.Client({ connectionString: this.config.databaseUrl });
    db.on('error', () => undefined);
    await db.connect();
    try {
      await db.query(`SELECT audit_event_ensure_partitions($1::timestamptz, $1::timestamptz + $2::interval)`, [
        now,
        `${PARTITIONS_AHEAD_MONTHS} months`,
      ]);
      const { auditDays, requestDays, exportDir } = this.config.retention;
      if ((auditDays === 0 && requestDays === 0) || !exportDir) return out;
      const { rows } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RETENTION_LOCK]);
      if (!rows[0].ok) return out;
      out.ran = true;
      try {
        await mkdir(exportDir, { recursive: true });
        if (auditDays > 0) await this.auditRetention(db, exportDir, daysBefore(now, auditDays), out);
        if (requestDays > 0) await this.requestRetention(db, exportDir, daysBefore(now, requestDays), out);
      } finally {
        await db.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
      }
      if (out.partitionsDropped.length || out.requestsRemoved)
        this.logger.log(
          `retention: dropped ${out.partitionsDropped.length} audit partition(s) ` +
            `(${out.auditEventsExported} events exported), removed ${out.requestsRemoved} finished request(s); ` +
            `exports in ${exportDir}`,
        );
      return out;
    } finally {
      await db.end().catch(() => undefined);
    }
  }

  /** Each month wholly before `cutoff`: export (file complete and synced first), detach concurrently, drop. */
  private async auditRetention(db: pg.Client, dir: string, cutoff: Date, out: RetentionOutcome): Promise<void> {
    for (const p of await partitions(db)) {
      if (p.upper > cutoff) continue;
      // A request that is not finished (waiting for approvals, queued, running, or retried after the cutoff)
      // keeps its whole trail: the month waits for it. Read by the active requests (few) on the month's index.
      const { rowCount: active } = await db.query(
        `SELECT 1 FROM onboarding_request r
          WHERE r.status = ANY($1::"RequestStatus"[])
            AND EXISTS (SELECT 1 FROM ${ident(p.name)} e WHERE e.request_id = r.id) LIMIT 1`,
        [UNFINISHED],
      );
      if (active) {
        out.partitionsHeld.push(p.name);
        this.logger.log(`retention: ${p.name} kept: it holds events of a request that is not finished`);
        continue;
      }
      const file = join(dir, `${p.name}.jsonl.gz`);
      const n = await writeExport(file, pageRows(db, p.name));
      out.auditEventsExported += n;
      out.files.push(file);
      // CONCURRENTLY takes no lock that blocks inserts into the parent (it waits for them instead); a
      // pass interrupted half-way leaves the partition "detach pending", which FINALIZE completes.
      if (p.attached)
        await db.query(
          `ALTER TABLE audit_event DETACH PARTITION ${ident(p.name)} ${p.detachPending ? 'FINALIZE' : 'CONCURRENTLY'}`,
        );
      if (await dropWithin(db, p.name)) out.partitionsDropped.push(p.name);
      else {
        out.partitionsHeld.push(p.name);
        this.logger.log(`retention: ${p.name} exported and detached; dropped by a later pass (its lock was busy)`);
      }
    }
  }

  /**
   * Finished before `cutoff`, with no audit event left (they go first, by partition), no open drift record,
   * not the newest request of its namespace (that one says what the namespace is now), and not its newest success
   * (what the drift scan compares the namespace with, and what re-apply runs again). A batch at a
   * time: its rows are locked (SKIP LOCKED: nobody waits), exported to a file that is synced before the
   * delete commits (so a crash repeats an export, never loses one), then deleted with their step runs and
   * approvals. Writers never wait: new requests touch none of these rows.
   */
  private async requestRetention(db: pg.Client, dir: string, cutoff: Date, out: RetentionOutcome): Promise<void> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // Candidates are read in keyset pages of the finish time (index), then filtered by id: one statement
    // for both would check every request finished before the cutoff again on every batch.
    let after = { at: new Date(0), id: '00000000-0000-0000-0000-000000000000' };
    for (let batch = 1; ; batch++) {
      const { rows: candidates } = await db.query<{ id: string; finished_at: Date }>(
        `SELECT id, finished_at FROM onboarding_request
          WHERE finished_at < $1 AND finished_at >= $2 AND (finished_at, id) > ($2, $3::uuid)
          ORDER BY finished_at, id LIMIT ${REQUEST_BATCH}`,
        [cutoff, after.at, after.id],
      );
      if (candidates.length === 0) return;
      const last = candidates[candidates.length - 1];
      after = { at: last.finished_at, id: last.id };
      await db.query('BEGIN');
      try {
        const { rows } = await db.query<{ id: string; doc: unknown }>(
          `SELECT r.id, jsonb_build_object('request', to_jsonb(r),
                  'steps', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.position), '[]')
                              FROM step_run s WHERE s.request_id = r.id),
                  'approvals', (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.created_at), '[]')
                                  FROM approval a WHERE a.request_id = r.id)) AS doc
             FROM onboarding_request r
            WHERE r.id = ANY($1::uuid[]) AND r.finished_at < $2 AND r.status::text = ANY($3)
              AND NOT EXISTS (SELECT 1 FROM audit_event e WHERE e.request_id = r.id)
              AND NOT EXISTS (SELECT 1 FROM namespace_drift d WHERE d.request_id = r.id)
              AND EXISTS (SELECT 1 FROM onboarding_request n WHERE n.cluster = r.cluster AND n.namespace = r.namespace
                                                             AND n.created_at > r.created_at)
              AND r.id IS DISTINCT FROM (SELECT s.id FROM onboarding_request s
                                          WHERE s.cluster = r.cluster AND s.namespace = r.namespace
                                            AND s.status = 'SUCCEEDED'
                                          ORDER BY s.created_at DESC, s.id DESC LIMIT 1)
              FOR UPDATE OF r SKIP LOCKED`,
          [candidates.map((c) => c.id), cutoff, FINISHED],
        );
        if (rows.length > 0) {
          const file = join(dir, `onboarding_request-${stamp}-${String(batch).padStart(5, '0')}.jsonl.gz`);
          await writeExport(file, [rows.map((r) => JSON.stringify(r.doc) + '\n').join('')]);
          const ids = rows.map((r) => r.id);
          await removeRetainedRequests(db, ids);
          out.requestsRemoved += rows.length;
          out.files.push(file);
        }
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
  }
}

const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

/** DROP TABLE `name`, waiting DROP_LOCK_TIMEOUT_MS at most for its locks, DROP_TRIES times; false: not dropped. */
async function dropWithin(db: pg.Client, name: string): Promise<boolean> {
  for (let attempt = 1; attempt <= DROP_TRIES; attempt++) {
    await db.query(`SET lock_timeout = ${DROP_LOCK_TIMEOUT_MS}`);
    try {
      await db.query(`DROP TABLE ${ident(name)}`);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03') throw err; // lock_not_available
    } finally {
      await db.query('RESET lock_timeout');
    }
    await new Promise((r) => setTimeout(r, attempt * 500));
  }
  return false;
}
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The monthly audit partitions, attached or left detached by an interrupted pass, oldest first. */
async function partitions(db: pg.Client): Promise<Partition[]> {
  const { rows } = await db.query<{ name: string; attached: boolean; pending: boolean | null }>(
    `SELECT c.relname AS name, i.inhrelid IS NOT NULL AS attached, i.inhdetachpending AS pending
       FROM pg_class c
       LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'audit_event'::regclass
      WHERE c.relkind = 'r' AND c.relname ~ '^audit_event_p[0-9]{6}$'
        AND c.relnamespace = current_schema()::regnamespace
      ORDER BY c.relname`,
  );
  return rows.map((r) => {
    const y = Number(r.name.slice(-6, -2));
    const m = Number(r.name.slice(-2));
    return {
      name: r.name,
      upper: new Date(Date.UTC(y, m, 1)),
      attached: r.attached,
      detachPending: r.pending === true,
    };
  });
}

/** A partition's rows in id order, a page at a time, as export lines. */
async function* pageRows(db: pg.Client, table: string): AsyncGenerator<string> {
  let after = '0';
  for (;;) {
    const { rows } = await db.query<AuditRow>(
      `SELECT id, request_id::text AS request_id, seq, actor, action, cluster, namespace, target, step, data, created_at
         FROM ${ident(table)} WHERE id > $1 ORDER BY id LIMIT ${EXPORT_PAGE}`,
      [after],
    );
    if (rows.length === 0) return;
    after = rows[rows.length - 1].id.toString();
    yield rows.map((r) => jsonLine(toExportRow(r))).join('');
    if (rows.length < EXPORT_PAGE) return;
  }
}

/** Gzipped JSON lines, written to `<file>.partial`, synced, then renamed: a file that exists is complete. */
async function writeExport(file: string, chunks: AsyncIterable<string> | Iterable<string>): Promise<number> {
  const partial = `${file}.partial`;
  let lines = 0;
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of chunks) {
        lines += chunk.split('\n').length - 1;
        yield chunk;
      }
    })(),
  );
  try {
    await pipeline(counted, createGzip(), createWriteStream(partial));
    const handle = await open(partial, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, file);
  } catch (err) {
    await unlink(partial).catch(() => undefined);
    throw err;
  }
  return lines;
}
