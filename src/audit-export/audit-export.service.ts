// Owns reading the audit trail for export: the query (zod), keyset pages, the row shape, JSON lines and CSV cells
// (RFC 4180, spreadsheet formulas neutralised). Retention reuses the row shape for its archives.
import { Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client.js';
import { PrismaService } from '../database/prisma.service.js';
import type { Actor } from '../auth/actor.js';
import { assertRole, hasRole } from '../auth/scopes.js';
import { instantSchema } from '../common/instant.js';
import { parseInput } from '../common/parse-input.js';
import { eventId } from '../audit/event-id.js';

export const EXPORT_PAGE_SIZE = 500;

/**
 * How long a transaction may take between drawing an event id and getting its transaction id (the same INSERT, in
 * practice microseconds), and how long an export waits at most for the transactions in flight when it starts.
 */
const ID_TO_XID_MS = 20;
const SETTLE_MAX_MS = 5000;
const SETTLE_POLL_MS = 20;

/**
 * `since`/`until`: a date (UTC midnight) or a timestamp with its zone, to the millisecond at most, within years
 * 0001-9999 (common/instant.ts).
 */
const timestamp = instantSchema();

const text = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be no more than 253 characters');

export const AuditExportQuery = z
  .strictObject({
    actor: text.optional(),
    cluster: text.optional(),
    namespace: text.optional(),
    action: text
      .regex(/^[a-z0-9.*-]+$/, 'must be an action (request.succeeded) or a pattern with * (request.*)')
      .optional(),
    requestId: z.uuid({ error: 'must be a UUID' }).optional(),
    /** inclusive */
    since: timestamp.optional(),
    /** exclusive */
    until: timestamp.optional(),
    format: z.enum(['jsonl', 'csv'], { error: 'must be jsonl or csv' }).default('jsonl'),
  })
  .superRefine((v, ctx) => {
    if (v.since instanceof Date && v.until instanceof Date && v.until <= v.since) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be after since' });
    }
  });

export type AuditExportFilter = z.infer<typeof AuditExportQuery>;

export interface ExportRow {
  id: string;
  requestId: string | null;
  cursor: number | null;
  createdAt: string;
  actor: string;
  action: string;
  cluster: string | null;
  namespace: string | null;
  target: string | null;
  step: string | null;
  data: unknown;
}

export const CSV_COLUMNS: (keyof ExportRow)[] = [
  'id',
  'requestId',
  'cursor',
  'createdAt',
  'actor',
  'action',
  'cluster',
  'namespace',
  'target',
  'step',
  'data',
];

/** RFC 4180: quote a field holding a comma, quote, CR or LF, doubling quotes; a cell a spreadsheet
 * would run as a formula (=, +, -, @, tab, CR first) is prefixed with ' (OWASP CSV injection). */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (row: ExportRow) => CSV_COLUMNS.map((c) => csvCell(row[c])).join(',') + '\r\n';
export const jsonLine = (row: ExportRow) => JSON.stringify(row) + '\n';

/** An audit_event row as SQL returns it (request_id as text). */
export interface AuditRow {
  id: bigint | string;
  request_id: string | null;
  seq: number | null;
  actor: string;
  action: string;
  cluster: string | null;
  namespace: string | null;
  target: string | null;
  step: string | null;
  data: unknown;
  created_at: Date;
}

/** The exported shape of an event: the same in GET /v1/audit and in retention's exports (src/retention). */
export const toExportRow = (r: AuditRow): ExportRow => ({
  id: eventId({ id: r.id, requestId: r.request_id, seq: r.seq }),
  requestId: r.request_id,
  cursor: r.seq,
  createdAt: r.created_at.toISOString(),
  actor: r.actor,
  action: r.action,
  cluster: r.cluster,
  namespace: r.namespace,
  target: r.target,
  step: r.step,
  data: r.data,
});

/** `*` → `%`, with LIKE's own wildcards escaped. */
const likePattern = (glob: string) => glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');

/**
 * The audit trail, filtered and read in keyset pages (id order, EXPORT_PAGE_SIZE rows each) so an
 * export never holds more than one page. Admins see every event; other roles (viewer and up)
 * only events of requests inside their scopes (token and webhook events have no request: admins only).
 *
 * An export carries every event committed before it began: ids are drawn in order but committed in any order, so a
 * page read past id N could miss an event below N whose transaction commits a moment later (and an export of
 * contiguous time windows would then never carry it: its createdAt, its transaction's start, lies in the window the
 * export covered). So it first waits for the transactions in flight when it begins (settle). An event committed
 * while it runs, by a transaction begun later, may be in it or not; its createdAt is after the export began.
 */
@Injectable()
export class AuditExportService {
  private readonly logger = new Logger(AuditExportService.name);

  constructor(private readonly prisma: PrismaService) {}

  /** Validates and authorizes; throws before anything is streamed. */
  prepare(query: unknown, actor: Actor): AuditExportFilter {
    assertRole(actor, 'viewer', 'requester', 'approver');
    return parseInput(AuditExportQuery, query);
  }

  async *pages(filter: AuditExportFilter, actor: Actor, pageSize = EXPORT_PAGE_SIZE): AsyncGenerator<ExportRow[]> {
    await this.settle();
    let after = 0n;
    for (;;) {
      const { rows, lastId } = await this.page(filter, actor, { after, limit: pageSize });
      if (lastId === undefined) return;
      after = lastId;
      yield rows;
      if (rows.length < pageSize) return;
    }
  }

  /**
   * Waits until every transaction of this database running when the export began has ended, SETTLE_MAX_MS at most
   * (then it goes on with a warning). One that drew an event id just before and had no transaction id yet gets it
   * within ID_TO_XID_MS (the same INSERT): so the wait is for the transactions holding a transaction id a moment
   * later. Only this database's (pg_stat_activity): transaction ids are the whole server's, and a long transaction
   * in another database of a shared server writes no audit event of ours.
   */
  private async settle(): Promise<void> {
    await new Promise((r) => setTimeout(r, ID_TO_XID_MS));
    const [{ xids }] = await this.prisma.$queryRaw<{ xids: string[] }[]>`
      SELECT coalesce(array_agg(backend_xid::text), '{}') AS xids FROM pg_stat_activity
       WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`;
    const deadline = Date.now() + SETTLE_MAX_MS;
    while (xids.length > 0) {
      const [{ running }] = await this.prisma.$queryRaw<{ running: number }[]>`
        SELECT count(*)::int AS running FROM pg_stat_activity
         WHERE datname = current_database() AND backend_xid::text = ANY(${xids}::text[])`;
      if (running === 0) return;
      if (Date.now() >= deadline) {
        this.logger.warn(
          `audit export: a transaction older than the export still runs after ${SETTLE_MAX_MS} ms; ` +
            'an event it commits later may be missing from this export',
        );
        return;
      }
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    }
  }

  /** The events after id `after`, at most `limit`, in id order, and the last one's id (the next page's `after`). */
  private async page(
    f: AuditExportFilter,
    actor: Actor,
    { after, limit }: { after: bigint; limit: number },
  ): Promise<{ rows: ExportRow[]; lastId: bigint | undefined }> {
    const where: Prisma.Sql[] = [Prisma.sql`a.id > ${after}`];
    if (f.actor) where.push(Prisma.sql`a.actor = ${f.actor}`);
    if (f.cluster) where.push(Prisma.sql`a.cluster = ${f.cluster}`);
    if (f.namespace) where.push(Prisma.sql`a.namespace = ${f.namespace}`);
    if (f.action)
      where.push(
        f.action.includes('*')
          ? Prisma.sql`a.action LIKE ${likePattern(f.action)}`
          : Prisma.sql`a.action = ${f.action}`,
      );
    if (f.requestId) where.push(Prisma.sql`a.request_id = ${f.requestId}::uuid`);
    if (f.since) where.push(Prisma.sql`a.created_at >= ${f.since}`);
    if (f.until) where.push(Prisma.sql`a.created_at < ${f.until}`);
    let from = Prisma.sql`audit_event a`;
    if (!hasRole(actor, 'admin')) {
      // Scope on the request's own target, so only request events qualify.
      from = Prisma.sql`audit_event a JOIN onboarding_request r ON r.id = a.request_id`;
      const scopes = actor.scopes.map((s) => {
        const [c, n] = s.split('/');
        return Prisma.sql`(r.cluster LIKE ${likePattern(c)} AND r.namespace LIKE ${likePattern(n)})`;
      });
      where.push(scopes.length ? Prisma.sql`(${Prisma.join(scopes, ' OR ')})` : Prisma.sql`FALSE`);
    }
    const rows = await this.prisma.$queryRaw<
      AuditRow[]
    >`SELECT a.id, a.request_id::text AS request_id, a.seq, a.actor, a.action, a.cluster, a.namespace, a.target,
      a.step, a.data, a.created_at
        FROM ${from}
       WHERE ${Prisma.join(where, ' AND ')}
       ORDER BY a.id
       LIMIT ${limit}`;
    const last = rows.at(-1);
    return { rows: rows.map(toExportRow), lastId: last === undefined ? undefined : BigInt(last.id) };
  }
}
