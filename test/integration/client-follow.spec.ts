// The typed client (@osm-onboarding/client) following a request on the real service when the instance holds all the
// progress streams it may (PROGRESS_MAX_STREAMS=1): the 503 STREAM_CAPACITY_REACHED it is answered says "retry after
// Retry-After", and waitForEnd does, until it reaches the request's end. packages/client/test has the follower's
// other cases against local servers.
import { createOsmClient, waitForEnd } from '@osm-onboarding/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { openStream } from '../support/event-streams.js';
import { http, startStack, type Stack, uniqueName } from '../support/harness.js';

describe('the typed client on an instance at its stream capacity', () => {
  let s: Stack;

  beforeAll(async () => {
    // No worker: the requests stay QUEUED until the test cancels them.
    s = await startStack({ env: { ROLE: 'api', PROGRESS_MAX_STREAMS: '1' } });
  });
  afterAll(() => s?.close());

  it("waitForEnd waits out STREAM_CAPACITY_REACHED (Retry-After) and reaches the request's end", async () => {
    const names = [uniqueName('capacity'), uniqueName('capacity')];
    for (const ns of names) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const [held, followed] = await Promise.all(
      names.map(async (namespace) => {
        const r = await http(s.url, 'POST', '/v1/onboardings', { namespace });
        expect(r.status).toBe(202);
        return r.body.id as string;
      }),
    );
    const viewer = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('capacity-viewer'),
      roles: ['viewer'],
      scopes: ['emulator/*'],
    });
    expect(viewer.status).toBe(201);

    // Another caller holds the instance's only stream.
    const holder = openStream(`${s.url}/v1/onboardings/${held}/events`);
    await holder.waitFor(1);
    const release = setTimeout(() => {
      holder.close();
      void http(s.url, 'POST', `/v1/onboardings/${followed}/cancel`, {});
    }, 2_000);
    const reasons: string[] = [];
    try {
      const client = createOsmClient({ baseUrl: s.url, token: viewer.body.token });
      const done = await waitForEnd(client, followed, {
        timeoutMs: 20_000,
        onReconnect: (_n, _cursor, why) => reasons.push(why),
      });
      expect(done.status).toBe('CANCELLED');
    } finally {
      clearTimeout(release);
      holder.close();
    }
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons[0]).toMatch(/^STREAM_CAPACITY_REACHED: /);
  });
});
