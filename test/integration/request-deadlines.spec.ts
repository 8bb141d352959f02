// Deadlines of the work done while a caller waits, against a cluster that answers late (the emulator's latency faults,
// with short settings): the mesh lookup of a new request is bounded by PRECHECK_TIMEOUT_MS (no answer in time: the
// request is accepted, and the worker's `mesh` step refuses what the lookup would have), and a plan or dry run by
// PLAN_TIMEOUT_MS (503 CLUSTER_UNAVAILABLE with Retry-After, its calls cut, its turn freed; a freed turn goes to
// another cluster's plan before a slow cluster's next ones).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { writesTo } from '../support/kube.js';

const PRECHECK_MS = 1_000;
const CALL_MS = 2_000;
const PLAN_MS = 1_500;
/** Longer than a call's deadline: every attempt it delays times out. */
const NEVER = 5_000;

/** The answer and how long it took. */
async function timed<T>(call: Promise<T>): Promise<{ res: T; ms: number; at: number }> {
  const started = Date.now();
  const res = await call;
  return { res, ms: Date.now() - started, at: Date.now() };
}

describe('deadlines of what a caller waits for', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      env: {
        PRECHECK_TIMEOUT_MS: String(PRECHECK_MS),
        K8S_REQUEST_TIMEOUT_MS: String(CALL_MS),
        PLAN_TIMEOUT_MS: String(PLAN_MS),
        PLAN_CONCURRENCY: '2',
        MESH_CACHE_TTL_MS: '60000',
      },
    });
  });
  afterAll(() => s?.close());
  beforeEach(() => s.emulator.faults.clear());

  const app = async (prefix: string) => {
    const { namespace } = seedAppNamespace(s.emulator.store, uniqueName(prefix));
    await s.emulator.idle();
    return namespace;
  };
  /** The mesh lookup's two cluster-wide Deployment lists (and their retries), each held `latencyMs`. */
  const slowMeshLookup = (latencyMs: number, times: number) => {
    s.app.get(MeshDiscoveryService).invalidate();
    s.emulator.faults.add({ verb: 'list', resource: 'deployments', namespace: '', latencyMs, times });
  };
  /**
   * Every delayed call of the lookup over: while one is, the cluster counts as slow and requests are accepted
   * without waiting for their mesh (TargetPrecheck's overdue reads), which would blur the next test.
   */
  const settled = async () => {
    await expect.poll(() => s.emulator.faults.list().length, { timeout: 20_000 }).toBe(0);
    await new Promise((r) => setTimeout(r, CALL_MS + 300));
  };
  /** The lookup's calls that arrived since `since` (a call is logged when it ends: an earlier test's may end late). */
  const lookups = (since: number) =>
    s.emulator.requests.count(
      (e) => e.verb === 'list' && e.resource === 'deployments' && e.namespace === undefined && e.at >= since,
    );
  const onboard = (body: Record<string, unknown>) => timed(http(s.url, 'POST', '/v1/onboardings', body));

  describe('creating: the mesh lookup', () => {
    it('accepts the request when the lookup has no answer in time (PRECHECK_TIMEOUT_MS), not 503 later', async () => {
      const ns = await app('meshslow');
      // Every attempt of both lists (4 each) times out: the lookup fails after about 4 × K8S_REQUEST_TIMEOUT_MS.
      slowMeshLookup(NEVER, 8);
      const { res, ms } = await onboard({ namespace: ns });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(ms).toBeLessThan(PRECHECK_MS + 1_000);
      // The worker looks the mesh up again and goes on.
      const done = await waitForStatus(s.url, res.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
      expect(done.status).toBe('SUCCEEDED');
      await settled();
    });

    it('keeps the late answer: the next request is judged on it without another lookup', async () => {
      const ns = await app('meshlate');
      slowMeshLookup(PRECHECK_MS + 300, 2);
      const since = Date.now();
      const first = await onboard({ namespace: ns });
      expect(first.res.status).toBe(202);
      expect(first.ms).toBeLessThan(PRECHECK_MS + 300);
      // Both lists answered (the emulator logs a call when it ends), late: the lookup's answer is in the cache.
      await expect.poll(() => lookups(since)).toBe(2);
      await new Promise((r) => setTimeout(r, 100));
      // The mesh's own namespace: refused on the cached answer, at once.
      const second = await onboard({ namespace: 'osm-system' });
      expect(second.res.status).toBe(422);
      expect(second.res.body.error.code).toBe('NAMESPACE_IS_CONTROL_PLANE');
      expect(second.ms).toBeLessThan(500);
      expect(lookups(since)).toBe(2);
      await waitForStatus(s.url, first.res.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
    });

    it('still refuses at once what the lookup answers in time: MESH_NOT_FOUND', async () => {
      const ns = await app('nomesh');
      const { res } = await onboard({ namespace: ns, meshName: 'absent' });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('MESH_NOT_FOUND');
    });

    it.each([
      ['a mesh that does not exist', 'MESH_NOT_FOUND'],
      ["the mesh's own namespace", 'NAMESPACE_IS_CONTROL_PLANE'],
    ])('accepted without the lookup, %s is refused by the worker (%s) before any write', async (_what, code) => {
      const mesh = code === 'MESH_NOT_FOUND';
      const ns = mesh ? await app('nomesh') : 'osm-system';
      slowMeshLookup(NEVER, 2);
      const writes = writesTo(s.emulator, ns);
      // Without the prerequisites' analysis (read-only too, and it refuses osm-system's pods): the mesh step first.
      const body = { namespace: ns, prerequisites: { enabled: false }, ...(mesh ? { meshName: 'absent' } : {}) };
      const { res, ms } = await onboard(body);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(ms).toBeLessThan(PRECHECK_MS + 1_000);
      const done = await waitForStatus(s.url, res.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: code });
      expect(writesTo(s.emulator, ns)).toBe(writes);
      await settled();
    });
  });

  describe('planning: PLAN_TIMEOUT_MS', () => {
    /**
     * A namespace whose pods (the prerequisites step's first reads) are never listed in time; the checks made before
     * the plan do not read them, so its plan starts at once.
     */
    const slowNamespace = async (prefix: string) => {
      const ns = await app(prefix);
      s.emulator.faults.add({ verb: 'list', resource: 'pods', namespace: ns, latencyMs: NEVER });
      return ns;
    };
    const plan = (body: Record<string, unknown>) => timed(http(s.url, 'POST', '/v1/onboardings/plan', body));
    const unavailable = (res: { status: number; body: any; headers: Headers }) => {
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body.error.code).toBe('CLUSTER_UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('5');
    };

    it('answers 503 CLUSTER_UNAVAILABLE at the deadline, and its calls stop', async () => {
      const ns = await slowNamespace('planslow');
      const { res, ms, at } = await plan({ namespace: ns });
      unavailable(res);
      expect(ms).toBeGreaterThanOrEqual(PLAN_MS - 50);
      expect(ms).toBeLessThan(PLAN_MS + 1_500);
      // Its reads are cut and not tried again: nothing more is sent for it.
      await new Promise((r) => setTimeout(r, CALL_MS + 500));
      const later = s.emulator.requests.all().filter((e) => e.namespace === ns && e.at > at + 100);
      expect(later).toEqual([]);
    });

    it('bounds a dry run the same, storing nothing', async () => {
      const ns = await slowNamespace('dryslow');
      const { res, ms } = await onboard({ namespace: ns, dryRun: true });
      unavailable(res);
      expect(ms).toBeLessThan(PLAN_MS + 1_500);
      expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    });

    it("gives a freed turn to another cluster's plan before a slow cluster's next plans", async () => {
      const healthy = await app('healthy');
      // Warm: the staging cluster's namespace view and mesh, so the timed plan is a plan only.
      expect((await plan({ cluster: 'staging', namespace: healthy })).res.status).toBe(200);
      const slow = await Promise.all([1, 2, 3, 4].map(() => slowNamespace('turnslow')));
      // Both turns taken by slow plans, two more waiting; then the healthy cluster's plan.
      const slowPlans = slow.map((namespace) => plan({ namespace }));
      await new Promise((r) => setTimeout(r, 400));
      const { res, ms } = await plan({ cluster: 'staging', namespace: healthy });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.blocked).toBe(false);
      // It waited for the first two slow plans' deadline only, not for the two queued before it.
      expect(ms).toBeLessThan(PLAN_MS + 1_000);
      for (const p of await Promise.all(slowPlans)) unavailable(p.res);
    });

    it("a batch's plans: a slow target answers 503 at its deadline; healthy batches still plan", async () => {
      const [a, b] = [await app('batchok'), await app('batchok')];
      const ok = await http(s.url, 'POST', '/v1/batches/plan', {
        kind: 'ONBOARD',
        targets: [{ namespace: a }, { namespace: b }],
      });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.plans.map((p: any) => p.namespace)).toEqual([a, b]);
      const slow = await slowNamespace('batchslow');
      const { res, ms } = await timed(
        http(s.url, 'POST', '/v1/batches/plan', { kind: 'ONBOARD', targets: [{ namespace: a }, { namespace: slow }] }),
      );
      unavailable(res);
      expect(ms).toBeLessThan(PLAN_MS + 1_500);
    });
  });
});
