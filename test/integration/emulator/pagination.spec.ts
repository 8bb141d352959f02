// Paginated lists as kube-apiserver serves them from etcd3: every page of a list is read at the revision of its
// first page (a consistent snapshot), continue tokens refuse a resourceVersion, a compacted token is 410 Expired
// with a fresh token that continues at the latest revision, and pages follow etcd's key order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ seed: 'empty' });
});
afterAll(() => emu?.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers = { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' };
  const res = await fetch(`${emu.url}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() };
}

async function namespace(name: string, configMaps: string[]): Promise<void> {
  expect((await call('POST', '/api/v1/namespaces', { metadata: { name } })).status).toBe(201);
  for (const cm of configMaps) {
    const created = await call('POST', `/api/v1/namespaces/${name}/configmaps`, {
      metadata: { name: cm, labels: { pg: 'yes' } },
      data: { v: '1' },
    });
    expect(created.status).toBe(201);
  }
}

const names = (list: any): string[] => list.items.map((i: any) => i.metadata.name);

describe('list pagination', () => {
  it("reads every page at the first page's revision, whatever changed in between", async () => {
    await namespace('snap', ['cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5']);
    const base = '/api/v1/namespaces/snap/configmaps';
    const first = (await call('GET', `${base}?limit=2`)).body;
    expect(names(first)).toEqual(['cm-1', 'cm-2']);
    // cm-3, cm-4, cm-5 and the kube-root-ca.crt ConfigMap every namespace gets.
    expect(first.metadata.remainingItemCount).toBe(4);
    const revision = first.metadata.resourceVersion;
    const cm3 = (await call('GET', `${base}/cm-3`)).body;

    await call('PUT', `${base}/cm-3`, { ...cm3, data: { v: '2' } });
    await call('DELETE', `${base}/cm-4`);
    await call('POST', base, { metadata: { name: 'cm-6' } });

    const second = (await call('GET', `${base}?limit=2&continue=${first.metadata.continue}`)).body;
    expect(names(second)).toEqual(['cm-3', 'cm-4']);
    expect(second.metadata.resourceVersion).toBe(revision);
    expect(second.items[0].data).toEqual({ v: '1' });
    expect(second.items[0].metadata.resourceVersion).toBe(cm3.metadata.resourceVersion);
    const third = (await call('GET', `${base}?limit=2&continue=${second.metadata.continue}`)).body;
    expect(names(third)).toEqual(['cm-5', 'kube-root-ca.crt']);
    expect(third.metadata.continue).toBeUndefined();
    expect(third.metadata.resourceVersion).toBe(revision);

    const now = (await call('GET', base)).body;
    expect(names(now)).toEqual(['cm-1', 'cm-2', 'cm-3', 'cm-5', 'cm-6', 'kube-root-ca.crt']);
    expect(now.items[2].data).toEqual({ v: '2' });
  });

  it('refuses a resourceVersion with continue (400), except "0", and malformed tokens', async () => {
    const base = '/api/v1/namespaces/snap/configmaps';
    const first = (await call('GET', `${base}?limit=1`)).body;
    const withRv = await call('GET', `${base}?limit=1&continue=${first.metadata.continue}&resourceVersion=1`);
    expect(withRv.status).toBe(400);
    expect(withRv.body).toMatchObject({
      reason: 'BadRequest',
      message: 'specifying resource version is not allowed when using continue',
    });
    expect((await call('GET', `${base}?limit=1&continue=${first.metadata.continue}&resourceVersion=0`)).status).toBe(
      200,
    );
    const garbage = await call('GET', `${base}?limit=1&continue=a!b`);
    expect(garbage.status).toBe(400);
    expect(garbage.body.message).toBe(
      'invalid continue token: continue key is not valid: illegal base64 data at input byte 1',
    );
    const token = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const noRv = await call('GET', `${base}?continue=${token({ v: 'meta.k8s.io/v1', rv: 0, start: 'snap/x' })}`);
    expect(noRv.body.message).toBe(
      'invalid continue token: continue key is not valid: incorrect encoded start resourceVersion ' +
        '(version meta.k8s.io/v1)',
    );
    // Base64 of something that is not JSON: encoding/json's words, not JavaScript's.
    const notJson = await call('GET', `${base}?continue=abc`);
    expect(notJson.body.message).toBe(
      "invalid continue token: continue key is not valid: invalid character 'i' looking for beginning of value",
    );
  });

  it('serves a list at resourceVersion "0" whole (from the watch cache): the limit ignored, no continue', async () => {
    const base = '/api/v1/namespaces/snap/configmaps';
    const all = (await call('GET', base)).body.items.length;
    expect(all).toBeGreaterThan(2);
    const cached = (await call('GET', `${base}?limit=2&resourceVersion=0`)).body;
    expect(cached.items).toHaveLength(all);
    expect(cached.metadata.continue).toBeUndefined();
    expect(cached.metadata.remainingItemCount).toBeUndefined();
    const paged = (await call('GET', `${base}?limit=2`)).body;
    expect([paged.items.length, typeof paged.metadata.continue]).toEqual([2, 'string']);
  });

  it('answers a token older than the compaction with 410 Expired and a token continuing at the latest', async () => {
    const base = '/api/v1/namespaces/snap/configmaps';
    const first = (await call('GET', `${base}?limit=2`)).body;
    await call('DELETE', `${base}/cm-5`);
    emu.compact();
    const expired = await call('GET', `${base}?limit=2&continue=${first.metadata.continue}`);
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Expired',
      code: 410,
      message:
        'The provided continue parameter is too old to display a consistent list result. You can start a new list ' +
        'without the continue parameter, or use the continue token in this response to retrieve the remainder of ' +
        'the results. Continuing with the provided token results in an inconsistent list - objects that were ' +
        'created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    });
    const fresh = expired.body.metadata.continue as string;
    expect(JSON.parse(Buffer.from(fresh, 'base64url').toString())).toMatchObject({ v: 'meta.k8s.io/v1', rv: -1 });
    const rest = (await call('GET', `${base}?continue=${fresh}`)).body;
    expect(names(rest)).toEqual(['cm-3', 'cm-6', 'kube-root-ca.crt']);
    expect(Number(rest.metadata.resourceVersion)).toBeGreaterThan(Number(first.metadata.resourceVersion));
  });

  it('pages across namespaces in etcd key order ("a-b/" sorts before "a/"), each object once', async () => {
    await namespace('pg', ['x', 'y']);
    await namespace('pg-b', ['z']);
    const seen: string[] = [];
    let token = '';
    do {
      const page = (await call('GET', `/api/v1/configmaps?labelSelector=pg%3Dyes&limit=1${token}`)).body;
      seen.push(...page.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`));
      token = page.metadata.continue ? `&continue=${page.metadata.continue}` : '';
    } while (token);
    expect(seen.filter((k) => k.startsWith('pg'))).toEqual(['pg-b/z', 'pg/x', 'pg/y']);
  });
});
