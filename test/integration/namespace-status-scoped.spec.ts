// What a scoped caller's namespace status tells of the namespaces it may not see (docs/governance.md): its
// namespaces come from the API's namespace informer, so its pages, their `apiCalls` and whether each has a next
// one are the same whatever the cluster holds outside its scopes. Without the informer (PRECHECK_INFORMER=false)
// the page reads lists of the cluster's namespaces, and its calls follow the cluster's size (the documented
// fallback). A page's continue token stays good across the two (an API whose informer falls out of sync).
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, stackEnv, startApi, startStack, type Stack } from '../support/harness.js';
import { waitFor } from '../support/emulator/testing.js';
import { NamespaceInformer } from '../../src/onboarding/namespace-informer.js';

interface Page {
  names: string[];
  apiCalls: number;
  hasNextPage: boolean;
}

describe("a scoped caller's namespace status", () => {
  let s: Stack;
  let lists: { app: INestApplication; url: string };
  const p = `nsx${randomBytes(3).toString('hex')}`;
  const mine = ['a', 'b', 'c', 'd', 'e'].map((x) => `${p}-${x}`);
  const tokens: Record<string, string> = {};
  const as = (t: string) => ({ authorization: `Bearer ${t}` });
  const addNamespace = (name: string) =>
    s.emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const informed = (n: number) =>
    waitFor(
      () =>
        s.app
          .get(NamespaceInformer)
          .status()
          .some((c) => c.cluster === 'emulator' && c.synced && c.namespaces === n),
      10_000,
    );

  const walk = async (url: string, token: string, limit: number, max = 20): Promise<Page[]> => {
    const pages: Page[] = [];
    let cont: string | null = null;
    do {
      const qs: string = `limit=${limit}${cont ? `&continue=${cont}` : ''}`;
      const r = await http(url, 'GET', `/v1/clusters/emulator/namespaces?${qs}`, undefined, as(token));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      pages.push({
        names: r.body.items.map((n: { name: string }) => n.name),
        apiCalls: r.body.apiCalls,
        hasNextPage: r.body.pageInfo.hasNextPage,
      });
      cont = r.body.pageInfo.continue;
    } while (cont && pages.length < max);
    return pages;
  };

  beforeAll(async () => {
    s = await startStack();
    for (const name of mine) addNamespace(name);
    const token = async (name: string, scopes: string[]) =>
      (await http(s.url, 'POST', '/v1/tokens', { name: `${p}-${name}`, roles: ['viewer'], scopes })).body.token;
    tokens.glob = await token('glob', [`emulator/${p}-*`]);
    // Named namespaces, one of them absent, and a mesh grant (no namespace).
    tokens.named = await token('named', [
      `emulator/${mine[3]}`,
      `emulator/${mine[1]}`,
      `emulator/${p}-zz`,
      'emulator/mesh:osm',
    ]);
    // The same Redis prefix: a continue token from one API is good on the other.
    lists = await startApi(
      await stackEnv(s.emulator, { ROLE: 'api', PRECHECK_INFORMER: 'false', QUEUE_PREFIX: s.env.QUEUE_PREFIX }),
    );
  });
  afterAll(async () => {
    await lists?.app.close();
    await s?.close();
  });

  it('pages the same, at the same cost, whatever the cluster holds outside its scopes', async () => {
    const walks = async () => ({
      glob1: await walk(s.url, tokens.glob, 1),
      glob2: await walk(s.url, tokens.glob, 2),
      named: await walk(s.url, tokens.named, 1),
      withoutInformer: await walk(lists.url, tokens.glob, 2),
    });
    const small = await walks();
    expect(small.glob1.map((x) => x.names)).toEqual(mine.map((n) => [n]));
    expect(small.glob1.map((x) => x.apiCalls)).toEqual([1, 1, 1, 1, 1]);
    expect(small.glob2.map((x) => [x.names.length, x.apiCalls, x.hasNextPage])).toEqual([
      [2, 2, true],
      [2, 2, true],
      [1, 1, false],
    ]);
    expect(small.named).toEqual([
      { names: [mine[1]], apiCalls: 1, hasNextPage: true },
      { names: [mine[3]], apiCalls: 1, hasNextPage: false },
    ]);
    expect(small.withoutInformer.flatMap((x) => x.names)).toEqual(mine);
    const count = s.app
      .get(NamespaceInformer)
      .status()
      .find((c) => c.cluster === 'emulator')!.namespaces;

    // 1,200 namespaces it may not see, before and after its own in name order.
    for (let i = 0; i < 600; i++) {
      addNamespace(`a${p}-${i}`);
      addNamespace(`z${p}-${i}`);
    }
    await informed(count + 1200);
    const large = await walks();
    expect(large.glob1).toEqual(small.glob1);
    expect(large.glob2).toEqual(small.glob2);
    expect(large.named).toEqual(small.named);
    // Without the informer the same namespaces, read with more lists: 500 a list, 1,200 more to read.
    expect(large.withoutInformer.flatMap((x) => x.names)).toEqual(mine);
    const calls = (pages: Page[]) => pages.reduce((sum, x) => sum + x.apiCalls, 0);
    expect(calls(large.withoutInformer)).toBeGreaterThan(calls(small.withoutInformer));
  });

  it("continues a page from either API: the informer's view or the cluster's lists", async () => {
    const page = async (url: string, cont: string | null) => {
      const qs = `limit=2${cont ? `&continue=${cont}` : ''}`;
      const r = await http(url, 'GET', `/v1/clusters/emulator/namespaces?${qs}`, undefined, as(tokens.glob));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return { names: r.body.items.map((n: { name: string }) => n.name) as string[], cont: r.body.pageInfo.continue };
    };
    for (const order of [
      [s.url, lists.url, s.url],
      [lists.url, s.url, lists.url],
    ]) {
      const seen: string[] = [];
      let cont: string | null = null;
      for (const url of order) {
        const r = await page(url, cont);
        seen.push(...r.names);
        cont = r.cont;
      }
      expect(seen).toEqual(mine);
      expect(cont).toBeNull();
    }
  });

  it('answers 503 CLUSTER_UNAVAILABLE while the view cannot be read, and pages once it can', async () => {
    const fresh = await startApi(await stackEnv(s.emulator, { ROLE: 'api' }));
    try {
      s.emulator.faults.add({
        verb: 'list',
        resource: 'namespaces',
        status: 500,
        reason: 'InternalError',
        times: 1000,
      });
      const r = await http(fresh.url, 'GET', '/v1/clusters/emulator/namespaces', undefined, as(tokens.glob));
      expect([r.status, r.body.error.code, r.headers.get('retry-after')]).toEqual([503, 'CLUSTER_UNAVAILABLE', '5']);
      s.emulator.faults.clear();
      await waitFor(async () => {
        const ok = await http(fresh.url, 'GET', '/v1/clusters/emulator/namespaces', undefined, as(tokens.glob));
        return ok.status === 200 && ok.body.items.length === mine.length;
      }, 20_000);
    } finally {
      s.emulator.faults.clear();
      await fresh.app.close();
    }
  });
});
