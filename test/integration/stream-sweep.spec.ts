// The store check behind the open progress streams (src/events/stream-sweep.ts): an event that no Redis message
// carried reaches an SSE stream, a GraphQL subscription and a batch stream within PROGRESS_POLL_MS; one statement
// checks all of a process's streams; a closed stream is no longer followed.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamSweep } from '../../src/events/stream-sweep.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { appendEvent, openStream } from '../support/event-streams.js';
import { http, startStack, Stack, uniqueName, wsClient } from '../support/harness.js';

/** Requests that stay QUEUED (the stack runs no worker), so only the test writes their events. */
async function queuedRequests(s: Stack, n: number): Promise<string[]> {
  const names = Array.from({ length: n }, () => uniqueName('sweep'));
  for (const ns of names) seedAppNamespace(s.emulator.store, ns);
  await s.emulator.idle();
  const ids: string[] = [];
  for (const namespace of names) {
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace });
    expect(r.status).toBe(202);
    ids.push(r.body.id);
  }
  return ids;
}

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An API-only stack (no worker) with this PROGRESS_POLL_MS, and a Postgres client of its database. */
function apiStack(pollMs: string): { s: Stack; db: pg.Client } {
  const t = {} as { s: Stack; db: pg.Client };
  beforeAll(async () => {
    t.s = await startStack({ env: { ROLE: 'api', PROGRESS_POLL_MS: pollMs } });
    t.db = new pg.Client({ connectionString: t.s.config.databaseUrl });
    await t.db.connect();
  });
  afterAll(async () => {
    await t.db?.end();
    await t.s?.close();
  });
  return t;
}

describe('progress streams find the events Redis did not carry (PROGRESS_POLL_MS=200)', () => {
  const t = apiStack('200');

  it('over SSE, GraphQL and a batch stream, each within a few sweeps', async () => {
    const [overSse, overWs] = await queuedRequests(t.s, 2);
    const names = [uniqueName('sweepb'), uniqueName('sweepb')];
    for (const ns of names) seedAppNamespace(t.s.emulator.store, ns);
    await t.s.emulator.idle();
    const batch = await http(t.s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { dryRun: true },
    });
    expect(batch.status).toBe(202);
    const member: string = batch.body.requests[0].id;

    const sse = openStream(`${t.s.url}/v1/onboardings/${overSse}/events`);
    const batchStream = openStream(`${t.s.url}/v1/batches/${batch.body.id}/events`);
    const client = wsClient(t.s.url);
    const overGraphql: { type: string }[] = [];
    const unsubscribe = client.subscribe(
      {
        query: 'subscription($id: ID!) { onboardingProgress(requestId: $id, after: 1) { cursor type } }',
        variables: { id: overWs },
      },
      {
        next: (m) => overGraphql.push((m.data as { onboardingProgress: { type: string } }).onboardingProgress),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    try {
      await sse.waitFor(1);
      const { rows } = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM audit_event WHERE request_id = ANY($1::uuid[])',
        [batch.body.requests.map((r: { id: string }) => r.id)],
      );
      const storedInBatch = rows[0].n;
      await batchStream.waitFor(storedInBatch);
      // The GraphQL subscription has opened once the API follows its request (nothing to replay after cursor 1).
      await until('the subscription follows its request', () => t.s.app.get(StreamSweep).followed >= 4);

      const started = Date.now();
      await appendEvent(t.db, overSse, 'test.unpublished');
      await appendEvent(t.db, overWs, 'test.unpublished');
      await appendEvent(t.db, member, 'test.unpublished');
      expect((await sse.waitFor(2, 5_000))[1].event).toBe('test.unpublished');
      expect((await batchStream.waitFor(storedInBatch + 1, 5_000)).at(-1)!.event).toBe('test.unpublished');
      await until('the GraphQL subscription gets the event', () => overGraphql.length === 1);
      expect(overGraphql[0].type).toBe('test.unpublished');
      // Well before the old per-stream poll (10 s) would have read the store.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      sse.close();
      batchStream.close();
      unsubscribe();
      await client.dispose();
    }
    // Closed streams are no longer followed (the sweep's timer stops with the last one).
    await until('no stream followed', () => t.s.app.get(StreamSweep).followed === 0);
  });
});

describe('one statement per pass (PROGRESS_POLL_MS=600000: the test runs the passes)', () => {
  const t = apiStack('600000');

  it('checks every open stream in one statement and wakes the ones behind the store', async () => {
    const ids = await queuedRequests(t.s, 12);
    const streams = ids.map((id) => openStream(`${t.s.url}/v1/onboardings/${id}/events`));
    try {
      for (const stream of streams) await stream.waitFor(1);
      const sweep = t.s.app.get(StreamSweep);
      expect(sweep.followed).toBe(12);
      await appendEvent(t.db, ids[3], 'test.unpublished');
      await appendEvent(t.db, ids[7], 'test.unpublished');
      const statements: string[][] = [];
      await sweep.sweep((chunk) => {
        statements.push(chunk);
        return sweep.read(chunk);
      });
      expect(statements).toHaveLength(1);
      expect([...statements[0]].sort()).toEqual([...ids].sort());
      expect((await streams[3].waitFor(2, 5_000))[1].event).toBe('test.unpublished');
      expect((await streams[7].waitFor(2, 5_000))[1].event).toBe('test.unpublished');
      expect(streams.filter((st) => st.events.length === 2)).toHaveLength(2);
    } finally {
      for (const stream of streams) stream.close();
    }
    await until('no stream followed', () => t.s.app.get(StreamSweep).followed === 0);
  });

  it('reads 1,000 requests per statement and wakes the streams of requests that are gone', async () => {
    const sweep = t.s.app.get(StreamSweep);
    let woken = 0;
    const gone = Array.from({ length: 1001 }, () =>
      sweep.add(randomUUID(), { last: () => 0, behind: () => void woken++ }),
    );
    try {
      const sizes: number[] = [];
      await sweep.sweep((chunk) => {
        sizes.push(chunk.length);
        return sweep.read(chunk);
      });
      expect(sizes).toEqual([1000, 1]);
      expect(woken).toBe(1001);
    } finally {
      for (const stop of gone) stop();
    }
    expect(sweep.followed).toBe(0);
  });
});
