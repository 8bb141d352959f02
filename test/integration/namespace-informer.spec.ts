// The API's namespace informer (issue 15): per cluster one paginated list, then a watch, so the request-time
// check reads its namespace from memory. Against the emulator over HTTP: what the informer sees (creations,
// deletions through the watch), how it recovers (a closed watch is watched again, 410 Gone is listed again), the
// Kubernetes calls a request makes with it on and off, refusals still on a fresh read, and the fallback when
// RBAC refuses the list or the watch. API-only stacks (ROLE=api): no worker reads the namespaces meanwhile.
import { Logger, type INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { waitFor } from '../support/emulator/testing.js';
import { http, stackEnv, startApi, startWorker, uniqueName } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { NamespaceInformer } from '../../src/onboarding/namespace-informer.js';

const CLUSTER = 'emulator';
const MONITORED = 'openservicemesh.io/monitored-by';

interface Api {
  app: INestApplication;
  url: string;
}

describe('namespace informer of the request-time check', () => {
  let emu: Emulator;
  let on: Api;
  let off: Api;
  const apis: Api[] = [];

  const api = async (env: Record<string, string> = {}): Promise<Api> => {
    const a = await startApi(await stackEnv(emu, { ROLE: 'api', ...env }));
    apis.push(a);
    return a;
  };
  const informer = (a: Api) => a.app.get(NamespaceInformer);
  const view = (a: Api, ns: string) => informer(a).lookup(CLUSTER, ns);
  const synced = (a: Api) =>
    waitFor(
      () =>
        informer(a)
          .status()
          .find((c) => c.cluster === CLUSTER)?.synced,
      10_000,
    );
  const gets = (ns: string) => emu.requests.count({ verb: 'get', resource: 'namespaces', name: ns });
  const calls = (verb: string) => emu.requests.count({ verb, resource: 'namespaces', name: undefined });
  const onboard = (a: Api, ns: string) => http(a.url, 'POST', '/v1/onboardings', { namespace: ns });

  beforeAll(async () => {
    emu = await startEmulator();
    on = await api();
    off = await api({ PRECHECK_INFORMER: 'false' });
  });
  afterAll(async () => {
    for (const a of apis) await a.app.close();
    await emu?.close();
  });

  it('starts on the first request for a cluster, lists in pages, then watches from the list', async () => {
    expect(informer(on).status()).toEqual([]); // nothing before a request
    // More than a page (NAMESPACE_PAGE = 500): the list follows `continue`.
    for (let i = 0; i < 520; i++) {
      emu.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bulk-${i}` } });
    }
    await emu.idle();
    const first = await onboard(on, 'bookstore');
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    await synced(on);
    const lists = emu.requests.all().filter((e) => e.verb === 'list' && e.resource === 'namespaces');
    expect(lists.length).toBe(2);
    expect(new URLSearchParams(lists[0].query).get('limit')).toBe('500');
    expect(new URLSearchParams(lists[1].query).get('continue')).toBeTruthy();
    expect(view(on, 'bulk-0')?.kind).toBe('found');
    expect(view(on, 'bulk-519')?.kind).toBe('found');
    const watch = emu.requests.all().find((e) => e.verb === 'watch' && e.resource === 'namespaces');
    expect(new URLSearchParams(watch!.query).get('allowWatchBookmarks')).toBe('true');
    expect(new URLSearchParams(watch!.query).get('resourceVersion')).toMatch(/^\d+$/);
    expect(view(on, 'bookstore')).toMatchObject({ kind: 'found', value: { metadata: { name: 'bookstore' } } });
    const metrics = (await http(on.url, 'GET', '/metrics')).body as string;
    expect(metrics).toContain(`osm_onboarding_namespace_informer_synced{cluster="${CLUSTER}"} 1`);
    expect(metrics).toMatch(new RegExp(`osm_onboarding_namespace_informer_namespaces\\{cluster="${CLUSTER}"\\} \\d+`));
  });

  it('keeps only the labels the checks read', async () => {
    const ns = uniqueName('slim');
    await createNamespace(emu, ns, { [MONITORED]: 'blue', team: 'a', name: 'x' }, { note: 'big annotation' });
    const seen = await waitFor(() => view(on, ns)?.kind === 'found' && view(on, ns));
    expect(seen).toEqual({
      kind: 'found',
      value: {
        metadata: { name: ns, resourceVersion: expect.any(String), labels: { [MONITORED]: 'blue', name: 'x' } },
        status: { phase: 'Active' },
      },
    });
  });

  it('a namespace the view has: no Kubernetes read per request (with PRECHECK_INFORMER=false, a GET)', async () => {
    const names = [uniqueName('known'), uniqueName('known'), uniqueName('known')];
    for (const ns of names) await createNamespace(emu, ns);
    await waitFor(() => names.every((ns) => view(on, ns)?.kind === 'found'));
    for (const ns of names) {
      const r = await onboard(on, ns);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect(gets(ns)).toBe(0);
    }
    const ns = uniqueName('known-off');
    await createNamespace(emu, ns);
    const r = await onboard(off, ns);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(gets(ns)).toBe(1);
  });

  it('an absent namespace is still refused on a fresh read made for the request', async () => {
    const ns = uniqueName('absent');
    expect(view(on, ns)).toEqual({ kind: 'absent' });
    const r = await onboard(on, ns);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('NAMESPACE_NOT_FOUND');
    expect(gets(ns)).toBe(1);
    // Created a moment ago, before the view has it: the fresh read decides (accepted).
    const late = uniqueName('late');
    await createNamespace(emu, late);
    expect((await onboard(on, late)).status).toBe(202);
  });

  it('sees a deletion through the watch; the request is then refused (fresh read)', async () => {
    const ns = uniqueName('gone');
    await createNamespace(emu, ns);
    await waitFor(() => view(on, ns)?.kind === 'found');
    emu.store.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    await waitFor(() => view(on, ns)?.kind === 'absent', 5_000);
    const r = await onboard(on, ns);
    expect(r.body.error?.code).toBe('NAMESPACE_NOT_FOUND');
  });

  it('watches again after the server closes the watch, from where it was', async () => {
    const watches = calls('watch');
    const lists = calls('list');
    expect(emu.closeWatches()).toBeGreaterThanOrEqual(1);
    await waitFor(() => calls('watch') > watches, 5_000);
    const ns = uniqueName('after-close');
    await createNamespace(emu, ns);
    await waitFor(() => view(on, ns)?.kind === 'found', 5_000);
    expect(calls('list')).toBe(lists); // no re-list: resumed from the last resourceVersion
    const rewatch = emu.requests.all().filter((e) => e.verb === 'watch' && e.resource === 'namespaces');
    expect(Number(new URLSearchParams(rewatch.at(-1)!.query).get('resourceVersion'))).toBeGreaterThan(0);
  });

  it('a watch that breaks (5xx) is opened again from where it was: the view is kept, not listed again', async () => {
    view(on, 'default'); // the view starts on its first lookup
    await synced(on);
    const lists = calls('list');
    const watches = calls('watch');
    // Two rules on one request both count it: one rule, for two re-opened watches in a row.
    const fault = emu.faults.add({ verb: 'watch', resource: 'namespaces', status: 503, times: 2 });
    try {
      expect(emu.closeWatches()).toBeGreaterThanOrEqual(1);
      await waitFor(() => calls('watch') >= watches + 3, 10_000); // 503, 503, then open
      await synced(on);
      const ns = uniqueName('after-break');
      await createNamespace(emu, ns);
      await waitFor(() => view(on, ns)?.kind === 'found', 5_000);
      expect(calls('list')).toBe(lists);
      const last = emu.requests.all().filter((e) => e.verb === 'watch' && e.resource === 'namespaces');
      expect(Number(new URLSearchParams(last.at(-1)!.query).get('resourceVersion'))).toBeGreaterThan(0);
    } finally {
      emu.faults.remove(fault);
    }
  });

  it('lists again after 410 Gone (compacted history), then watches on', async () => {
    // Another kind's write moves the revision past the informer's last resourceVersion; compaction drops it.
    emu.store.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: uniqueName('sa'), namespace: 'default' },
    });
    const lists = calls('list');
    emu.compact();
    emu.closeWatches();
    await waitFor(() => calls('list') > lists, 5_000);
    await synced(on);
    const ns = uniqueName('after-410');
    await createNamespace(emu, ns);
    await waitFor(() => view(on, ns)?.kind === 'found', 5_000);
    const r = await onboard(on, ns);
    expect(r.status).toBe(202);
    expect(gets(ns)).toBe(0);
  });

  it('a watch failing again and again is one warning, and one line when the view is in sync again', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const log = vi.spyOn(Logger.prototype, 'log');
    const fault = emu.faults.add({
      verb: 'watch',
      resource: 'namespaces',
      status: 500,
      reason: 'InternalError',
      times: 3,
    });
    try {
      const flaky = await api();
      const ns = uniqueName('flaky-watch');
      await createNamespace(emu, ns);
      expect((await onboard(flaky, ns)).status).toBe(202);
      await waitFor(() => emu.faults.list().every((f) => f.id !== fault), 10_000); // the three failures happened
      await synced(flaky);
      const lines = (spy: typeof warn) =>
        spy.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith(`namespace informer of cluster ${CLUSTER}`));
      expect(lines(warn)).toEqual([expect.stringMatching(/: watch failed \(.*\); retrying$/)]);
      expect(lines(log).filter((m) => m.includes('in sync again'))).toEqual([
        expect.stringMatching(/in sync again \(\d+ namespaces\) after 3 failed attempt\(s\)$/),
      ]);
    } finally {
      emu.faults.remove(fault);
      warn.mockRestore();
      log.mockRestore();
    }
  });

  it.each(['list', 'watch'])('RBAC refusing %s: the per-request read decides, as before', async (verb) => {
    const fault = emu.faults.add({ verb, resource: 'namespaces', status: 403, reason: 'Forbidden', times: 1 });
    try {
      const refused = await api();
      const ns = uniqueName(`no-${verb}`);
      await createNamespace(emu, ns);
      expect((await onboard(refused, ns)).status).toBe(202);
      await waitFor(() => emu.faults.list().every((f) => f.id !== fault), 5_000); // the informer hit it
      await waitFor(() => informer(refused).status()[0]?.synced === false && informer(refused).status()[0]);
      expect(view(refused, ns)).toBeUndefined();
      const other = uniqueName(`no-${verb}`);
      await createNamespace(emu, other);
      expect((await onboard(refused, other)).status).toBe(202);
      expect(gets(other)).toBe(1);
      const missing = await onboard(refused, uniqueName('missing'));
      expect(missing.body.error?.code).toBe('NAMESPACE_NOT_FOUND');
    } finally {
      emu.faults.remove(fault);
    }
  });

  it('the worker role has no informer', async () => {
    const worker = await startWorker(await stackEnv(emu));
    try {
      expect(() => worker.get(NamespaceInformer, { strict: false })).toThrow();
    } finally {
      await worker.close();
    }
  });

  it('closing the API ends its watches (no socket left open)', async () => {
    for (const a of apis.splice(0)) await a.app.close();
    await waitFor(() => emu.openWatches() === 0, 5_000);
  });
});
