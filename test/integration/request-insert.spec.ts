// The create path writes a request, its step runs and its first audit event in one statement and
// answers from what it wrote: what it answers, stores and publishes must be what a later read sees,
// and the database constraints (one active request per namespace, one request per Idempotency-Key)
// must keep their answers (409 REQUEST_CONFLICT, replay / 422 IDEMPOTENCY_KEY_REUSED).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { gql, http, startStack, Stack, uniqueName } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

const POLICY = {
  rules: [
    { name: 'gate', approvals: 1, kinds: ['ONBOARD'], clusters: ['*'], namespaces: ['gated-*'], when: ['always'] },
  ],
};

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

  it('concurrent requests for one namespace: one 202, the rest 409 with the active id; no partial rows', async () => {
    const ns = uniqueName('race');
    await createNamespace(s.emulator, ns);
    const all = await Promise.all(
      Array.from({ length: 6 }, () => http(s.url, 'POST', '/v1/onboardings', { namespace: ns })),
    );
    const ok = all.filter((r) => r.status === 202);
    expect(ok).toHaveLength(1);
    for (const r of all.filter((r) => r.status !== 202))
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([
        409,
        'REQUEST_CONFLICT',
        { activeRequestId: ok[0].body.id },
      ]);
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
