// The create path writes a request, its step runs and its first audit event in one statement and
// answers from what it wrote: what it answers, stores and publishes must be what a later read sees,
// and the database constraints (one active request per namespace, one request per Idempotency-Key)
// must keep their answers (409 REQUEST_CONFLICT, replay / 422 IDEMPOTENCY_KEY_REUSED).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { gql, http, type HttpResult, startApi, startStack, Stack, uniqueName } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository.js';

const POLICY = {
  rules: [
    { name: 'gate', approvals: 1, kinds: ['ONBOARD'], clusters: ['*'], namespaces: ['gated-*'], when: ['always'] },
  ],
};

/** Every answer but the one 202 is a 409 naming it (or, for a keyed retry, a 200 replaying it). */
function expectOneAccepted(answers: HttpResult[]): void {
  const ok = answers.filter((r) => r.status === 202);
  expect(ok).toHaveLength(1);
  for (const r of answers.filter((a) => a.status !== 202)) {
    if (r.status === 200) expect(r.body.id).toBe(ok[0].body.id);
    else
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([
        409,
        'REQUEST_CONFLICT',
        { activeRequestId: ok[0].body.id },
      ]);
  }
}

describe('creating requests: one statement, answered from what it wrote', () => {
  let s: Stack;
  let db: pg.Pool;
  let sub: Redis;
  const published: any[] = [];
  beforeAll(async () => {
    s = await startStack({ env: { ROLE: 'api', APPROVAL_POLICY: JSON.stringify(POLICY) } });
    db = new pg.Pool({ connectionString: testDatabaseUrl() });
    sub = new Redis(inject('redisUrl'));
    await sub.subscribe(`${s.env.QUEUE_PREFIX}:events`);
    sub.on('message', (_c, m) => published.push(JSON.parse(m)));
  });
  afterAll(async () => {
    await sub.quit();
    await db.end();
    await s.close();
  });

  it('the 202 body equals what GET reads back; rows, audit event and published event agree', async () => {
    const ns = uniqueName('cp');
    await createNamespace(s.emulator, ns);
    const created = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, restart: { mode: 'all' }, trafficPolicy: { mode: 'permissive' } },
      { 'x-request-id': 'req-abc-1' },
    );
    expect(created.status).toBe(202);
    const got = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}`);
    expect(created.body.request).toEqual(got.body);
    const row = (await db.query('SELECT * FROM onboarding_request WHERE id = $1', [created.body.id])).rows[0];
    expect(row).toMatchObject({
      event_seq: 1,
      attempt: 1,
      status: 'QUEUED',
      cancel_requested: false,
      approvals_required: 0,
      approval_rule: null,
      batch_id: null,
    });
    expect(row.updated_at.getTime()).toBeGreaterThanOrEqual(row.created_at.getTime());
    expect(row.origin).toMatchObject({ httpRequestId: 'req-abc-1' });
    const steps = (
      await db.query(
        'SELECT position, name, status, attempts, output FROM step_run WHERE request_id = $1 ORDER BY position',
        [created.body.id],
      )
    ).rows;
    expect(steps.map((x) => x.name)).toEqual(got.body.steps.map((x: any) => x.name));
    expect(steps.map((x) => x.position)).toEqual(steps.map((_, i) => i));
    const audit = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}/audit`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({
      cursor: 1,
      action: 'request.created',
      actor: 'token:bootstrap-admin',
      namespace: ns,
      target: `namespaces/${ns}`,
      step: null,
    });
    expect(audit.body.items[0].data).toMatchObject({
      status: 'QUEUED',
      kind: 'ONBOARD',
      steps: got.body.steps.map((x: any) => x.name),
      batchId: null,
      approvalRule: null,
      approvalsRequired: 0,
    });
    expect(audit.body.items[0].data.options).toEqual(got.body.options);
    await new Promise((r) => setTimeout(r, 100));
    const ev = published.find((e) => e.requestId === created.body.id);
    expect(ev).toBeDefined();
    const a = audit.body.items[0];
    expect(ev).toEqual({
      id: a.id,
      requestId: a.requestId,
      cursor: 1,
      type: 'request.created',
      actor: a.actor,
      step: null,
      message: a.data.message,
      data: a.data,
      at: a.createdAt,
    });
    // the append-only trigger still refuses changes
    await expect(
      db.query('UPDATE audit_event SET actor = $1 WHERE request_id = $2', ['x', created.body.id]),
    ).rejects.toThrow(/append-only/);
  });

  it(
    'Idempotency-Key: sequential and concurrent retries give one request; another body or namespace is ' + 'refused',
    async () => {
      const ns = uniqueName('idem');
      const ns2 = uniqueName('idem2');
      await createNamespace(s.emulator, ns);
      await createNamespace(s.emulator, ns2);
      const key = `k-${ns}`;
      const all = await Promise.all(
        Array.from({ length: 8 }, () =>
          http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': key }),
        ),
      );
      expect(all.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 202]);
      expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
      expect(all.filter((r) => r.status === 200).every((r) => r.headers.get('idempotent-replayed') === 'true')).toBe(
        true,
      );
      const again = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': key });
      expect([again.status, again.body.id]).toEqual([200, all[0].body.id]);
      const other = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns2 }, { 'idempotency-key': key });
      expect([other.status, other.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
      expect(other.body.error.details).toEqual({ requestId: all[0].body.id });
      const same = await http(
        s.url,
        'POST',
        '/v1/onboardings',
        { namespace: ns, sidecarInjection: 'disabled' },
        { 'idempotency-key': key },
      );
      expect([same.status, same.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
      // a fresh key on the busy namespace: 409 naming the active request
      const busy = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': `${key}-2` });
      expect([busy.status, busy.body.error?.code, busy.body.error?.details]).toEqual([
        409,
        'REQUEST_CONFLICT',
        { activeRequestId: all[0].body.id },
      ]);
      // ns2 was not taken by the refused call
      const free = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns2 });
      expect(free.status).toBe(202);
      const n = (
        await db.query('SELECT count(*)::int AS n FROM onboarding_request WHERE namespace = ANY($1)', [[ns, ns2]])
      ).rows[0].n;
      expect(n).toBe(2);
    },
  );

  it('a key retried at once on two API instances is answered by the key, never as a conflict with itself', async () => {
    // Two inserts with one key can both pass the key's ON CONFLICT check and meet on the active-target index: the
    // loser must still get the replay (it got 409 REQUEST_CONFLICT naming its own request, ~3 % of answers).
    const other = await startApi({ ...s.env, ROLE: 'api' });
    try {
      const seen: number[] = [];
      for (let round = 0; round < 25; round++) {
        const ns = uniqueName('idemrace');
        await createNamespace(s.emulator, ns);
        const all = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            http(i % 2 ? other.url : s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': ns }),
          ),
        );
        seen.push(...all.map((r) => r.status));
        expect(all.map((r) => r.status).sort(), JSON.stringify(all.map((r) => r.body.error))).toEqual([
          200, 200, 200, 200, 200, 202,
        ]);
        expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
      }
      expect(seen).toHaveLength(150);
    } finally {
      await other.app.close();
    }
  });

  it('concurrent requests for one namespace: one 202, the rest 409 with the active id; no partial rows', async () => {
    const ns = uniqueName('race');
    await createNamespace(s.emulator, ns);
    const all = await Promise.all(
      Array.from({ length: 6 }, () => http(s.url, 'POST', '/v1/onboardings', { namespace: ns })),
    );
    expectOneAccepted(all);
    expect(all.some((r) => r.status === 200)).toBe(false);
    const ok = all.filter((r) => r.status === 202);
    const counts = (
      await db.query(
        `SELECT (SELECT count(*)::int FROM onboarding_request WHERE namespace = $1) AS r,
      (SELECT count(*)::int FROM step_run s JOIN onboarding_request o ON o.id = s.request_id
          WHERE o.namespace = $1) AS s,
      (SELECT count(*)::int FROM audit_event WHERE namespace = $1) AS a`,
        [ns],
      )
    ).rows[0];
    expect(counts.r).toBe(1);
    expect(counts.a).toBe(1);
    expect(counts.s).toBe(ok[0].body.request.steps.length);
  });

  it('dry run (PLANNED, step outputs), approvals (PENDING_APPROVAL), GraphQL, batches', async () => {
    const ns = uniqueName('dry');
    await createNamespace(s.emulator, ns);
    const dry = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, dryRun: true },
      { 'idempotency-key': `d-${ns}` },
    );
    expect(dry.status).toBe(202);
    expect(dry.body.status).toBe('PLANNED');
    const got = await http(s.url, 'GET', `/v1/onboardings/${dry.body.id}`);
    expect(dry.body.request).toEqual(got.body);
    expect(got.body.steps.every((x: any) => x.output && x.output.planned)).toBe(true);
    const replay = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, dryRun: true },
      { 'idempotency-key': `d-${ns}` },
    );
    expect([replay.status, replay.body.id]).toEqual([200, dry.body.id]);
    const audit = await http(s.url, 'GET', `/v1/onboardings/${dry.body.id}/audit`);
    expect(audit.body.items.map((e: any) => [e.cursor, e.action])).toEqual([[1, 'request.planned']]);

    const gns = `gated-${uniqueName('g')}`;
    await createNamespace(s.emulator, gns);
    const gated = await gql(
      s.url,
      'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id status approvalsRequired approvalRule ' +
        'lastEventCursor steps { name status } } }',
      { i: { namespace: gns } },
    );
    expect(gated.errors).toBeUndefined();
    expect(gated.data.requestOnboarding).toMatchObject({
      status: 'PENDING_APPROVAL',
      approvalsRequired: 1,
      approvalRule: 'gate',
      lastEventCursor: 1,
    });
    const dup = await gql(s.url, 'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }', {
      i: { namespace: gns },
    });
    expect(dup.errors[0].extensions.code).toBe('REQUEST_CONFLICT');

    const b1 = uniqueName('b');
    const b2 = uniqueName('b');
    await createNamespace(s.emulator, b1);
    await createNamespace(s.emulator, b2);
    const batch = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: b1 }, { namespace: b2 }],
      options: { prerequisites: { enabled: false } },
    });
    expect(batch.status).toBe(202);
    expect(batch.body.counts).toEqual({ QUEUED: 2 });
    const again = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: b2 }],
      options: {},
    });
    expect([again.status, again.body.error.code]).toEqual([409, 'REQUEST_CONFLICT']);
    expect(again.body.error.details).toEqual({ busy: [`emulator/${b2}`] });
    const rows = (
      await db.query(
        "SELECT o.namespace, o.batch_id, a.seq, a.data->>'batchId' AS b FROM onboarding_request o JOIN audit_event " +
          'a ON a.request_id = o.id WHERE o.namespace = ANY($1)',
        [[b1, b2]],
      )
    ).rows;
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.batch_id && r.batch_id === r.b && r.seq === 1)).toBe(true);
  });
});

describe('requests that arrive together share a statement (group-insert.ts)', () => {
  let s: Stack;
  let db: pg.Pool;
  beforeAll(async () => {
    // Two connections: one statement of new requests at a time, so requests sent together wait and go as a group.
    s = await startStack({ env: { ROLE: 'api', DATABASE_POOL_SIZE: '2', APPROVAL_POLICY: JSON.stringify(POLICY) } });
    db = new pg.Pool({ connectionString: testDatabaseUrl() });
  });
  afterAll(async () => {
    await db.end();
    await s.close();
  });

  const stats = () => ({ ...s.app.get(OnboardingRepository).group.stats });

  /** What a stored request is, without what differs by name or time. */
  async function stored(id: string) {
    const q = async (sql: string) => (await db.query(sql, [id])).rows;
    const [row] = await q('SELECT * FROM onboarding_request WHERE id = $1');
    const steps = await q('SELECT name, position, status, output FROM step_run WHERE request_id = $1 ORDER BY 2');
    const events = await q('SELECT seq, actor, action, cluster, target, data FROM audit_event WHERE request_id = $1');
    const ns = row.namespace as string;
    const scrub = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(ns, '<ns>'));
    // the body's hash covers the namespace (the replay below checks a grouped one's)
    expect(row.body_hash).toMatch(/^[0-9a-f]{64}$/);
    const {
      id: _id,
      namespace: _ns,
      created_at: _c,
      updated_at: _u,
      idempotency_key: _k,
      body_hash: _h,
      ...rest
    } = row;
    return scrub({ row: rest, steps, events });
  }

  it('each request of a group is stored and answered exactly as one written alone', async () => {
    const body = (namespace: string) => ({
      namespace,
      restart: { mode: 'all' },
      trafficPolicy: { mode: 'permissive' },
    });
    const names = Array.from({ length: 25 }, () => uniqueName('grp'));
    const gatedNames = Array.from({ length: 3 }, () => `gated-${uniqueName('grp')}`);
    for (const ns of [...names, ...gatedNames]) await createNamespace(s.emulator, ns);
    // each with its own request id, stored in its origin (scrubbed like its name)
    const rid = (ns: string) => ({ 'x-request-id': `rid-${ns}` });
    const alone = await http(s.url, 'POST', '/v1/onboardings', body(names[0]), rid(names[0]));
    const aloneGated = await http(s.url, 'POST', '/v1/onboardings', body(gatedNames[0]), rid(gatedNames[0]));
    expect([alone.status, aloneGated.status]).toEqual([202, 202]);
    const before = stats();
    const together = await Promise.all([
      ...names.slice(1).map((ns, i) =>
        http(s.url, 'POST', '/v1/onboardings', body(ns), {
          ...rid(ns),
          ...(i % 3 ? {} : { 'idempotency-key': `key-${ns}` }),
        }),
      ),
      ...gatedNames.slice(1).map((ns) => http(s.url, 'POST', '/v1/onboardings', body(ns), rid(ns))),
    ]);
    const after = stats();
    // they did share statements
    expect(after.grouped - before.grouped).toBeGreaterThan(0);
    expect(after.statements - before.statements).toBeLessThan(together.length);
    expect(after.fallbacks).toBe(before.fallbacks);

    const reference = await stored(alone.body.id);
    const gatedReference = await stored(aloneGated.body.id);
    expect(reference.row.status).toBe('QUEUED');
    expect(gatedReference.row.status).toBe('PENDING_APPROVAL');
    for (const [i, r] of together.entries()) {
      expect(r.status).toBe(202);
      const got = await http(s.url, 'GET', `/v1/onboardings/${r.body.id}`);
      expect(r.body.request).toEqual(got.body);
      const mine = await stored(r.body.id);
      expect(mine).toEqual(i >= names.length - 1 ? gatedReference : reference);
    }
    // a key used in a group replays its request (the same body's hash), and refuses another body
    const key = { 'idempotency-key': `key-${names[1]}` };
    const replay = await http(s.url, 'POST', '/v1/onboardings', body(names[1]), key);
    expect([replay.status, replay.body.id]).toEqual([200, together[0].body.id]);
    const other = await http(s.url, 'POST', '/v1/onboardings', { ...body(names[1]), restart: { mode: 'none' } }, key);
    expect([other.status, other.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });

  it('a group with a second request for a busy namespace: the others are stored, that one gets its 409', async () => {
    const names = Array.from({ length: 12 }, () => uniqueName('grc'));
    for (const ns of names) await createNamespace(s.emulator, ns);
    const before = stats();
    const key = `k-${names[0]}`;
    const all = await Promise.all([
      ...names.map((ns) => http(s.url, 'POST', '/v1/onboardings', { namespace: ns })),
      ...[3, 6, 9].map((i) => http(s.url, 'POST', '/v1/onboardings', { namespace: names[i] })),
      ...[0, 1].map(() => http(s.url, 'POST', '/v1/onboardings', { namespace: names[11] }, { 'idempotency-key': key })),
    ]);
    const after = stats();
    // the duplicates failed a group statement, whose requests were then written one by one
    expect(after.fallbacks).toBeGreaterThan(before.fallbacks);
    const byNamespace = new Map<string, typeof all>();
    const sent = [...names, names[3], names[6], names[9], names[11], names[11]];
    all.forEach((r, i) => byNamespace.set(sent[i], [...(byNamespace.get(sent[i]) ?? []), r]));
    for (const ns of names) expectOneAccepted(byNamespace.get(ns)!);
    const counts = (
      await db.query(
        `SELECT o.namespace, count(DISTINCT o.id)::int AS r, count(DISTINCT s.id)::int AS s,
           count(DISTINCT a.id)::int AS a
         FROM onboarding_request o LEFT JOIN step_run s ON s.request_id = o.id
           LEFT JOIN audit_event a ON a.request_id = o.id
         WHERE o.namespace = ANY($1) GROUP BY 1`,
        [names],
      )
    ).rows;
    expect(counts).toHaveLength(names.length);
    for (const c of counts) expect([c.r, c.a, c.s > 0]).toEqual([1, 1, true]);
  });
});
