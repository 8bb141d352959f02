// A page's continue token outlives Kubernetes' own: ours lasts 10 minutes, etcd compacts (and so expires a list's
// continue token) every 5. kube-apiserver answers an expired one 410 Expired with a fresh token in its Status; the
// namespace view goes on from it (an inconsistent list, as kubectl's --chunk-size), or from where the page stopped
// when the Status carries none, and never refuses the caller a token it gave.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startStack, type Stack } from '../support/harness.js';

describe('namespace status: continuing past an expired Kubernetes continue token', () => {
  let s: Stack;
  const p = `nse${randomBytes(3).toString('hex')}`;
  const mine = ['b', 'd', 'f', 'h', 'j'].map((x) => `${p}-${x}`);
  let scoped: string;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });
  const addNamespace = (name: string) =>
    s.emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const page = async (limit: number, cont: string | null, headers: Record<string, string> = {}) => {
    const qs = `limit=${limit}${cont ? `&continue=${cont}` : ''}`;
    const r = await http(s.url, 'GET', `/v1/clusters/emulator/namespaces?${qs}`, undefined, headers);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return { names: r.body.items.map((n: { name: string }) => n.name) as string[], cont: r.body.pageInfo.continue };
  };
  /** A write, then etcd's compaction: every continue token given before it is expired. */
  const compactPast = (name: string) => {
    addNamespace(name);
    s.emulator.compact();
  };
  const expiredAnswers = () =>
    s.emulator.requests.count((e) => e.resource === 'namespaces' && e.verb === 'list' && e.status === 410);

  beforeAll(async () => {
    // No namespace informer: a scoped caller's pages are read from the cluster's lists too.
    s = await startStack({ env: { PRECHECK_INFORMER: 'false' } });
    for (const name of mine) addNamespace(name);
    scoped = (
      await http(s.url, 'POST', '/v1/tokens', { name: `${p}-viewer`, roles: ['viewer'], scopes: [`emulator/${p}-*`] })
    ).body.token;
  });
  afterAll(() => s?.close());

  it("goes on from the fresh token of Kubernetes' 410 Expired, past what the pages showed", async () => {
    const first = await page(3, null);
    expect(first.cont).toEqual(expect.any(String));
    const expired = expiredAnswers();
    compactPast(`z${p}-after-first`);
    const seen = [...first.names];
    let cont: string | null = first.cont;
    for (let i = 0; cont && i < 100; i++) {
      const next = await page(3, cont);
      seen.push(...next.names);
      cont = next.cont;
    }
    expect(cont).toBeNull();
    expect(expiredAnswers()).toBe(expired + 1);
    // In name order, each once; the namespace created meanwhile shows up too (the list is no longer a snapshot).
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining([...mine, `z${p}-after-first`]));
  });

  it(
    "resumes a scoped caller's page that ended inside a list, by name: what changed since is neither repeated " +
      'nor skipped',
    async () => {
      // 600 namespaces before the caller's: its first page reads a second list (with a continue token), and ends
      // inside it; the next page reads that list again, past the two it showed.
      for (let i = 0; i < 600; i++) addNamespace(`a${p}-${String(i).padStart(3, '0')}`);
      const first = await page(2, null, as(scoped));
      expect(first.names).toEqual(mine.slice(0, 2));
      // One of the caller's namespaces created before the ones shown: counting the shown ones would show one again.
      const expired = expiredAnswers();
      compactPast(`${p}-c`);
      const second = await page(2, first.cont, as(scoped));
      expect(expiredAnswers()).toBe(expired + 1);
      expect(second.names).toEqual(mine.slice(2, 4));
      const third = await page(2, second.cont, as(scoped));
      expect([third.names, third.cont]).toEqual([mine.slice(4), null]);
    },
  );

  it('starts the list over past where the page stopped when the 410 carries no fresh token', async () => {
    const first = await page(3, null);
    // A Status without metadata.continue: the list is read again from the first namespace, past the page's last.
    s.emulator.faults.add({ verb: 'list', resource: 'namespaces', status: 410, reason: 'Expired', times: 1 });
    const second = await page(3, first.cont);
    expect(s.emulator.requests.count({ verb: 'list', resource: 'namespaces', fault: 'error' })).toBe(1);
    expect(second.names).toHaveLength(3);
    expect(second.names[0] > first.names[2]).toBe(true);
    const again = await page(3, first.cont);
    expect(again.names).toEqual(second.names);
  });
});
