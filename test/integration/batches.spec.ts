import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, readSse, startStack, Stack, uniqueName, wsClient } from '../support/harness.js';
import { namespaceMeta, writesTo } from '../support/kube.js';

async function waitForBatch(s: Stack, id: string, statuses: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = (await http(s.url, 'GET', `/v1/batches/${id}`)).body;
    if (statuses.includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${b.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('batches (several namespaces at once, like osm namespace add a b c)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  const seed = (n: number) =>
    Array.from({ length: n }, () => {
      const ns = uniqueName('batch');
      seedAppNamespace(s.emulator.store, ns);
      return ns;
    });

  it('onboards every target, reports aggregate progress, and streams all events over SSE and GraphQL', async () => {
    const names = seed(3);
    await s.emulator.idle();
    const created = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { sidecarInjection: 'disabled' },
    });
    expect(created.status).toBe(202);
    expect(created.body.requests.map((r: any) => r.namespace).sort()).toEqual([...names].sort());
    expect(
      created.body.requests.every((r: any) => r.batchId === created.body.id && r.sidecarInjection === 'disabled'),
    ).toBe(true);

    const sse = await readSse(s.url, `/v1/batches/${created.body.id}/events`);
    expect(sse.status).toBe(200);
    // Each request's events in its own order, each once. Across requests the stream follows commits, not the global
    // ids (taken at insert: a lower id can commit after a higher one; see src/events/batch-cursor.ts).
    const sorted = (ids: string[]) => [...ids].map(BigInt).sort((a, b) => (a < b ? -1 : 1));
    for (const requestId of new Set(sse.events.map((e) => e.data.requestId))) {
      const cursors = sse.events.filter((e) => e.data.requestId === requestId).map((e) => e.data.cursor as number);
      expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    }
    expect(new Set(sse.events.map((e) => e.data.id)).size).toBe(sse.events.length);
    expect(sse.events.filter((e) => e.event === 'request.succeeded')).toHaveLength(3);
    const done = await waitForBatch(s, created.body.id, ['SUCCEEDED']);
    expect(done.counts).toEqual({ SUCCEEDED: 3 });
    for (const ns of names)
      expect((await namespaceMeta(s.emulator, ns)).annotations['openservicemesh.io/sidecar-injection']).toBe(
        'disabled',
      );

    // Resume from a batch cursor (the SSE id): only later events.
    const half = Math.floor(sse.events.length / 2);
    const middle = sse.events[half].id;
    const resumed = await readSse(s.url, `/v1/batches/${created.body.id}/events`, { 'last-event-id': middle });
    expect(sorted(resumed.events.map((e) => e.data.id))).toEqual(
      sorted(sse.events.slice(half + 1).map((e) => e.data.id)),
    );
    // The older cursor, a global event id, is still accepted: the events after that id.
    const after = BigInt(sse.events[half].data.id);
    const byId = await readSse(s.url, `/v1/batches/${created.body.id}/events?after=${after}`);
    expect(sorted(byId.events.map((e) => e.data.id))).toEqual(
      sorted(sse.events.map((e) => e.data.id)).filter((id) => id > after),
    );

    const client = wsClient(s.url);
    const gqlEvents: any[] = await new Promise((resolve, reject) => {
      const got: any[] = [];
      client.subscribe(
        {
          query: `subscription($b: ID!, $a: String) { batchProgress(batchId: $b, after: $a) { id requestId type } }`,
          variables: { b: created.body.id, a: middle },
        },
        {
          next: (m) =>
            m.errors ? reject(new Error(JSON.stringify(m.errors))) : got.push((m.data as any).batchProgress),
          error: reject,
          complete: () => resolve(got),
        },
      );
    });
    await client.dispose();
    expect(gqlEvents.map((e) => e.id)).toEqual(resumed.events.map((e) => e.data.id));
  });

  it('validates every target before storing anything, naming targets.<i>.<field>', async () => {
    const [ok] = seed(1);
    const writes = writesTo(s.emulator);
    const r = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: ok }, { namespace: 'Bad_Name' }, { namespace: 'kube-system' }, { namespace: ok }],
    });
    expect(r.status).toBe(422);
    expect(r.body.error.fields.map((f: any) => f.field).sort()).toEqual([
      'targets.1.namespace',
      'targets.2.namespace',
      'targets.3.namespace',
    ]);
    const options = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: ok }],
      options: { restart: { mode: 'sometimes' }, colour: 1 },
    });
    expect(options.body.error.fields.map((f: any) => f.field).sort()).toEqual([
      'options.colour',
      'options.restart.mode',
    ]);
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ok}`)).body.items).toEqual([]);
    expect(writesTo(s.emulator)).toBe(writes);
  });

  it('plans, applies, and retries a batch as a whole', async () => {
    const names = seed(2);
    await s.emulator.idle();
    const plan = await http(s.url, 'POST', '/v1/batches/plan', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
    });
    expect(plan.status).toBe(200);
    expect(plan.body.plans.map((p: any) => p.namespace)).toEqual(names);

    const planned = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { dryRun: true },
    });
    expect(planned.body.status).toBe('PLANNED');
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: names[1], status: 403, times: 1 });
    const applied = await http(s.url, 'POST', `/v1/batches/${planned.body.id}/apply`, {});
    expect(applied.body.results.map((r: any) => r.ok)).toEqual([true, true]);
    const partial = await waitForBatch(s, planned.body.id, ['PARTIALLY_FAILED', 'SUCCEEDED', 'FAILED']);
    expect(partial.status).toBe('PARTIALLY_FAILED');
    expect(partial.counts).toEqual({ SUCCEEDED: 1, FAILED: 1 });

    const g = await gql(
      s.url,
      `mutation($id: ID!) { batchOperation(id: $id, operation: "retry") { results { namespace ok } batch { status } ` +
        `} }`,
      { id: planned.body.id },
    );
    expect(g.errors).toBeUndefined();
    expect(g.data.batchOperation.results).toEqual([{ namespace: names[1], ok: true }]);
    expect((await waitForBatch(s, planned.body.id, ['SUCCEEDED', 'FAILED', 'PARTIALLY_FAILED'])).status).toBe(
      'SUCCEEDED',
    );
    const bad = await http(s.url, 'POST', `/v1/batches/${planned.body.id}/explode`, {});
    expect(bad.status).toBe(422);
  });
});
