// The runner's claim, which also starts the first open step in the same statement (RunStore.claimAndStart):
// what it does with a cancellation requested before the claim, and while the worker shuts down. An API-only stack
// (no queue consumer), the runner called directly; real Postgres, Redis and the emulator.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { RequestRunner } from '../../src/onboarding/request-runner.service.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

describe("the runner's claim", () => {
  const db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
  let s: Stack;
  beforeAll(async () => void (s = await startStack({ env: { ROLE: 'api' } })));
  afterAll(async () => {
    await db.end();
    await s.close();
  });

  const request = async (id: string) => (await http(s.url, 'GET', `/v1/onboardings/${id}`)).body;
  const queued = async () => {
    const ns = uniqueName('claim');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const res = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(res.body.status).toBe('QUEUED');
    return (await request(res.body.id)) as { id: string; steps: { name: string }[] };
  };
  const trail = async (id: string) =>
    (await db.query(`SELECT seq, action, step FROM audit_event WHERE request_id = $1 ORDER BY seq`, [id])).rows;

  it('resumes a request whose cancellation was asked for, and cancels it before its first step', async () => {
    const { id, steps } = await queued();
    // A dead worker's claim, its heartbeat stale, and a caller's cancellation recorded meanwhile.
    await db.query(
      `UPDATE onboarding_request SET status = 'RUNNING', claimed_by = 'dead-worker', started_at = now(),
         heartbeat_at = now() - interval '1 hour', cancel_requested = true, event_seq = event_seq + 1
       WHERE id = $1`,
      [id],
    );
    await db.query(`INSERT INTO audit_event (request_id, seq, actor, action) VALUES ($1, 2, 'system:worker', $2)`, [
      id,
      'request.started',
    ]);
    const writes = writesTo(s.emulator);
    expect(await s.app.get(RequestRunner).run(id)).toBe('ran');
    expect((await trail(id)).map((e) => [e.seq, e.action, e.step])).toEqual([
      [1, 'request.created', null],
      [2, 'request.started', null],
      [3, 'request.resumed', null],
      [4, 'request.cancelled', null],
    ]);
    const ended = await request(id);
    expect(ended).toMatchObject({ status: 'CANCELLED', errorMessage: `cancelled before step ${steps[0].name}` });
    expect(ended.steps.map((x: { status: string }) => x.status)).toEqual(steps.map(() => 'CANCELLED'));
    expect(writesTo(s.emulator)).toBe(writes);
  });

  it('claims without starting a step while shutting down, and gives the request back', async () => {
    const { id, steps } = await queued();
    const writes = writesTo(s.emulator);
    const runner = s.app.get(RequestRunner);
    runner.stopAfterCurrentStep();
    expect(await runner.run(id)).toBe('released');
    expect((await trail(id)).map((e) => e.action)).toEqual(['request.created', 'request.started', 'request.released']);
    const back = await request(id);
    expect(back.status).toBe('QUEUED');
    expect(back.steps.map((x: { status: string }) => x.status)).toEqual(steps.map(() => 'PENDING'));
    expect(writesTo(s.emulator)).toBe(writes);
  });
});
