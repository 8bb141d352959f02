// The client's event-stream follower (followEvents) against a local SSE server: resumption with Last-Event-ID after
// a dropped connection, retried requests, giving up when the API is unreachable, waiting out 429/503 answers for
// their Retry-After, and waitForEnd's deadline.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createOsmClient,
  followEvents,
  OsmApiError,
  OsmStreamLostError,
  OsmTimeoutError,
  waitForEnd,
  type ProgressEvent,
} from '../src/index.js';

const ID = '6a3761c2-0000-4000-8000-000000000001';
const TYPES = ['request.created', 'request.started', 'step.started', 'step.succeeded', 'request.succeeded'];
const event = (cursor: number): ProgressEvent => ({
  id: String(cursor),
  requestId: ID,
  cursor,
  type: TYPES[cursor - 1],
  actor: 'system:worker',
  step: cursor >= 3 && cursor <= 4 ? 'namespace' : null,
  message: `event ${cursor}`,
  data: {},
  at: new Date(0).toISOString(),
});
const frame = (e: ProgressEvent) => `id: ${e.cursor}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('CLI event stream follower', () => {
  it('resumes with Last-Event-ID after the connection drops, without losing or repeating events', async () => {
    const seen: (string | undefined)[] = [];
    const url = await listen((req, res) => {
      const last = Number(req.headers['last-event-id'] ?? 0);
      seen.push(req.headers['last-event-id'] as string | undefined);
      expect(req.headers.authorization).toBe('Bearer t0k');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 10\n\n');
      if (seen.length === 1) {
        // First connection: two events, half of a third, then the connection dies.
        res.write(frame(event(1)) + frame(event(2)) + frame(event(3)).slice(0, 20));
        setTimeout(() => res.destroy(), 20);
        return;
      }
      for (let c = last + 1; c <= 5; c++) res.write(frame(event(c)));
      res.end();
    });
    const reconnects: number[] = [];
    const got: number[] = [];
    for await (const e of followEvents(createOsmClient({ baseUrl: url, token: 't0k' }), ID, {
      retryMs: 10,
      isFinal: false,
      onReconnect: (_, cursor) => reconnects.push(cursor),
    })) {
      got.push(e.cursor);
    }
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(seen).toEqual(['0', '2']);
    expect(reconnects).toEqual([2]);
  });

  it("reads past an earlier attempt's final event when the request was retried", async () => {
    const types = ['request.created', 'request.failed', 'request.retried', 'request.succeeded'];
    const ev = (cursor: number) => ({ ...event(cursor), type: types[cursor - 1] });
    const url = await listen((req, res) => {
      const last = Number(req.headers['last-event-id'] ?? 0);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Like the server: the stream ends after the first final event it sends.
      for (let c = last + 1; c <= 4; c++) {
        res.write(frame(ev(c)));
        if (ev(c).type === 'request.failed' || ev(c).type === 'request.succeeded') break;
      }
      res.end();
    });
    const reconnects: number[] = [];
    const got: string[] = [];
    for await (const e of followEvents(createOsmClient({ baseUrl: url }), ID, {
      isFinal: (cursor) => Promise.resolve(cursor >= 4),
      onReconnect: (n) => reconnects.push(n),
    })) {
      got.push(e.type);
    }
    expect(got).toEqual(types);
    expect(reconnects).toEqual([]);
  });

  it('ends when the request has finished even if the resumed stream has nothing left', async () => {
    let calls = 0;
    const url = await listen((_req, res) => {
      calls += 1;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end();
    });
    const got: ProgressEvent[] = [];
    for await (const e of followEvents(createOsmClient({ baseUrl: url }), ID, {
      after: 7,
      isFinal: (cursor) => Promise.resolve(cursor === 7),
    }))
      got.push(e);
    expect(got).toEqual([]);
    expect(calls).toBe(1);
  });

  it('gives up with UNREACHABLE after repeated failures, and passes API errors through', async () => {
    const dead = createOsmClient({ baseUrl: 'http://127.0.0.1:59999' });
    const reconnects: string[] = [];
    const err = await (async () => {
      const events = followEvents(dead, ID, {
        retryMs: 1,
        maxRetries: 2,
        onReconnect: (_n, _c, why) => reconnects.push(why),
      });
      for await (const _ of events) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OsmStreamLostError);
    expect((err as Error).message).toMatch(/after 2 reconnections: cannot reach the API at http:\/\/127.0.0.1:59999/);
    expect(reconnects).toHaveLength(2);

    const url = await listen((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'REQUEST_NOT_FOUND', message: 'nope' } }));
    });
    const notFound = await (async () => {
      for await (const _ of followEvents(createOsmClient({ baseUrl: url }), ID)) void _;
    })().catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(OsmApiError);
    expect(notFound).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND', message: 'REQUEST_NOT_FOUND: nope' });
  });

  it('waits out a 503 or 429 for its Retry-After as a reconnection; other answers end the follow at once', async () => {
    const refusals = [
      { status: 503, retryAfter: '1', code: 'STREAM_CAPACITY_REACHED' },
      { status: 429, retryAfter: '0', code: 'RATE_LIMITED' },
    ];
    const at: number[] = [];
    const url = await listen((req, res) => {
      at.push(Date.now());
      const refusal = refusals[at.length - 1];
      if (refusal) {
        res.writeHead(refusal.status, { 'content-type': 'application/json', 'retry-after': refusal.retryAfter });
        res.end(JSON.stringify({ error: { code: refusal.code, message: 'try again' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let c = 1; c <= 5; c++) res.write(frame(event(c)));
      res.end();
    });
    const reasons: string[] = [];
    const got: number[] = [];
    for await (const e of followEvents(createOsmClient({ baseUrl: url }), ID, {
      retryMs: 1,
      isFinal: false,
      onReconnect: (_n, _c, why) => reasons.push(why),
    }))
      got.push(e.cursor);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(reasons).toEqual(['STREAM_CAPACITY_REACHED: try again', 'RATE_LIMITED: try again']);
    // Retry-After (1 s), not the back-off (1 ms), before the second call.
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(990);

    for (const status of [400, 401, 403, 404, 409, 422]) {
      let calls = 0;
      await new Promise<void>((r) => server!.close(() => r()));
      const other = await listen((_req, res) => {
        calls += 1;
        res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { code: 'SOME_CODE', message: 'no' } }));
      });
      const err = await (async () => {
        for await (const _ of followEvents(createOsmClient({ baseUrl: other }), ID, { retryMs: 1 })) void _;
      })().catch((e: unknown) => e);
      expect(err, String(status)).toBeInstanceOf(OsmApiError);
      expect([(err as OsmApiError).status, calls]).toEqual([status, 1]);
    }
  });

  it("waits out a 503 to the end-of-request check (the request's GET) as well", async () => {
    let gets = 0;
    const url = await listen((req, res) => {
      if (req.url!.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end();
        return;
      }
      gets += 1;
      if (gets === 1) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { code: 'DEPENDENCY_UNAVAILABLE', message: 'Postgres is away' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: ID, status: 'SUCCEEDED', lastEventCursor: 5 }));
    });
    const reasons: string[] = [];
    const got: ProgressEvent[] = [];
    for await (const e of followEvents(createOsmClient({ baseUrl: url }), ID, {
      after: 5,
      onReconnect: (_n, _c, why) => reasons.push(why),
    }))
      got.push(e);
    expect([got, reasons, gets]).toEqual([[], ['DEPENDENCY_UNAVAILABLE: Postgres is away'], 2]);
  });

  it("gives up on 503s after maxRetries with the API's answer; a deadline ends a Retry-After wait", async () => {
    let calls = 0;
    let retryAfter = '0';
    const url = await listen((req, res) => {
      if (!req.url!.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: ID, status: 'QUEUED', lastEventCursor: 1 }));
        return;
      }
      calls += 1;
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter });
      res.end(JSON.stringify({ error: { code: 'STREAM_CAPACITY_REACHED', message: 'full' } }));
    });
    const client = createOsmClient({ baseUrl: url });
    const err = await (async () => {
      for await (const _ of followEvents(client, ID, { maxRetries: 2 })) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OsmApiError);
    expect([(err as OsmApiError).status, (err as OsmApiError).code, calls]).toEqual([
      503,
      'STREAM_CAPACITY_REACHED',
      3,
    ]);
    expect((err as OsmApiError).retryAfterSeconds).toBe(0);

    // A Retry-After is waited at most maxRetryAfterMs.
    retryAfter = '3600';
    calls = 0;
    const capped = await (async () => {
      for await (const _ of followEvents(client, ID, { maxRetries: 1, maxRetryAfterMs: 100 })) void _;
    })().catch((e: unknown) => e);
    expect([(capped as OsmApiError).retryAfterSeconds, calls]).toEqual([3600, 2]);

    retryAfter = '30';
    const started = Date.now();
    const timedOut = await waitForEnd(client, ID, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(OsmTimeoutError);
    expect((timedOut as OsmTimeoutError).request?.status).toBe('QUEUED');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('waitForEnd returns the final request, and gives up at its deadline with the last known state', async () => {
    let status = 'SUCCEEDED';
    const url = await listen((req, res) => {
      if (!req.url!.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: ID, status, lastEventCursor: status === 'SUCCEEDED' ? 5 : 2 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (status === 'SUCCEEDED') for (let c = 1; c <= 5; c++) res.write(frame(event(c)));
      else res.write(frame(event(1)) + frame(event(2))); // then nothing: the request is still running
      if (status === 'SUCCEEDED') res.end();
    });
    const seen: number[] = [];
    const done = await waitForEnd(createOsmClient({ baseUrl: url }), ID, { onEvent: (e) => void seen.push(e.cursor) });
    expect(done.status).toBe('SUCCEEDED');
    expect(seen).toEqual([1, 2, 3, 4, 5]);

    status = 'RUNNING';
    const started = Date.now();
    const err = await waitForEnd(createOsmClient({ baseUrl: url }), ID, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OsmTimeoutError);
    expect((err as OsmTimeoutError).request?.status).toBe('RUNNING');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
