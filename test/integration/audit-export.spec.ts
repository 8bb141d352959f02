import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import pg from 'pg';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { ADMIN_TOKEN, http, startStack, Stack, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { AuditExportService, EXPORT_PAGE_SIZE } from '../../src/audit-export/audit-export.service.js';

/** RFC 4180 parser for the test's side (quoted fields, doubled quotes, CRLF inside quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}

/** Streams a GET, recording when each chunk arrived. */
function stream(
  url: string,
  token = ADMIN_TOKEN,
): Promise<{
  status: number;
  headers: Record<string, unknown>;
  body: string;
  chunks: { at: number; bytes: number }[];
}> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: { at: number; bytes: number }[] = [];
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push({ at: performance.now(), bytes: c.length });
        parts.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString('utf8'), chunks }),
      );
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('audit export: filtered, streamed as JSON lines or CSV', () => {
  let s: Stack;
  let db: pg.Client;
  const p = `aud${randomBytes(3).toString('hex')}`;
  const bulkActor = `bulk:${p}`;
  let viewer: string;
  let inScopeId: string;
  let outOfScopeId: string;

  beforeAll(async () => {
    s = await startStack();
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    // 5,000 rows straight into the table, one minute apart, with awkward characters on every 1000th
    // (in January 2026: the audit trail is partitioned by month, and only the months from now on exist ahead).
    await db.query(`SELECT audit_event_ensure_partitions('2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z')`);
    await db.query(
      `INSERT INTO audit_event (actor, action, cluster, namespace, target, data, created_at)
       SELECT $1, CASE WHEN g % 2 = 0 THEN 'bulk.even' ELSE 'bulk.odd' END, 'emulator', $2 || '-bulk',
              CASE WHEN g % 1000 = 0 THEN E'a,"quoted"\\r\\nline' WHEN g % 1000 = 500 THEN '=1+2'
                     ELSE 'namespaces/x' END,
              jsonb_build_object('n', g, 'note', CASE WHEN g % 1000 = 0 THEN E'=cmd|x, "q"\\n' ELSE 'ok' END),
              TIMESTAMPTZ '2026-01-01T00:00:00Z' + g * INTERVAL '1 minute'
         FROM generate_series(1, 5000) AS g`,
      [bulkActor, p],
    );
    viewer = (
      await http(s.url, 'POST', '/v1/tokens', {
        name: `${p}-viewer`,
        roles: ['viewer'],
        scopes: [`emulator/${p}-in-*`],
      })
    ).body.token;
    for (const [ns, set] of [
      [`${p}-in-1`, (id: string) => (inScopeId = id)],
      [`${p}-out-1`, (id: string) => (outOfScopeId = id)],
    ] as const) {
      await createNamespace(s.emulator, ns);
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
      await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
      set(r.body.id);
    }
  });
  afterAll(async () => {
    await db?.end();
    await s?.close();
  });

  it('streams 5,000 rows as JSON lines in keyset pages, never the whole result at once', async () => {
    const service = s.app.get(AuditExportService);
    const paged = service as unknown as { page: (...args: unknown[]) => Promise<{ rows: unknown[] }> };
    const original = paged.page.bind(service);
    const pageSpy = vi.spyOn(paged, 'page');
    const calls: { at: number; rows: number }[] = [];
    pageSpy.mockImplementation(async (...args: unknown[]) => {
      const page = await original(...args);
      calls.push({ at: performance.now(), rows: page.rows.length });
      return page;
    });
    try {
      const r = await stream(`${s.url}/v1/audit?actor=${encodeURIComponent(bulkActor)}`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(r.headers['content-disposition']).toMatch(/^attachment; filename="audit-.*\.jsonl"$/);
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['transfer-encoding']).toBe('chunked');
      const lines = r.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(5000);
      expect(lines.map((l) => Number(l.data.n))).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
      expect(lines[0]).toEqual({
        id: expect.stringMatching(/^\d+$/),
        requestId: null,
        cursor: null,
        createdAt: '2026-01-01T00:01:00.000Z',
        actor: bulkActor,
        action: 'bulk.odd',
        cluster: 'emulator',
        namespace: `${p}-bulk`,
        target: 'namespaces/x',
        step: null,
        data: { n: 1, note: 'ok' },
      });
      // Read in pages of 500 (10 full pages and the empty one that ends it) ...
      expect(calls.map((c) => c.rows)).toEqual([...Array(10).fill(EXPORT_PAGE_SIZE), 0]);
      // ... and written as they came: the first bytes reached the client before the last page was read.
      expect(r.chunks.length).toBeGreaterThan(1);
      expect(r.chunks[0].at).toBeLessThan(calls.at(-1)!.at);
    } finally {
      pageSpy.mockRestore();
    }
  });

  it('exports CSV with a header, properly quoted fields and neutralised formulas', async () => {
    const r = await stream(`${s.url}/v1/audit?actor=${encodeURIComponent(bulkActor)}&format=csv`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="audit-.*\.csv"$/);
    const rows = parseCsv(r.body);
    expect(rows[0]).toEqual([
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
    ]);
    expect(rows).toHaveLength(5001);
    expect(rows.every((row) => row.length === 11)).toBe(true);
    const byN = new Map(rows.slice(1).map((row) => [JSON.parse(row[10]).n as number, row]));
    const tricky = byN.get(1000)!;
    expect(tricky[8]).toBe('a,"quoted"\r\nline');
    // JSON starts with {, so no prefix needed
    expect(JSON.parse(tricky[10])).toEqual({ n: 1000, note: '=cmd|x, "q"\n' });
    expect(r.body).toContain('"a,""quoted""\r\nline"');
    expect(byN.get(500)![8]).toBe("'=1+2"); // a spreadsheet would run =1+2
  });

  it('filters by actor, action (exact or pattern), cluster, namespace and time range', async () => {
    const count = async (q: string) =>
      (await stream(`${s.url}/v1/audit?actor=${encodeURIComponent(bulkActor)}&${q}`)).body
        .trimEnd()
        .split('\n')
        .filter(Boolean).length;
    expect(await count('action=bulk.even')).toBe(2500);
    expect(await count('action=bulk.*')).toBe(5000);
    expect(await count('action=bulk.od*')).toBe(2500);
    expect(await count(`cluster=emulator&namespace=${p}-bulk`)).toBe(5000);
    expect(await count('namespace=elsewhere')).toBe(0);
    // since inclusive, until exclusive: minutes 61..120.
    const window = await stream(
      `${s.url}/v1/audit?actor=${encodeURIComponent(bulkActor)}&since=2026-01-01T01:01:00Z&until=2026-01-01T02:01:00Z`,
    );
    const ns = window.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).data.n);
    expect(ns).toEqual(Array.from({ length: 60 }, (_, i) => i + 61));
    expect(await count('since=2026-01-04')).toBe(5000 - 4320 + 1); // from 2026-01-04T00:00Z = minute 4320
  });

  it('reads since/until as exact instants: 422 naming the field for a date the calendar or Postgres lack', async () => {
    const refused = async (q: string) => {
      const r = await http(s.url, 'GET', `/v1/audit?${q}`);
      return [r.status, r.body.error?.code, r.body.error?.fields?.map((f: any) => f.field).join()];
    };
    for (const [q, field] of [
      // Year 0000, directly or once in UTC (Postgres refuses it: 22008, which was a 500), and past 9999.
      ['since=0000-01-01', 'since'],
      ['until=0000-12-31T23:59:59Z', 'until'],
      ['since=0001-01-01T00:30:00%2B01:00', 'since'],
      ['until=9999-12-31T23:30:00-01:00', 'until'],
      // Dates and times that do not exist (Date would move them: Feb 30 → Mar 2, Apr 31 → May 1, 24:00 → next day).
      ['since=2026-02-30', 'since'],
      ['until=2026-04-31', 'until'],
      ['since=2025-02-29', 'since'],
      ['since=2026-01-01T24:00:00Z', 'since'],
      ['until=2026-01-01T10:00:60Z', 'until'],
      ['since=2026-01-01T10:60Z', 'since'],
      // A time without its zone (would be the server's local time), a fraction finer than a millisecond.
      ['since=2026-01-01T10:00:00', 'since'],
      ['until=2026-01-01T10:00:40.515999Z', 'until'],
    ]) {
      expect(await refused(q), q).toEqual([422, 'VALIDATION_FAILED', field]);
    }
    const messages = await http(s.url, 'GET', '/v1/audit?since=2026-02-30&until=2026-01-01T10:00:00');
    expect(messages.body.error.fields).toEqual([
      { field: 'since', message: 'is not a calendar date' },
      { field: 'until', message: expect.stringMatching(/time zone \(Z or ±hh:mm\)/) },
    ]);
    // The first and last instants Postgres takes, a leap day, an offset: accepted.
    for (const q of [
      'since=0001-01-01&until=9999-12-31T23:59:59.999Z',
      'since=2024-02-29',
      'since=2026-01-01T10:00:00%2B05:30',
    ]) {
      expect((await http(s.url, 'GET', `/v1/audit?actor=nobody&${q}`)).status, q).toBe(200);
    }
  });

  it('bounds since/until at the millisecond, the precision events are stored and exported with', async () => {
    const actor = `ms:${p}`;
    await db.query(
      `INSERT INTO audit_event (actor, action, data, created_at)
       VALUES ($1, 'at.515', '{}', '2026-01-03T00:00:40.515Z'), ($1, 'at.516', '{}', '2026-01-03T00:00:40.516Z')`,
      [actor],
    );
    const actions = async (q: string) => {
      const r = await stream(`${s.url}/v1/audit?actor=${encodeURIComponent(actor)}&${q}`);
      expect(r.status, q).toBe(200);
      return r.body
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).action);
    };
    expect(await actions('since=2026-01-03T00:00:40.515Z')).toEqual(['at.515', 'at.516']);
    expect(await actions('since=2026-01-03T00:00:40.516Z')).toEqual(['at.516']);
    expect(await actions('since=2026-01-03T01:00:40.516%2B01:00')).toEqual(['at.516']);
    expect(await actions('since=2026-01-03&until=2026-01-03T00:00:40.516Z')).toEqual(['at.515']);
    // Finer than that is refused rather than cut: 40.515999 would have included the event at 40.515.
    const finer = await http(s.url, 'GET', `/v1/audit?since=2026-01-03T00:00:40.515999Z`);
    expect([finer.status, finer.body.error.fields]).toEqual([
      422,
      [{ field: 'since', message: 'must have at most 3 fraction digits (millisecond precision)' }],
    ]);
  });

  it('limits non-admins to events of requests in their scopes (no token events); admins see everything', async () => {
    const mine = await stream(`${s.url}/v1/audit?cluster=emulator`, viewer);
    expect(mine.status).toBe(200);
    const events = mine.body
      .trimEnd()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThan(3);
    expect(new Set(events.map((e) => e.requestId))).toEqual(new Set([inScopeId]));
    expect(events.map((e) => e.action)).toContain('request.succeeded');
    const tokens = await stream(`${s.url}/v1/audit?action=token.*`, viewer);
    expect(tokens.body).toBe('');
    const asAdmin = await stream(
      `${s.url}/v1/audit?action=token.created&since=` +
        encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString()),
    );
    expect(asAdmin.body).toContain(`${p}-viewer`);
    const outOfScope = await stream(`${s.url}/v1/audit?requestId=${outOfScopeId}`, viewer);
    expect(outOfScope.body).toBe('');
    const adminOut = await stream(`${s.url}/v1/audit?requestId=${outOfScopeId}&format=csv`);
    expect(parseCsv(adminOut.body).length).toBeGreaterThan(3);
  });

  it(
    'answers bad input with 422 and field-level messages and 401 before streaming; a scope-less viewer gets an ' +
      'empty export',
    async () => {
      const bad = await http(s.url, 'GET', '/v1/audit?format=xml&since=yesterday&requestId=42&colour=red');
      expect(bad.status).toBe(422);
      const fields = Object.fromEntries(bad.body.error.fields.map((f: any) => [f.field, f.message]));
      expect(fields).toEqual({
        format: 'must be jsonl or csv',
        since: expect.stringMatching(/ISO 8601/),
        requestId: 'must be a UUID',
        colour: 'unknown field',
      });
      const range = await http(s.url, 'GET', '/v1/audit?since=2026-02-01&until=2026-01-01');
      expect(range.body.error.fields).toEqual([{ field: 'until', message: 'must be after since' }]);
      expect((await http(s.url, 'GET', '/v1/audit', undefined, { authorization: '' })).status).toBe(401);
      const noRole = (await http(s.url, 'POST', '/v1/tokens', { name: `${p}-norole`, roles: ['viewer'], scopes: [] }))
        .body.token;
      const empty = await stream(`${s.url}/v1/audit`, noRole);
      expect(empty.status).toBe(200);
      expect(empty.body).toBe('');
    },
  );

  it('misses no event that commits after a higher id did (ids are drawn in order, not committed so)', async () => {
    const late = new pg.Client({ connectionString: testDatabaseUrl() });
    await late.connect();
    const action = `late.${p}`;
    const insert = `INSERT INTO audit_event (actor, action, data) VALUES ('test', $1, '{}') RETURNING id`;
    try {
      // A writer draws the lower id and has not committed yet; another commits a higher one meanwhile.
      await late.query('BEGIN');
      const low = (await late.query(insert, [action])).rows[0].id;
      const high = (await db.query(insert, [action])).rows[0].id;
      expect(BigInt(high)).toBeGreaterThan(BigInt(low));
      const exported = stream(`${s.url}/v1/audit?action=${action}`);
      await new Promise((r) => setTimeout(r, 300));
      await late.query('COMMIT');
      const ids = (await exported).body
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).id);
      expect(ids).toEqual([low, high]);
    } finally {
      await late.end();
    }
  });

  it("waits for this database's transactions only: one in another database of the server holds nothing", async () => {
    const url = new URL(testDatabaseUrl());
    url.pathname = '/postgres';
    const other = new pg.Client({ connectionString: url.toString() });
    await other.connect();
    const warn = vi.spyOn(Logger.prototype, 'warn');
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()'); // it holds a transaction id, as a writer would
      await db.query('SELECT pg_current_xact_id()'); // and a younger one of ours has ended since
      const exported = await stream(`${s.url}/v1/audit?action=none.${p}`);
      expect(exported.status).toBe(200);
      // Waiting for it, the export would have given up after its longest wait (5 s) with this warning.
      expect(warn.mock.calls.filter(([m]) => String(m).startsWith('audit export'))).toEqual([]);
    } finally {
      warn.mockRestore();
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  });
});
