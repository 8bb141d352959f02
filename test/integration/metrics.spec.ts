// Prometheus metrics: the counters and histograms one request moves, and no secret on /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

describe('Prometheus metrics', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());
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
    // The event-loop delay histogram runs (sampled every 100 ms, src/observability/metrics.service.ts): after the
    // request above its p99 is a positive number of seconds.
    expect(sample(after, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThan(0);
    expect(after).not.toContain('test-admin-token');
  });
});
