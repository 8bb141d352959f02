import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, readSse, refusal, startStack, Stack, uniqueName, wsClient } from '../support/harness.js';
import { namespaceMeta, writesTo } from '../support/kube.js';
import { PrismaService } from '../../src/database/prisma.service.js';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository.js';
import { PREFETCH_MAX_ITEMS, PREFETCH_MIN_TARGETS, PREFETCH_PAGE } from '../../src/kubernetes/read-share.js';

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
    const sorted = (ids: string[]) => [...ids].sort();
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
    // The older cursor, a global event id (shown to no one now: an event's id is `<requestId>:<cursor>`), is still
    // accepted from an admin: the events after that id. From another caller it is refused (an oracle of ids).
    expect(sse.events.map((e) => e.data.id)).toEqual(sse.events.map((e) => `${e.data.requestId}:${e.data.cursor}`));
    const stored = await s.app.get(PrismaService).auditEvent.findMany({
      where: { requestId: { in: [...new Set(sse.events.map((e) => e.data.requestId as string))] } },
      select: { id: true, requestId: true, seq: true },
    });
    const globalId = new Map(stored.map((r) => [`${r.requestId}:${r.seq}`, r.id]));
    const after = globalId.get(sse.events[half].data.id)!;
    const byId = await readSse(s.url, `/v1/batches/${created.body.id}/events?after=${after}`);
    expect(sorted(byId.events.map((e) => e.data.id))).toEqual(
      sorted(sse.events.map((e) => e.data.id).filter((id) => globalId.get(id)! > after)),
    );
    // An id past every member's last event is no position of this stream (as for the b2 cursors).
    const lastId = stored.reduce((max, r) => (r.id > max ? r.id : max), stored[0].id);
    for (const past of [BigInt(lastId) + 1n, 9223372036854775807n]) {
      const tooFar = await http(s.url, 'GET', `/v1/batches/${created.body.id}/events?after=${past}`);
      expect([tooFar.status, tooFar.body.error?.fields?.[0]?.field]).toEqual([422, 'after']);
    }
    const viewer = (
      await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('bv'), roles: ['viewer'], scopes: ['*/*'] })
    ).body.token;
    const refused = await http(s.url, 'GET', `/v1/batches/${created.body.id}/events?after=${after}`, undefined, {
      authorization: `Bearer ${viewer}`,
    });
    expect([refused.status, refused.body.error?.fields?.[0]?.field]).toEqual([422, 'after']);
    const viewerStream = await readSse(s.url, `/v1/batches/${created.body.id}/events?after=${middle}`, {
      authorization: `Bearer ${viewer}`,
    });
    expect(viewerStream.events.length).toBe(resumed.events.length);

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

  it('overlapping batches in opposite orders, sent at once, never deadlock: one is stored, one is a 409', async () => {
    // Each batch inserts its rows in one transaction; in the callers' orders, [a, b] and [b, a] would each wait for
    // the other's row on the active-target index (a Postgres deadlock, once a 500).
    for (let round = 0; round < 15; round++) {
      const [a, b] = seed(2);
      const send = (names: string[]) =>
        http(s.url, 'POST', '/v1/batches', {
          kind: 'ONBOARD',
          targets: names.map((namespace) => ({ namespace })),
        });
      const answers = await Promise.all([send([a, b]), send([b, a])]);
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses, `round ${round}: ${JSON.stringify(answers.map((r) => r.body.error ?? r.status))}`).toEqual([
        202, 409,
      ]);
      const refused = answers.find((r) => r.status === 409)!;
      expect(refused.body.error.code).toBe('REQUEST_CONFLICT');
      expect(refused.body.error.fields.map((f: any) => f.field)).toEqual(['targets']);
      const stored = answers.find((r) => r.status === 202)!;
      expect(stored.body.requests.map((r: any) => r.namespace).sort()).toEqual([a, b].sort());
    }
  });

  it('refuses a batch operation to a caller without its role up front (403), touching no member', async () => {
    const mint = async (roles: string[]) =>
      (await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('brole'), roles, scopes: ['*/*'] })).body.token;
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const [viewer, approver] = [await mint(['viewer']), await mint(['approver'])];
    const names = seed(2);
    await s.emulator.idle();
    const planned = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { dryRun: true },
    });
    expect(planned.status).toBe(202);
    const id = planned.body.id;
    const cases: [string, string, Record<string, unknown>][] = [
      [approver, 'cancel', {}], // PLANNED members are cancellable: by a requester
      [approver, 'apply', {}],
      [approver, 'retry', {}], // no member is retryable: still refused for the role
      [viewer, 'cancel', {}],
      [viewer, 'approve', {}],
      [viewer, 'reject', { reason: 'no' }],
    ];
    for (const [token, op, body] of cases) {
      const r = await http(s.url, 'POST', `/v1/batches/${id}/${op}`, body, as(token));
      expect([r.status, r.body.error?.code], `${op} as ${token === viewer ? 'viewer' : 'approver'}`).toEqual([
        403,
        'FORBIDDEN',
      ]);
      const g = await gql(
        s.url,
        'mutation($id: ID!, $op: String!, $r: String) { batchOperation(id: $id, operation: $op, reason: $r) { ' +
          'results { ok } } }',
        { id, op, r: (body.reason as string | undefined) ?? null },
        as(token),
      );
      expect(g.errors?.[0]?.extensions?.code, `GraphQL ${op}`).toBe('FORBIDDEN');
    }
    // A field retry or apply does not take is refused before any member is touched, as approve's (an outside audit).
    for (const op of ['retry', 'apply']) {
      const r = await http(s.url, 'POST', `/v1/batches/${id}/${op}`, { x: 1 });
      expect([r.status, r.body.error?.code, r.body.error?.fields?.[0]?.field], op).toEqual([
        422,
        'VALIDATION_FAILED',
        'x',
      ]);
    }
    const after = await http(s.url, 'GET', `/v1/batches/${id}`);
    expect(after.body.counts).toEqual({ PLANNED: 2 });

    // A batch none of whose members the caller may see is refused as an unknown one: nothing confirms it exists.
    const elsewhere = (
      await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('bscope'),
        roles: ['viewer'],
        scopes: ['emulator/no-such-*'],
      })
    ).body.token;
    const unknown = randomUUID();
    const shown = (body: unknown, batchId: string) => JSON.stringify(body).replaceAll(batchId, '<id>');
    for (const path of ['', '/events']) {
      const hidden = await http(s.url, 'GET', `/v1/batches/${id}${path}`, undefined, as(elsewhere));
      const none = await http(s.url, 'GET', `/v1/batches/${unknown}${path}`, undefined, as(elsewhere));
      expect([hidden.status, hidden.body.error?.code], path).toEqual([404, 'BATCH_NOT_FOUND']);
      expect(shown(hidden.body, id)).toBe(shown(none.body, unknown));
    }
    const g = await gql(s.url, 'query($id: ID!) { batch(id: $id) { id } }', { id }, as(elsewhere));
    expect(g.errors?.[0]?.extensions?.code).toBe('BATCH_NOT_FOUND');

    // Members outside the caller's scopes are never loaded (the scope is in the query), so neither the answer nor
    // its time follows how many there are; a `*` in the middle is narrowed by each row's own check.
    const repo = s.app.get(OnboardingRepository);
    expect((await repo.findByBatch(id)).map((r) => r.namespace).sort()).toEqual([...names].sort());
    expect(await repo.findByBatch(id, ['emulator/no-such-*'])).toEqual([]);
    expect((await repo.findByBatch(id, [`emulator/${names[1]}`])).map((r) => r.namespace)).toEqual([names[1]]);
    expect(await repo.findByBatch(id, [])).toEqual([]);
    expect(await repo.findByBatch(id, ['emulator/mesh:osm'])).toEqual([]); // a mesh grant names no namespace
    expect(await repo.findByBatch(id, ['*/*'])).toHaveLength(names.length);
    // Two `*`: the query reads a superset (it contains both parts, in any order); the exact check drops the rest.
    const [head, tail] = [names[1].slice(0, 3), names[1].slice(-2)];
    expect(await repo.findByBatch(id, [`emulator/*${tail}*${head}*`])).toEqual([]);
    expect((await repo.findByBatch(id, [`emulator/*${head}*${tail}`])).map((r) => r.namespace)).toContain(names[1]);
    const one = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('bone'),
      roles: ['viewer'],
      scopes: [`emulator/${names[1]}`],
    });
    const view = await http(s.url, 'GET', `/v1/batches/${id}`, undefined, as(one.body.token));
    expect(view.body.requests.map((r: { namespace: string }) => r.namespace)).toEqual([names[1]]);
  });

  it('plans a batch as a single plan: a mesh-wide change one may not submit is planned, "forbidden"', async () => {
    const refusing = await startStack({ emulator: s.emulator, env: { MESH_WIDE_CHANGES: 'refuse' } });
    try {
      const prefix = uniqueName('bmw');
      const names = [`${prefix}-a`, `${prefix}-b`];
      for (const ns of names) seedAppNamespace(s.emulator.store, ns);
      await s.emulator.idle();
      const token = (
        await http(refusing.url, 'POST', '/v1/tokens', {
          name: uniqueName('bmw'),
          roles: ['requester'],
          scopes: [`emulator/${prefix}-*`],
        })
      ).body.token;
      const as = { authorization: `Bearer ${token}` };
      const options = { trafficPolicy: { mode: 'permissive' } };
      const single = await http(refusing.url, 'POST', '/v1/onboardings/plan', { namespace: names[0], ...options }, as);
      expect([single.status, single.body.approval?.outcome]).toEqual([200, 'forbidden']);
      const input = { kind: 'ONBOARD', targets: names.map((namespace) => ({ namespace })), options };
      const plan = await http(refusing.url, 'POST', '/v1/batches/plan', input, as);
      expect(plan.status).toBe(200);
      expect(plan.body.plans.map((p: any) => [p.namespace, p.approval.outcome])).toEqual(
        names.map((ns) => [ns, 'forbidden']),
      );
      expect(plan.body.plans[0].approval).toEqual(single.body.approval);
      const g = await gql(
        refusing.url,
        'query($i: BatchInput!) { planBatch(input: $i) { namespace approval { outcome } } }',
        { i: input },
        as,
      );
      expect(g.errors).toBeUndefined();
      expect(g.data.planBatch.map((p: any) => p.approval.outcome)).toEqual(['forbidden', 'forbidden']);
      // Creating it is still refused, as a single request is.
      expect(refusal(await http(refusing.url, 'POST', '/v1/batches', input, as))).toEqual([
        403,
        'MESH_WIDE_CHANGE_FORBIDDEN',
      ]);
    } finally {
      await refusing.close();
    }
  });

  it("plans a big batch a few targets at a time, so another caller's plan is not queued behind all of it", async () => {
    // A small Kubernetes call budget, so that calls wait in the cluster's limiter (a FIFO queue per process).
    const slow = await startStack({ emulator: s.emulator, env: { K8S_QPS: '100', K8S_BURST: '1' } });
    let cleanup = () => {};
    try {
      const [single] = seed(1);
      await s.emulator.idle();
      // The mesh found first (its osm-controller Deployment, listed cluster-wide, then cached).
      expect((await http(slow.url, 'POST', '/v1/onboardings/plan', { namespace: single }, {})).status).toBe(200);
      // A cluster whose RBAC grants the service namespaces one by one: a batch's cluster-wide lists are refused, and
      // each plan reads its own namespace, as it does in a cluster with more objects than targets.
      const refusals = [
        'namespaces',
        'deployments',
        'statefulsets',
        'daemonsets',
        'pods',
        'services',
        'serviceaccounts',
      ].map((resource) =>
        s.emulator.faults.add({ verb: 'list', resource, namespace: '', status: 403, reason: 'Forbidden' }),
      );
      cleanup = () => refusals.forEach((id) => s.emulator.faults.remove(id));
      const names = seed(24);
      await s.emulator.idle();
      s.emulator.requests.clear();
      let batchDone = false;
      const batch = http(slow.url, 'POST', '/v1/batches/plan', {
        kind: 'ONBOARD',
        targets: names.map((namespace) => ({ namespace })),
      }).finally(() => (batchDone = true));
      // The first target's plan has begun: it read its namespace (the checks before it use the namespace informer).
      const reads = (ns: string) => s.emulator.requests.count({ verb: 'get', resource: 'namespaces', name: ns });
      await expect.poll(() => reads(names[0]), { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(1);
      expect(batchDone).toBe(false);
      const plan = await http(slow.url, 'POST', '/v1/onboardings/plan', { namespace: single }, {});
      expect(plan.status).toBe(200);
      // The single plan was served while the batch's plans were still waiting for their calls.
      expect(batchDone).toBe(false);
      const planned = await batch;
      expect(planned.status).toBe(200);
      expect(planned.body.plans.map((p: any) => p.namespace)).toEqual(names);
      // And no more than 4 of its targets had a call in flight at once.
      const calls = s.emulator.requests
        .all()
        .filter((e) => names.includes(e.namespace ?? e.name ?? ''))
        .map((e) => ({ ns: e.namespace ?? e.name!, from: e.at, to: e.at + e.durationMs }));
      const widest = Math.max(
        ...calls.map((c) => new Set(calls.filter((d) => d.from <= c.from && c.from < d.to).map((d) => d.ns)).size),
      );
      expect(widest).toBeLessThanOrEqual(4);
      // Refused once for the whole batch, per kind: then the plans listed in their namespaces.
      expect(s.emulator.requests.count({ verb: 'list', resource: 'pods', namespace: undefined, status: 403 })).toBe(1);
      const own = (e: { verb: string; resource?: string; namespace?: string }) =>
        e.verb === 'list' && e.resource === 'pods' && names.includes(e.namespace ?? '');
      expect(s.emulator.requests.count(own)).toBe(names.length);
    } finally {
      cleanup();
      await slow.close();
    }
  });

  it("plans a big batch from cluster-wide lists, each target's plan as it is planned alone", async () => {
    const names = seed(30);
    await s.emulator.idle();
    const options = { restart: { mode: 'all' } };
    const input = { kind: 'ONBOARD', targets: names.map((namespace) => ({ namespace })), options };
    s.emulator.requests.clear();
    const planned = await http(s.url, 'POST', '/v1/batches/plan', input);
    expect(planned.status).toBe(200);
    // No target's own list of the kinds every plan lists (6 per target before): they came from cluster-wide pages.
    const ownLists = s.emulator.requests.count((e) => e.verb === 'list' && names.includes(e.namespace ?? ''));
    expect(ownLists).toBe(0);
    expect(s.emulator.requests.count((e) => e.verb === 'list' && e.namespace === undefined)).toBeGreaterThan(0);
    // The restart's stamp is the time of the plan, to the second: the plans may straddle one.
    const timeless = (plan: unknown) => JSON.parse(JSON.stringify(plan).replace(/"\d{4}-\d\d-\d\dT[\d:]+Z"/g, '"t"'));
    for (const ns of [names[0], names[17], names[29]]) {
      const single = await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: ns, ...options });
      expect(single.status).toBe(200);
      expect(timeless(planned.body.plans.find((p: any) => p.namespace === ns))).toEqual(timeless(single.body));
    }
    // A dry-run batch's drafts are planned the same way.
    s.emulator.requests.clear();
    const drafts = await http(s.url, 'POST', '/v1/batches', { ...input, options: { ...options, dryRun: true } });
    expect(drafts.status).toBe(202);
    expect(drafts.body.requests.map((r: any) => r.status)).toEqual(names.map(() => 'PLANNED'));
    expect(s.emulator.requests.count((e) => e.verb === 'list' && names.includes(e.namespace ?? ''))).toBe(0);
    await http(s.url, 'POST', `/v1/batches/${drafts.body.id}/cancel`, {});
  });

  /** The batch plan of `names` (each a target) from a quiet cluster, and a count of each kind's lists in them. */
  async function planCounting(names: string[]) {
    await s.emulator.idle();
    s.emulator.requests.clear();
    const planned = await http(s.url, 'POST', '/v1/batches/plan', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
    });
    expect(planned.status).toBe(200);
    const own = (resource: string) =>
      s.emulator.requests.count(
        (e) => e.verb === 'list' && e.resource === resource && names.includes(e.namespace ?? ''),
      );
    return { planned, own };
  }

  it('lists a kind per target instead when its cluster-wide pages would outnumber the targets', async () => {
    const names = seed(PREFETCH_MIN_TARGETS);
    // More ServiceAccounts elsewhere than half the targets' worth of pages: listing them all would cost more calls.
    const crowded = uniqueName('crowd');
    s.emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: crowded } });
    for (let i = 0; i < (PREFETCH_MIN_TARGETS / 2) * PREFETCH_PAGE; i++)
      s.emulator.store.create({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: `sa-${i}`, namespace: crowded },
      });
    const { planned, own } = await planCounting(names);
    expect([own('serviceaccounts'), own('pods'), own('deployments')]).toEqual([names.length, 0, 0]);
    // Only the first page of the ServiceAccounts was read: it said how many more there were.
    const allPages = s.emulator.requests.count(
      (e) => e.verb === 'list' && e.resource === 'serviceaccounts' && e.namespace === undefined,
    );
    expect(allPages).toBe(1);
    const single = await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: names[3] });
    expect(planned.body.plans[3]).toEqual(single.body);
  });

  it("lists a kind per target instead when the targets' own objects of it are more than a batch holds", async () => {
    // Enough targets that the cluster's ServiceAccounts (this file's other cases made 2,000 more elsewhere) are
    // pages few enough to list, and just over PREFETCH_MAX_ITEMS of them in the targets themselves.
    const names = seed(30);
    for (let i = 0; i <= PREFETCH_MAX_ITEMS; i++) {
      const namespace = names[i % names.length];
      s.emulator.store.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `many-${i}`, namespace } });
    }
    const { own } = await planCounting(names);
    expect([own('serviceaccounts'), own('pods')]).toEqual([names.length, 0]);
  });

  it('says SUCCEEDED only when every member succeeded: one cancelled is PARTIALLY_SUCCEEDED', async () => {
    const names = seed(2);
    await s.emulator.idle();
    const planned = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: names.map((namespace) => ({ namespace })),
      options: { dryRun: true },
    });
    const [first, second] = planned.body.requests.map((r: any) => r.id);
    expect((await http(s.url, 'POST', `/v1/onboardings/${second}/cancel`, {})).status).toBe(200);
    expect((await http(s.url, 'POST', `/v1/onboardings/${first}/apply`, {})).status).toBe(202);
    const done = await waitForBatch(s, planned.body.id, ['SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED']);
    expect([done.status, done.counts]).toEqual(['PARTIALLY_SUCCEEDED', { SUCCEEDED: 1, CANCELLED: 1 }]);
    const g = await gql(s.url, 'query($id: ID!) { batch(id: $id) { status } }', { id: planned.body.id });
    expect(g.data.batch.status).toBe('PARTIALLY_SUCCEEDED');
  });

  it('refuses the same batch input on both transports, naming the same field', async () => {
    const [ns] = seed(1);
    await s.emulator.idle();
    const fieldsOf = (errors: any) => errors?.[0]?.extensions?.fields?.map((f: any) => f.field);
    const create = 'mutation($i: BatchInput!) { requestBatch(input: $i) { id } }';
    // Shared options hold neither cluster nor namespace (each target has its own); null options are no options.
    for (const [options, field] of [
      [{ cluster: 'staging' }, 'options.cluster'],
      [{ namespace: 'elsewhere' }, 'options.namespace'],
      [null, 'options'],
    ] as const) {
      const input = { kind: 'ONBOARD', targets: [{ namespace: ns }], options };
      const r = await http(s.url, 'POST', '/v1/batches', input);
      expect([r.status, r.body.error?.code], JSON.stringify(options)).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields.map((f: any) => f.field)).toEqual([field]);
      const g = await gql(s.url, create, { i: input });
      expect(g.errors?.[0]?.extensions?.code, JSON.stringify(options)).toBe('VALIDATION_FAILED');
      expect(fieldsOf(g.errors)).toEqual([field]);
      expect(g.errors[0].message).toBe(r.body.error.message);
    }
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);

    // An empty rejection reason: the same refusal as REST's.
    const planned = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: ns }],
      options: { dryRun: true },
    });
    expect(planned.status).toBe(202);
    const rest = await http(s.url, 'POST', `/v1/batches/${planned.body.id}/reject`, { reason: '' });
    expect([rest.status, rest.body.error.fields]).toEqual([
      422,
      [{ field: 'reason', message: 'a rejection needs a reason' }],
    ]);
    const g = await gql(
      s.url,
      'mutation($id: ID!) { batchOperation(id: $id, operation: "reject", reason: "") { results { ok } } }',
      {
        id: planned.body.id,
      },
    );
    expect(g.errors?.[0]?.extensions?.fields).toEqual(rest.body.error.fields);

    // An unknown batch is named by the argument it came in: `id` for batch, `batchId` for batchProgress.
    const missing = '00000000-0000-4000-8000-000000000000';
    const read = await gql(s.url, 'query($id: ID!) { batch(id: $id) { id } }', { id: missing });
    expect([read.errors?.[0]?.extensions?.code, fieldsOf(read.errors)]).toEqual(['BATCH_NOT_FOUND', ['id']]);
    const client = wsClient(s.url);
    try {
      for (const batchId of [missing, 'nope']) {
        const refused: any = await new Promise((resolve) =>
          client.subscribe(
            { query: 'subscription($b: ID!) { batchProgress(batchId: $b) { id } }', variables: { b: batchId } },
            { next: (m) => resolve(m.errors), error: resolve, complete: () => resolve('completed') },
          ),
        );
        expect([refused?.[0]?.extensions?.code, fieldsOf(refused)], batchId).toEqual(['BATCH_NOT_FOUND', ['batchId']]);
      }
    } finally {
      await client.dispose();
    }
  });

  it('replays a batch sent again with its Idempotency-Key, as POST /v1/onboardings does', async () => {
    const names = seed(2);
    await s.emulator.idle();
    const key = uniqueName('batch-key');
    const input = { kind: 'ONBOARD', targets: names.map((namespace) => ({ namespace })), options: { dryRun: true } };
    const first = await http(s.url, 'POST', '/v1/batches', input, { 'idempotency-key': key });
    expect([first.status, first.headers.get('idempotent-replayed')]).toEqual([202, null]);
    const again = await http(s.url, 'POST', '/v1/batches', input, { 'idempotency-key': key });
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.id]).toEqual([
      200,
      'true',
      first.body.id,
    ]);
    expect(again.headers.get('location')).toBe(`/v1/batches/${first.body.id}`);
    const g = await gql(
      s.url,
      'mutation($i: BatchInput!, $k: String) { requestBatch(input: $i, idempotencyKey: $k) { id replayed } }',
      { i: input, k: key },
    );
    expect(g.errors).toBeUndefined();
    expect(g.data.requestBatch).toEqual({ id: first.body.id, replayed: true });
    // Another body with the key: refused, nothing stored.
    const other = { ...input, targets: [{ namespace: names[0] }] };
    const reused = await http(s.url, 'POST', '/v1/batches', other, { 'idempotency-key': key });
    expect([reused.status, reused.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect(reused.body.error.details).toEqual({ batchId: first.body.id });
    const gReused = await gql(
      s.url,
      'mutation($i: BatchInput!, $k: String) { requestBatch(input: $i, idempotencyKey: $k) { id } }',
      { i: other, k: key },
    );
    expect(gReused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    for (const ns of names)
      expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toHaveLength(1);
    // The key's own rules, naming the header or the argument.
    const long = 'k'.repeat(256);
    const tooLong = await http(s.url, 'POST', '/v1/batches', input, { 'idempotency-key': long });
    expect([tooLong.status, tooLong.body.error.fields]).toEqual([
      422,
      [{ field: 'Idempotency-Key', message: 'must be 1 to 255 characters' }],
    ]);
    const gLong = await gql(
      s.url,
      'mutation($i: BatchInput!, $k: String) { requestBatch(input: $i, idempotencyKey: $k) { id } }',
      { i: input, k: long },
    );
    expect(gLong.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'idempotencyKey', message: 'must be 1 to 255 characters' },
    ]);
    // A new batch without a key is no replay.
    const fresh = seed(1);
    await s.emulator.idle();
    const g2 = await gql(s.url, 'mutation($i: BatchInput!) { requestBatch(input: $i) { replayed } }', {
      i: { kind: 'ONBOARD', targets: [{ namespace: fresh[0] }], options: { dryRun: true } },
    });
    expect(g2.data?.requestBatch).toEqual({ replayed: false });
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
