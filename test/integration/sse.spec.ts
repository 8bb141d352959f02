// The REST event stream: a request's progress events as SSE, resumable with Last-Event-ID, behind auth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, readSse, startStack, Stack, uniqueName } from '../support/harness.js';

describe('REST event stream (SSE)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  it("streams a request's events as SSE, resumable with Last-Event-ID after a disconnect", async () => {
    const ns = uniqueName('sse');
    seedAppNamespace(s.emulator.store, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const first = await readSse(s.url, `/v1/onboardings/${r.body.id}/events`, {}, 3); // the client drops after 3 events
    expect(first.events.map((e) => Number(e.id))).toEqual([1, 2, 3]);
    const rest = await readSse(s.url, `/v1/onboardings/${r.body.id}/events`, { 'last-event-id': '3' });
    expect(rest.events[0].id).toBe('4');
    expect(rest.events.at(-1)!.event).toBe('request.succeeded');
    const all = [...first.events, ...rest.events];
    expect(all.map((e) => Number(e.id))).toEqual(all.map((_, i) => i + 1));
    expect(all.map((e) => e.event)).toEqual(
      (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items.map((e: any) => e.action),
    );
    const denied = await readSse(s.url, `/v1/onboardings/${r.body.id}/events`, { authorization: 'Bearer nope' });
    expect(denied.status).toBe(401);
    const badCursor = await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/events?after=-4`);
    expect(badCursor.status).toBe(422);
  });
});
