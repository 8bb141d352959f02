// Progress streams as a test reads them: an SSE stream read event by event, and an audit event written straight to
// Postgres (no Redis message), as the service's own writers write it.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type pg from 'pg';
import { expect } from 'vitest';
import { ADMIN_TOKEN } from './harness.js';

/** An SSE stream read event by event, so a test can act between events. */
export function openStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: EventSourceMessage[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
  });
  const done = (async () => {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted by close()
    }
    ended = true;
    for (const w of waiters.splice(0)) w();
  })();
  return {
    events,
    async waitFor(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n && !ended) {
        if (Date.now() > deadline) throw new Error(`only ${events.length} of ${n} events arrived`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return events.slice(0, n);
    },
    async ended() {
      await done;
    },
    close() {
      controller.abort();
    },
  };
}

/** Appends an event the way AuditRepository does (next seq from the request row), inside an open transaction. */
export async function appendEvent(db: pg.Client, requestId: string, action: string) {
  const { rows } = await db.query<{ id: string; seq: number }>(
    `WITH s AS (UPDATE onboarding_request SET event_seq = event_seq + 1 WHERE id = $1::uuid RETURNING event_seq)
     INSERT INTO audit_event (request_id, seq, actor, action, data)
     SELECT $1::uuid, s.event_seq, 'test', $2, '{}'::jsonb FROM s
     RETURNING id::text, seq`,
    [requestId, action],
  );
  return rows[0];
}
