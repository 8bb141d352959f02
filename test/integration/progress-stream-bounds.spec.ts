// The bounds on the progress streams one API process holds open (src/events/stream-slots.ts): per caller
// (TOO_MANY_STREAMS, 429) and in all (STREAM_CAPACITY_REACHED, 503 with Retry-After), refused before anything is
// written, with the same code over SSE, graphql-ws and batch streams; a stream gives its slot back when the client
// leaves, when its request ends, and a refused or failed open holds none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressService } from '../../src/events/progress.service.js';
import { StreamSlots } from '../../src/events/stream-slots.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { openStream } from '../support/event-streams.js';
import { ADMIN_TOKEN, http, startStack, type Stack, uniqueName, wsClient } from '../support/harness.js';

const PER_CALLER = 2;
const IN_ALL = 3;

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A refused stream: its status, Retry-After and body (the stream never starts). */
async function refusedSse(url: string, token: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

/** The first message of a subscription: its data, or the code of its error. */
function firstOfSubscription(s: Stack, token: string, requestId: string): Promise<{ code?: string; data?: unknown }> {
  const client = wsClient(s.url, token);
  return new Promise<{ code?: string; data?: unknown }>((resolve) => {
    client.subscribe(
      {
        query: 'subscription($id: ID!) { onboardingProgress(requestId: $id) { cursor type } }',
        variables: { id: requestId },
      },
      {
        next: (m) => resolve(m.errors ? { code: m.errors[0].extensions?.code as string } : { data: m.data }),
        error: (e) => resolve({ code: `socket: ${String(e)}` }),
        complete: () => undefined,
      },
    );
  }).finally(() => void client.dispose());
}

describe(`progress streams per API process (PROGRESS_MAX_STREAMS=${IN_ALL}, per caller ${PER_CALLER})`, () => {
  let s: Stack;
  const tokens: Record<'a' | 'b', string> = { a: '', b: '' };
  let prefix = '';
  let requests: string[] = [];
  let batchId = '';
  const slots = () => s.app.get(StreamSlots);

  beforeAll(async () => {
    // No worker: the requests stay QUEUED, so their streams stay open until the test ends them.
    s = await startStack({
      env: {
        ROLE: 'api',
        PROGRESS_MAX_STREAMS: String(IN_ALL),
        PROGRESS_MAX_STREAMS_PER_CALLER: String(PER_CALLER),
      },
    });
    prefix = uniqueName('bounds');
    for (const key of ['a', 'b'] as const) {
      const r = await http(s.url, 'POST', '/v1/tokens', {
        name: `${prefix}-${key}`,
        roles: ['requester'],
        scopes: [`emulator/${prefix}-*`],
      });
      expect(r.status).toBe(201);
      tokens[key] = r.body.token;
    }
    const names = [0, 1, 2, 3].map((i) => `${prefix}-${i}`);
    for (const ns of names) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    requests = [];
    for (const namespace of names.slice(0, 3)) {
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace });
      expect(r.status).toBe(202);
      requests.push(r.body.id);
    }
    const batch = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: names[3] }],
      options: { dryRun: true },
    });
    expect(batch.status).toBe(202);
    batchId = batch.body.id;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses a caller over its own bound on every transport, then takes it again once a stream closes', async () => {
    const url = (id: string) => `${s.url}/v1/onboardings/${id}/events`;
    const a = { authorization: `Bearer ${tokens.a}` };
    const open = [openStream(url(requests[0]), a), openStream(url(requests[1]), a)];
    try {
      await Promise.all(open.map((o) => o.waitFor(1)));
      // Counted per caller: its actor id.
      expect([slots().held(`token:${prefix}-a`), slots().held()]).toEqual([PER_CALLER, PER_CALLER]);

      const sse = await refusedSse(url(requests[2]), tokens.a);
      expect(sse.status).toBe(429);
      expect(sse.body.error).toMatchObject({ code: 'TOO_MANY_STREAMS', details: { limit: PER_CALLER } });
      expect(await firstOfSubscription(s, tokens.a, requests[2])).toEqual({ code: 'TOO_MANY_STREAMS' });
      // Refusals hold nothing.
      expect(slots().held()).toBe(PER_CALLER);

      open.pop()!.close();
      await until('the closed stream gives its slot back', () => slots().held() === PER_CALLER - 1);
      const again = openStream(url(requests[2]), a);
      open.push(again);
      await again.waitFor(1);
      expect(slots().held()).toBe(PER_CALLER);
    } finally {
      for (const o of open) o.close();
    }
    await until('every slot back', () => slots().held() === 0);
  });

  it('refuses every caller once the process holds PROGRESS_MAX_STREAMS: 503 with Retry-After', async () => {
    const url = (id: string) => `${s.url}/v1/onboardings/${id}/events`;
    const a = { authorization: `Bearer ${tokens.a}` };
    const open = [openStream(url(requests[0]), a), openStream(url(requests[1]), a)];
    const client = wsClient(s.url, tokens.b);
    const overWs: unknown[] = [];
    const unsubscribe = client.subscribe(
      {
        query: 'subscription($id: ID!) { onboardingProgress(requestId: $id) { cursor type } }',
        variables: { id: requests[2] },
      },
      { next: (m) => overWs.push(m), error: () => undefined, complete: () => undefined },
    );
    try {
      await Promise.all(open.map((o) => o.waitFor(1)));
      await until('the subscription holds a slot', () => overWs.length === 1 && slots().held() === IN_ALL);

      // The admin, under its own bound, is refused for the process's.
      const sse = await refusedSse(url(requests[0]), ADMIN_TOKEN);
      expect([sse.status, sse.retryAfter, sse.body.error.code]).toEqual([503, '5', 'STREAM_CAPACITY_REACHED']);
      expect(await firstOfSubscription(s, ADMIN_TOKEN, requests[0])).toEqual({ code: 'STREAM_CAPACITY_REACHED' });
      const batchSse = await refusedSse(`${s.url}/v1/batches/${batchId}/events`, ADMIN_TOKEN);
      expect([batchSse.status, batchSse.retryAfter, batchSse.body.error.code]).toEqual([
        503,
        '5',
        'STREAM_CAPACITY_REACHED',
      ]);
      expect(slots().held()).toBe(IN_ALL);

      // A stream whose request ends (cancelled) gives its slot back by itself.
      expect((await http(s.url, 'POST', `/v1/onboardings/${requests[2]}/cancel`, {})).status).toBe(200);
      await until('the ended subscription gives its slot back', () => slots().held() === IN_ALL - 1);
      const stream = openStream(`${s.url}/v1/batches/${batchId}/events`);
      await stream.waitFor(1);
      expect(slots().held()).toBe(IN_ALL);
      stream.close();
    } finally {
      for (const o of open) o.close();
      unsubscribe();
      await client.dispose();
    }
    await until('every slot back', () => slots().held() === 0);
  });

  it('holds no slot for a stream that could not open (unknown request)', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (let i = 0; i < IN_ALL + 1; i++) {
      const r = await refusedSse(`${s.url}/v1/onboardings/${unknown}/events`, ADMIN_TOKEN);
      expect([r.status, r.body.error.code]).toEqual([404, 'REQUEST_NOT_FOUND']);
    }
    expect(slots().held()).toBe(0);
  });

  it('gives the slot back when the SSE client leaves before its stream has started', async () => {
    // The client goes away while the request is authenticated and its stream opened (Postgres reads): the response's
    // `close` has fired before the stream is written, so it must not wait for events no one will read.
    for (let i = 0; i < 20; i++) {
      const controller = new AbortController();
      const pending = fetch(`${s.url}/v1/onboardings/${requests[i % 3]}/events`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: controller.signal,
      }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, i % 5));
      controller.abort();
      await pending;
    }
    await until('every slot back', () => slots().held() === 0, 3_000);
  });

  it('gives the slot back for a stream let go before its first event was asked for', async () => {
    // A transport that opens a stream and loses its client at once calls return() before next(): the generator's
    // body, and its `finally`, never run.
    // The aborted SSE requests of the test before may still be opening on the server: let them take and give back
    // their slots first, or two of them and this test's two can pass the process's limit of 3 (a fresh-clone CI run).
    for (let quiet = 0; quiet < 2; quiet++) {
      await until('every slot back', () => slots().held() === 0, 3_000);
      await new Promise((r) => setTimeout(r, 300));
    }
    const progress = s.app.get(ProgressService);
    const stream = await progress.open(requests[0], 0, 'test:early-leaver');
    const batch = await progress.openBatch([requests[1]], { afterId: 0n }, 'test:early-leaver', 'f1ngerpr');
    expect(slots().held('test:early-leaver')).toBe(2);
    await stream.return(undefined);
    await batch.return(undefined);
    // This caller's slots: an SSE request of the test before that was aborted while opening may still take and give
    // back one of its own for a moment (that test waits for the process's count to reach 0; this one is exact).
    expect(slots().held('test:early-leaver')).toBe(0);
  });
});
