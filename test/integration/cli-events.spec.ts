// The CLI's event-stream follower (src/cli/events.ts) against a local SSE server: resumption with
// Last-Event-ID after a dropped connection, retried requests, and giving up when the API is unreachable.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, CliError, EXIT } from '../../src/cli/client.js';
import { followEvents, type ProgressEvent } from '../../src/cli/events.js';

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
    for await (const e of followEvents(new ApiClient({ url, token: 't0k' }), ID, {
      retryMs: 10,
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
    for await (const e of followEvents(new ApiClient({ url }), ID, {
      isFinal: async (cursor) => cursor >= 4,
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
    for await (const e of followEvents(new ApiClient({ url }), ID, {
      after: 7,
      isFinal: async (cursor) => cursor === 7,
    }))
      got.push(e);
    expect(got).toEqual([]);
    expect(calls).toBe(1);
  });

  it('gives up with UNREACHABLE after repeated failures, and passes API errors through', async () => {
    const dead = new ApiClient({ url: 'http://127.0.0.1:59999' });
    const err = await (async () => {
      for await (const _ of followEvents(dead, ID, { retryMs: 1, maxRetries: 2 })) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.UNREACHABLE);

    const url = await listen((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'REQUEST_NOT_FOUND', message: 'nope' } }));
    });
    const notFound = await (async () => {
      for await (const _ of followEvents(new ApiClient({ url }), ID)) void _;
    })().catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ApiError);
    expect((notFound as ApiError).exitCode).toBe(EXIT.FAILED);
  });
});
