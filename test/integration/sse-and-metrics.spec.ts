import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, readSse, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

describe('REST event stream (SSE) and Prometheus metrics', () => {
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

  function sample(text: string, name: string, labels: Record<string, string> = {}): number {
    const line = text
      .split('\n')
      .find((l) => l.startsWith(name) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('moves the counters a request should move', async () => {
    const before = (await http(s.url, 'GET', '/metrics')).body as string;
    const ns = uniqueName('metrics');
    seedAppNamespace(s.emulator.store, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    const after = (await http(s.url, 'GET', '/metrics')).body as string;
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels);
    expect(delta('osm_onboarding_requests_total', { kind: 'ONBOARD', status: 'QUEUED' })).toBe(1);
    expect(delta('osm_onboarding_requests_total', { kind: 'ONBOARD', status: 'SUCCEEDED' })).toBe(1);
    expect(delta('osm_onboarding_step_duration_seconds_count', { step: 'namespace', result: 'CHANGED' })).toBe(1);
    expect(delta('osm_onboarding_step_duration_seconds_count', { step: 'mesh', result: 'UNCHANGED' })).toBe(1);
    expect(
      delta('osm_onboarding_kube_request_duration_seconds_count', {
        verb: 'patch',
        resource: 'namespaces',
        code: '200',
      }),
    ).toBe(1);
    expect(delta('osm_onboarding_queue_wait_seconds_count')).toBe(1);
    expect(after).toMatch(/osm_onboarding_queue_jobs\{state="waiting"\} \d+/);
    expect(after).toContain('process_resident_memory_bytes');
    expect(after).not.toContain('test-admin-token');
  });
});
