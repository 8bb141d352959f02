// A step the runner has given up on writes nothing more (src/kubernetes/fenced-client.ts). The step's work may still
// be running (here: following a rollout whose pods are held unready); once its deadline passed (STEP_TIMEOUT), or its
// worker lost the claim to another (a stale heartbeat), the next batch of its restart is refused instead of reaching
// the cluster, so an offboarding (or the worker that took over) is never undone behind its back. An outside audit
// saw both: a FAILED request's restart patching the next Deployment after the namespace was offboarded.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { RequestRunner } from '../../src/onboarding/request-runner.service.js';
import { testDatabaseUrl } from '../support/database.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

const restartAllOneAtATime = { restart: { mode: 'all', maxConcurrent: 1 } };

/** A namespace in the mesh with two Deployments whose new pods stay unready until released. */
async function heldNamespace(s: Stack, prefix: string) {
  const ns = uniqueName(prefix);
  seedAppNamespace(s.emulator.store, ns, {
    deployments: 2,
    labels: { 'openservicemesh.io/monitored-by': 'osm' },
    annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
  });
  await s.emulator.idle();
  const hold = s.emulator.pods.holdUnready({ namespace: ns });
  const patchesOf = (name: string) =>
    s.emulator.requests.count({ verb: 'patch', resource: 'deployments', namespace: ns, name });
  return { ns, hold, patchesOf };
}

const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('a step the runner gave up on', () => {
  it('writes nothing more after its deadline (STEP_TIMEOUT)', async () => {
    const s = await startStack({ env: { STEP_TIMEOUT_MS: '1500', STEP_MAX_ATTEMPTS: '1' } });
    try {
      const { ns, hold, patchesOf } = await heldNamespace(s, 'fence-timeout');
      const accepted = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...restartAllOneAtATime });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const failed = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
      expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'STEP_TIMEOUT' });
      expect([patchesOf('app-0'), patchesOf('app-1')]).toEqual([1, 0]);
      // The first rollout finishes now; the given-up work would go on to the second Deployment.
      s.emulator.pods.release(hold);
      await s.emulator.idle();
      await new Promise((r) => setTimeout(r, 500));
      expect([patchesOf('app-0'), patchesOf('app-1')]).toEqual([1, 0]);
    } finally {
      await s.close();
    }
  });

  it('writes nothing more once another worker took its request over (its claim lost)', async () => {
    // An API-only stack: the runner is called here, as its worker would, and its claim taken from it meanwhile.
    const s = await startStack({ env: { ROLE: 'api' } });
    const db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
    try {
      const { ns, hold, patchesOf } = await heldNamespace(s, 'fence-claim');
      const accepted = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...restartAllOneAtATime });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const run = s.app.get(RequestRunner).run(accepted.body.id);
      await until(() => patchesOf('app-0') === 1);
      // Another worker's takeover, as after a stall: the claim is no longer this worker's.
      await db.query(`UPDATE onboarding_request SET claimed_by = 'other-worker' WHERE id = $1`, [accepted.body.id]);
      await new Promise((r) => setTimeout(r, 1200)); // two heartbeats (HEARTBEAT_MS 500)
      s.emulator.pods.release(hold);
      expect(await run).toBe('claim-lost');
      await s.emulator.idle();
      expect([patchesOf('app-0'), patchesOf('app-1')]).toEqual([1, 0]);
    } finally {
      await db.end();
      await s.close();
    }
  });
});

describe('a watch of work given up', () => {
  it('is cut when the view it was opened through is (ClusterClient.until), not left open to its deadline', async () => {
    const s = await startStack({ env: { ROLE: 'api' } });
    try {
      const { ns } = await heldNamespace(s, 'fence-watch');
      const stop = new AbortController();
      const kube = s.app.get(ClusterGateway).client(s.app.get(ClusterGateway).defaultCluster()).until(stop.signal);
      const started = Date.now();
      // A watch that nothing ends before its 30 s deadline but the view's signal.
      const watching = kube.watchDeployments(ns, { deadline: Date.now() + 30_000, onEvent: () => false });
      setTimeout(() => stop.abort(new Error('given up')), 300);
      expect(await watching).toMatchObject({ end: 'closed' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await s.close();
    }
  });
});
