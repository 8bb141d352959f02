// Drift of onboarded namespaces (issue 11, item 8): the scan finds a namespace changed by hand since its
// last successful onboarding, records `namespace.drifted` once per drift on that request (audit, progress
// stream, webhooks), and the onboarding can be re-applied as a new request (REST and GraphQL).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriftScanner } from '../../src/namespaces/drift-scanner.service.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import {
  collectProgress,
  gql,
  http,
  readSse,
  startStack,
  startWorker,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
} from '../support/harness.js';
import { namespaceMeta } from '../support/kube.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const METRICS = 'openservicemesh.io/metrics';

async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`not met in ${timeoutMs} ms: ${JSON.stringify(v)?.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('drift scan of onboarded namespaces, and re-applying an onboarding', () => {
  // A cluster name of its own: the database is shared with other test files, whose requests name the
  // context "emulator"; the scan skips clusters its kubeconfig does not know, so it never touches them.
  const cluster = `a-drift-${randomBytes(3).toString('hex')}`;
  let emulator: Emulator;
  let s: Stack;
  let env: Record<string, string>;
  let scanner: DriftScanner;
  let received: { json: any }[];
  let receiver: Server;
  let token: string;
  const as = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    emulator = await startEmulator();
    const dir = await mkdtemp(join(tmpdir(), 'drift-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, emulator.kubeconfig({ contexts: [cluster] }));
    // A timed pass at most once an hour (the timer ticks every 15 minutes): the tests run passes themselves.
    const drift = { DRIFT_SCAN_INTERVAL_MS: '3600000' };
    const hooks = { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' };
    // No sweeper pass during the tests: a re-applied request must be run from its own job, not recovered by a sweep
    // (its re-apply event, written after the enqueue, made the worker's claim miss it: it ran ~10 s late).
    const sweep = { SWEEP_INTERVAL_MS: '3600000' };
    s = await startStack({ emulator, env: { KUBECONFIG: kubeconfig, ...hooks, ...drift, ...sweep } });
    env = s.env;
    scanner = s.app.get(DriftScanner, { strict: false });
    received = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ json: JSON.parse(body) });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    // A requester scoped to this cluster: its webhook sees only this file's events. It also holds the mesh
    // grant: the API server exclusion test changes the MeshConfig (a mesh-wide change).
    token = await newToken(['requester'], [`${cluster}/*`, `${cluster}/mesh:osm`]);
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    const hook = await http(s.url, 'POST', '/v1/webhooks', { url, eventTypes: ['namespace.*'] }, as());
    expect(hook.status).toBe(201);
  });
  afterAll(async () => {
    await new Promise<void>((r) => receiver?.close(() => r()));
    await s?.close();
    await emulator?.close();
  });

  async function newToken(roles: string[], scopes: string[]): Promise<string> {
    return (await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('drift'), roles, scopes })).body.token;
  }
  const reapplyPath = (ns: string) => `/v1/namespaces/${cluster}/${ns}/reapply`;

  async function onboard(body: Record<string, unknown>) {
    const r = await http(s.url, 'POST', '/v1/onboardings', { cluster, ...body }, as());
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
    expect(done.status).toBe('SUCCEEDED');
    return done;
  }
  const audit = async (id: string) => (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items as any[];
  const drifted = async (id: string) => (await audit(id)).filter((e) => e.action === 'namespace.drifted');
  const patchNs = (ns: string, ops: object[]) =>
    emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns }, 'json', ops);
  const esc = (key: string) => key.replace('/', '~1');

  it('records a hand-removed label once, on the last successful onboarding: audit, SSE, GraphQL, webhook', async () => {
    const ns = uniqueName('drift');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const done = await onboard({ namespace: ns, metrics: true });
    const first = await scanner.scan(true);
    expect(first).toMatchObject({ ran: true, recorded: 0 });
    expect(first.checked).toBeGreaterThanOrEqual(1);
    expect(await drifted(done.id)).toEqual([]);

    // Someone removes the mesh label by hand.
    patchNs(ns, [{ op: 'remove', path: `/metadata/labels/${esc(MONITORED)}` }]);
    expect((await scanner.scan(true)).recorded).toBe(1);
    const events = await drifted(done.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: 'system:drift-scan',
      data: {
        changes: [{ what: `label ${MONITORED}`, expected: 'osm', actual: null }],
        lastSuccessfulRequestId: done.id,
        reapply: `/v1/namespaces/${cluster}/${ns}/reapply`,
      },
    });
    expect(events[0].data.message).toContain(`label ${MONITORED} removed (was osm)`);

    // Once per drift: the next passes find the same drift and write nothing.
    expect((await scanner.scan(true)).recorded).toBe(0);
    expect(await drifted(done.id)).toHaveLength(1);

    // The request's stream replays it after its final event, then ends (SSE and GraphQL).
    const sse = await readSse(s.url, `/v1/onboardings/${done.id}/events`);
    const types = sse.events.map((e) => e.event);
    expect(types.indexOf('namespace.drifted')).toBeGreaterThan(types.indexOf('request.succeeded'));
    const client = wsClient(s.url);
    const { events: streamed } = await collectProgress(client, done.id, events[0].cursor - 1);
    await client.dispose();
    expect(streamed.map((e) => e.type)).toEqual(['namespace.drifted']);

    // The webhook gets it with a line to post.
    const hit = (await until(() => received.find((r) => r.json.requestId === done.id), Boolean))!;
    expect(hit.json).toMatchObject({ type: 'namespace.drifted', cluster, namespace: ns, cursor: events[0].cursor });
    const line = `^⚠️ namespace ${cluster}/${ns} drifted from its onboarding into mesh osm: `;
    expect(hit.json.summary).toMatch(new RegExp(line));

    // `osm namespace remove` (its patch: both labels and both annotations) is a different drift: recorded again.
    patchNs(ns, [
      { op: 'remove', path: `/metadata/annotations/${esc(INJECTION)}` },
      { op: 'remove', path: `/metadata/annotations/${esc(METRICS)}` },
    ]);
    expect((await scanner.scan(true)).recorded).toBe(1);
    const again = await drifted(done.id);
    expect(again).toHaveLength(2);
    expect(again[1].data.changes.map((c: any) => c.what).sort()).toEqual([
      `annotation ${METRICS}`,
      `annotation ${INJECTION}`,
      `label ${MONITORED}`,
    ]);

    // Re-apply: a new request with the same options; the namespace is back and the drift is gone.
    const re = await http(s.url, 'POST', reapplyPath(ns), {}, as());
    expect(re.status, JSON.stringify(re.body)).toBe(202);
    expect(re.body.request).toMatchObject({ kind: 'ONBOARD', namespace: ns, options: done.options });
    const reDone = await waitForStatus(s.url, re.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
    expect(reDone.status).toBe('SUCCEEDED');
    const trail = await audit(re.body.id);
    expect(trail.slice(0, 3).map((e) => e.action)).toEqual(['request.created', 'request.reapply', 'request.started']);
    expect(trail.find((e) => e.action === 'request.reapply')).toMatchObject({
      data: { reappliedFrom: done.id, drift: { changes: again[1].data.changes } },
    });
    const meta = await namespaceMeta(emulator, ns);
    expect(meta.labels[MONITORED]).toBe('osm');
    expect(meta.annotations).toMatchObject({ [INJECTION]: 'enabled', [METRICS]: 'enabled' });
    expect((await scanner.scan(true)).recorded).toBe(0);
    expect(await drifted(re.body.id)).toEqual([]);
  });

  it('a re-apply right after one that fixed the drift does not claim that drift (no scan since)', async () => {
    const ns = uniqueName('stale');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const done = await onboard({ namespace: ns });
    patchNs(ns, [{ op: 'remove', path: `/metadata/labels/${esc(MONITORED)}` }]);
    await scanner.scan(true);
    expect(await drifted(done.id)).toHaveLength(1);
    const first = await http(s.url, 'POST', reapplyPath(ns), {}, as());
    expect((await waitForStatus(s.url, first.body.id, ['SUCCEEDED', 'FAILED'], 20_000)).status).toBe('SUCCEEDED');
    const second = await http(s.url, 'POST', reapplyPath(ns), {}, as());
    expect(second.status).toBe(202);
    await waitForStatus(s.url, second.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
    const event = (await audit(second.body.id)).find((e) => e.action === 'request.reapply');
    expect(event.data).toMatchObject({ reappliedFrom: first.body.id, drift: null });
    expect(event.data.message).not.toContain('had drifted');
  });

  it('compares the way osm-edge reads values, and sees a deleted namespace and the ignore label', async () => {
    const ns = uniqueName('same');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const done = await onboard({ namespace: ns });
    patchNs(ns, [{ op: 'replace', path: `/metadata/annotations/${esc(INJECTION)}`, value: 'YES' }]);
    await scanner.scan(true);
    expect(await drifted(done.id)).toEqual([]); // "YES" is "enabled" to osm-edge's injector

    patchNs(ns, [{ op: 'add', path: `/metadata/labels/${esc('openservicemesh.io/ignore')}`, value: 'true' }]);
    await scanner.scan(true);
    expect((await drifted(done.id)).at(-1).data.changes).toEqual([
      { what: 'label openservicemesh.io/ignore', expected: null, actual: 'true' },
    ]);

    emulator.store.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    await until(
      () => emulator.store.get({ apiVersion: 'v1', kind: 'Namespace', name: ns }),
      (o) => !o,
    );
    await scanner.scan(true);
    const deleted = [{ what: 'namespace', expected: 'exists', actual: null }];
    expect((await drifted(done.id)).at(-1).data.changes).toEqual(deleted);
  });

  it('sees the API server exclusion leaving the MeshConfig', async () => {
    const ns = uniqueName('excl');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const done = await onboard({ namespace: ns, apiServerAccess: { method: 'ip-exclusion' } });
    await scanner.scan(true);
    expect(await drifted(done.id)).toEqual([]);
    const mc = {
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      namespace: 'osm-system',
      name: 'osm-mesh-config',
    };
    emulator.store.patch(mc, 'merge', { spec: { traffic: { outboundIPRangeExclusionList: [] } } });
    await scanner.scan(true);
    expect((await drifted(done.id)).at(-1).data.changes).toEqual([
      { what: 'MeshConfig outboundIPRangeExclusionList entry', expected: '10.96.0.1/32', actual: null },
    ]);
    // Re-applying puts it back (and, restart needed, re-creates nothing: the pods never had a sidecar here).
    const mutation = `mutation($c: String!, $n: String!) {
      reapplyOnboarding(cluster: $c, namespace: $n, restart: { mode: "needed" }) { id status } }`;
    const g = await gql(s.url, mutation, { c: cluster, n: ns }, as());
    expect(g.errors).toBeUndefined();
    const reapplied = await waitForStatus(s.url, g.data.reapplyOnboarding.id, ['SUCCEEDED', 'FAILED'], 20_000);
    expect(reapplied.status).toBe('SUCCEEDED');
    expect(emulator.store.get<any>(mc)!.spec.traffic.outboundIPRangeExclusionList).toContain('10.96.0.1/32');
  });

  it("re-apply: refused without an onboarding to re-apply, and outside the caller's scopes", async () => {
    const ns = uniqueName('none');
    seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const nothing = await http(s.url, 'POST', reapplyPath(ns), {}, as());
    expect(nothing.status).toBe(409);
    expect(nothing.body.error).toMatchObject({ code: 'NOTHING_TO_REAPPLY', fields: [{ field: 'namespace' }] });
    await onboard({ namespace: ns });
    const off = await http(s.url, 'POST', '/v1/offboardings', { cluster, namespace: ns }, as());
    await waitForStatus(s.url, off.body.id, ['SUCCEEDED']);
    const offboarded = await http(s.url, 'POST', reapplyPath(ns), {}, as());
    const lastSuccessfulRequestId = off.body.id;
    expect(offboarded.body.error).toMatchObject({ code: 'NOTHING_TO_REAPPLY', details: { lastSuccessfulRequestId } });

    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const outOfScope = await newToken(['requester'], ['x/*']);
    expect((await http(s.url, 'POST', reapplyPath(ns), {}, bearer(outOfScope))).status).toBe(403);
    const viewer = await newToken(['viewer'], ['*/*']);
    expect((await http(s.url, 'POST', reapplyPath(ns), {}, bearer(viewer))).status).toBe(403);
    // The path's namespace is checked as a request's: 422, not "nothing to re-apply" (an outside audit).
    for (const bad of ['Team_A', 'a%2Fb', '..%2F..']) {
      const r = await http(s.url, 'POST', reapplyPath(bad), {}, as());
      expect(r.status, bad).toBe(422);
      expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'namespace' }] });
    }
    const reapply = (body: object) => http(s.url, 'POST', reapplyPath(ns), body, as());
    expect((await reapply({ x: 1 })).body.error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'x' }] });
  });

  it('one scanner at a time across replicas, paced by the interval, bounded per pass', async () => {
    const names = [uniqueName('rep'), uniqueName('rep'), uniqueName('rep')];
    for (const ns of names) seedAppNamespace(emulator.store, ns);
    await emulator.idle();
    const requests = [];
    for (const ns of names) requests.push(await onboard({ namespace: ns }));
    for (const ns of names) patchNs(ns, [{ op: 'remove', path: `/metadata/labels/${esc(MONITORED)}` }]);

    // A second worker replica (same Redis prefix and database), batch size 2, interval 1 h.
    const other: INestApplicationContext = await startWorker({ ...env, DRIFT_SCAN_BATCH_SIZE: '2' });
    try {
      const replica = other.get(DriftScanner, { strict: false });
      // Both at once (each call slowed down, so the passes overlap): one runs, the other finds the lock taken.
      emulator.faults.setLatency(100);
      const both = await Promise.all([scanner.scan(true), replica.scan(true)]);
      emulator.faults.setLatency(0);
      expect(both.map((r) => r.ran).sort()).toEqual([false, true]);

      // Bounded: the replica checks at most 2 namespaces a pass, continuing where the last pass stopped,
      // until every drift is recorded, each once.
      for (let pass = 0; pass < 20; pass++) {
        const counts = await Promise.all(requests.map(async (r) => (await drifted(r.id)).length));
        if (counts.every((n) => n === 1)) break;
        const r = await replica.scan(true);
        expect(r.checked + r.skipped).toBeLessThanOrEqual(2);
      }
      for (const r of requests) expect(await drifted(r.id)).toHaveLength(1);

      // Paced: the first timed pass runs, the next one within the interval does not, on any replica.
      const timed = await replica.tick();
      expect(timed.ran).toBe(true);
      expect((await replica.tick()).ran).toBe(false);
      expect((await scanner.tick()).ran).toBe(false);
    } finally {
      await other.close();
    }
  });
});
