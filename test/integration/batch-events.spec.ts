// A batch's event stream delivers every member's events, including one that commits after an event with a higher
// global id was already delivered (ids are taken at insert, not at commit), and resumes from its batch cursor; a
// cursor it cannot resume from (another batch's, an event id past bigint) is a field error.
import type { EventSourceMessage } from 'eventsource-parser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditRepository } from '../../src/audit/audit.repository.js';
import { EventBus } from '../../src/events/event-bus.service.js';
import { toProgressEvent } from '../../src/events/progress-event.js';
import { ProgressService } from '../../src/events/progress.service.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { ADMIN_TOKEN, http, startStack, Stack, uniqueName, wsClient } from '../support/harness.js';
import { appendEvent, openStream } from '../support/event-streams.js';

describe('batch event stream: none skipped, resumable', () => {
  let s: Stack;
  let early: pg.Client;
  let late: pg.Client;

  beforeAll(async () => {
    s = await startStack();
    early = new pg.Client({ connectionString: s.config.databaseUrl });
    late = new pg.Client({ connectionString: s.config.databaseUrl });
    await Promise.all([early.connect(), late.connect()]);
  });
  afterAll(async () => {
    await Promise.all([early?.end(), late?.end()]);
    await s?.close();
  });

  /** A batch whose two members stay PLANNED (dry run), so only this test writes their events. */
  async function plannedBatch() {
    const names = [uniqueName('bev'), uniqueName('bev')];
    for (const ns of names) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const created = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { dryRun: true },
    });
    expect(created.status).toBe(202);
    const ids: string[] = created.body.requests.map((r: { id: string }) => r.id);
    const { rows } = await early.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM audit_event WHERE request_id = ANY($1::uuid[])',
      [ids],
    );
    return { id: created.body.id as string, members: ids, stored: rows[0].n };
  }

  const wake = (requestId: string, action: string) =>
    s.app.get(EventBus).publish([
      toProgressEvent({
        id: 0n,
        requestId,
        seq: 0,
        actor: 'test',
        action,
        cluster: null,
        namespace: null,
        target: null,
        step: null,
        data: {},
        createdAt: new Date(),
      }),
    ]);

  it('delivers an event that commits after one with a higher id was delivered', async () => {
    const b = await plannedBatch();
    const stream = openStream(`${s.url}/v1/batches/${b.id}/events`);
    try {
      await stream.waitFor(b.stored);

      await late.query('BEGIN');
      const lateEvent = await appendEvent(late, b.members[0], 'test.late'); // lower id, not committed yet
      await early.query('BEGIN');
      const earlyEvent = await appendEvent(early, b.members[1], 'test.early');
      await early.query('COMMIT');
      expect(BigInt(earlyEvent.id)).toBeGreaterThan(BigInt(lateEvent.id));
      await wake(b.members[1], 'test.early');
      const [, e1] = (await stream.waitFor(b.stored + 1)).slice(-2);
      expect(e1.event).toBe('test.early');

      await late.query('COMMIT');
      await wake(b.members[0], 'test.late');
      const e2 = (await stream.waitFor(b.stored + 2)).at(-1)!;
      expect(e2.event).toBe('test.late');
      expect(JSON.parse(e2.data).id).toBe(`${b.members[0]}:${lateEvent.seq}`);

      // Resuming after the early event (whose global id is higher) still brings the late one.
      const resumed = openStream(`${s.url}/v1/batches/${b.id}/events`, { 'last-event-id': e1.id! });
      try {
        const [next] = await resumed.waitFor(1);
        expect(next.event).toBe('test.late');
        expect(next.id).toBe(e2.id);
      } finally {
        resumed.close();
      }
    } finally {
      stream.close();
    }
  });

  it('reads again only the members an event named, not the whole batch on every event', async () => {
    const b = await plannedBatch();
    const audit = s.app.get(AuditRepository);
    const reads = vi.spyOn(audit, 'forRequestsAfter');
    const stream = openStream(`${s.url}/v1/batches/${b.id}/events`);
    try {
      await stream.waitFor(b.stored);
      expect([...reads.mock.calls[0][0].keys()].sort()).toEqual([...b.members].sort()); // the first pass: all
      reads.mockClear();
      await appendEvent(early, b.members[1], 'test.one');
      await wake(b.members[1], 'test.one');
      expect((await stream.waitFor(b.stored + 1)).at(-1)!.event).toBe('test.one');
      expect(reads.mock.calls.length).toBeGreaterThan(0);
      for (const [after] of reads.mock.calls) expect([...after.keys()]).toEqual([b.members[1]]);
    } finally {
      stream.close();
      reads.mockRestore();
    }
  });

  it("listens to every member's events while open, and to none once closed", async () => {
    // The streams' bus (the webhook fan-out has an EventBus of its own).
    const bus = s.app.get(ProgressService)['bus'];
    await expect.poll(() => bus.listenerCount()).toBe(0); // the streams of the tests before have let go
    const b = await plannedBatch();
    const stream = openStream(`${s.url}/v1/batches/${b.id}/events`);
    try {
      await stream.waitFor(b.stored);
      expect(bus.listenerCount()).toBe(b.members.length);
    } finally {
      stream.close();
    }
    await expect.poll(() => bus.listenerCount()).toBe(0);
  });

  it('resumes over SSE and GraphQL from a batch cursor; refuses a foreign cursor with a field error', async () => {
    const b = await plannedBatch();
    const other = await plannedBatch();
    const first = openStream(`${s.url}/v1/batches/${b.id}/events`);
    const stored = await first.waitFor(b.stored);
    first.close();
    const cursor = stored[0].id!;
    expect(cursor).toMatch(/^b2\.[0-9a-f]{8}\.\d+\.\d+$/);

    // Cancel both members: their final events end the streams below.
    for (const id of b.members) {
      expect((await http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, {})).status).toBe(200);
    }
    const rest = openStream(`${s.url}/v1/batches/${b.id}/events?after=${encodeURIComponent(cursor)}`);
    await rest.ended();
    const eventId = (e: EventSourceMessage) => (JSON.parse(e.data) as { id: string }).id;
    expect(rest.events.slice(0, stored.length - 1).map(eventId)).toEqual(stored.slice(1).map(eventId));
    expect(rest.events.filter((e) => e.event === 'request.cancelled')).toHaveLength(2);

    const client = wsClient(s.url);
    const subscribe = (after: string) =>
      new Promise<{ events: { id: string; batchCursor: string }[]; error?: unknown }>((resolve) => {
        const events: { id: string; batchCursor: string }[] = [];
        client.subscribe(
          {
            query: 'subscription($b: ID!, $a: String) { batchProgress(batchId: $b, after: $a) { id batchCursor } }',
            variables: { b: b.id, a: after },
          },
          {
            next: (m) => {
              if (m.errors) resolve({ events, error: m.errors });
              else events.push((m.data as { batchProgress: { id: string; batchCursor: string } }).batchProgress);
            },
            error: (error) => resolve({ events, error }),
            complete: () => resolve({ events }),
          },
        );
      });
    try {
      const overWs = await subscribe(cursor);
      expect(overWs.error).toBeUndefined();
      expect(overWs.events.map((e) => e.id)).toEqual(rest.events.map(eventId));
      expect(overWs.events.map((e) => e.batchCursor)).toEqual(rest.events.map((e) => e.id));
      const garbage = await subscribe('nope');
      expect((garbage.error as { extensions: { code: string } }[])[0].extensions.code).toBe('VALIDATION_FAILED');
    } finally {
      await client.dispose();
    }

    // A cursor with another member count than this batch's is a 422 naming the field.
    const wrong = await http(s.url, 'GET', `/v1/batches/${other.id}/events?after=b1.1.2.3`);
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(wrong.body.error)).toContain('after');
  });

  it("refuses another batch's cursor and a position past a member's last event, over SSE and graphql-ws", async () => {
    const b = await plannedBatch();
    const other = await plannedBatch(); // as many members as b
    const first = openStream(`${s.url}/v1/batches/${b.id}/events`);
    const [event] = await first.waitFor(1);
    first.close();
    const foreign = event.id!;
    const seqs = foreign.split('.').slice(2);
    const refusals: [string, Record<string, string>, string][] = [
      [`?after=${encodeURIComponent(foreign)}`, {}, 'after'],
      ['', { 'last-event-id': foreign }, 'Last-Event-ID'],
      // The older format (no batch in it) cannot name its batch, but its positions cannot pass what was stored.
      ['?after=b1.999999.999999', {}, 'after'],
      ['', { 'last-event-id': `b1.${b.stored}.999999` }, 'Last-Event-ID'],
      // This batch's own fingerprint with made-up positions.
      [`?after=${foreign.split('.').slice(0, 2).join('.')}.${seqs[0]}.999999`, {}, 'after'],
    ];
    /** The answer's status and, for a refusal, its error; a stream that opens is let go at once. */
    const open = async (path: string, headers: Record<string, string> = {}) => {
      const aborter = new AbortController();
      const res = await fetch(`${s.url}${path}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
        signal: aborter.signal,
      });
      const error = res.status === 200 ? undefined : ((await res.json()) as { error: any }).error;
      aborter.abort();
      return { status: res.status, error };
    };
    for (const [batch, [path, headers, field]] of refusals.map((r, i) => [i < 2 ? other : b, r] as const)) {
      const r = await open(`/v1/batches/${batch.id}/events${path}`, headers);
      expect([r.status, r.error?.code], `${path} ${JSON.stringify(headers)}`).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    }
    // The older format within what was stored still resumes: the stream opens.
    expect((await open(`/v1/batches/${b.id}/events?after=b1.1.1`)).status).toBe(200);

    const client = wsClient(s.url);
    try {
      const refused = await new Promise<unknown>((resolve) =>
        client.subscribe(
          {
            query: 'subscription($b: ID!, $a: String) { batchProgress(batchId: $b, after: $a) { id } }',
            variables: { b: other.id, a: foreign },
          },
          { next: (m) => resolve(m.errors), error: resolve, complete: () => resolve('completed') },
        ),
      );
      expect(refused).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({
            code: 'VALIDATION_FAILED',
            fields: [expect.objectContaining({ field: 'after' })],
          }),
        }),
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a repeated `after` query parameter with a field error, as a request stream does, not a 500', async () => {
    const b = await plannedBatch();
    for (const query of ['after=1&after=2', 'after=b1.0.0&after=b1.0.0']) {
      const r = await http(s.url, 'GET', `/v1/batches/${b.id}/events?${query}`);
      expect([r.status, r.body.error?.code], query).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields.map((f: { field: string }) => f.field)).toEqual(['after']);
    }
    // An unknown parameter too, as the lists refuse one (a client sending `after[]` would replay from the start).
    for (const [query, field] of [
      ['zzz=1', 'zzz'],
      ['after[]=b1.0.0', 'after[]'],
    ]) {
      const r = await http(s.url, 'GET', `/v1/batches/${b.id}/events?${query}`);
      expect([r.status, r.body.error?.code], query).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields).toEqual([{ field, message: 'unknown field' }]);
    }
  });

  it('refuses an event-id cursor above bigint (2^63 - 1) with a field error, over SSE and graphql-ws', async () => {
    const b = await plannedBatch();
    const over = '9223372036854775808';
    const message = 'an event id is at most 9223372036854775807';
    for (const [path, headers, field] of [
      [`?after=${over}`, {}, 'after'],
      ['', { 'last-event-id': over }, 'Last-Event-ID'],
      ['?after=b1.0.0', { 'last-event-id': over }, 'Last-Event-ID'],
    ] as const) {
      const r = await http(s.url, 'GET', `/v1/batches/${b.id}/events${path}`, undefined, headers);
      expect([r.status, r.body.error.code], `${path} ${JSON.stringify(headers)}`).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields).toEqual([{ field, message: `${field}: ${message}` }]);
    }
    // The largest id is an event id, but past every member's last event: no position of this stream.
    const top = await http(s.url, 'GET', `/v1/batches/${b.id}/events`, undefined, {
      'last-event-id': '9223372036854775807',
    });
    expect([top.status, top.body.error.fields]).toEqual([
      422,
      [{ field: 'Last-Event-ID', message: "Last-Event-ID: is past the last event of the batch's members" }],
    ]);
    // An id at or before them is a cursor: the stream opens.
    const opened = new AbortController();
    const zero = await fetch(`${s.url}/v1/batches/${b.id}/events`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': '0' },
      signal: opened.signal,
    });
    opened.abort();
    expect([zero.status, zero.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);

    const client = wsClient(s.url);
    try {
      const refused = await new Promise<unknown>((resolve) =>
        client.subscribe(
          {
            query: 'subscription($b: ID!, $a: String) { batchProgress(batchId: $b, after: $a) { id } }',
            variables: { b: b.id, a: over },
          },
          { next: (m) => resolve(m.errors), error: resolve, complete: () => resolve('completed') },
        ),
      );
      expect(refused).toEqual([
        expect.objectContaining({
          message: `after: ${message}`,
          extensions: { code: 'VALIDATION_FAILED', fields: [{ field: 'after', message: `after: ${message}` }] },
        }),
      ]);
    } finally {
      await client.dispose();
    }
  });
});
