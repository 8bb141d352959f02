// The emulator's store contract: a stored object is never changed in place. Writes store a new version (which may
// share unchanged fields with the last one), the server's replies are views of stored objects, and what a caller
// passes in or gets back is its own copy. ObjectStore.freezeStored makes a change in place throw.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { ObjectStore } from '../../support/emulator/store.js';
import type { KubeObject } from '../../support/emulator/types.js';

const cm = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', labels: { app: 'x' } },
  data,
});

describe('stored objects', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ seed: 'empty' });
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('are frozen: a change in place throws', () => {
    const store = new ObjectStore();
    store.freezeStored = true;
    const stored = store.create('/configmaps', cm('frozen', { a: '1' }));
    expect(() => {
      (stored.data as Record<string, string>).a = '2';
    }).toThrow(TypeError);
    expect(() => {
      stored.metadata.labels!.app = 'y';
    }).toThrow(TypeError);
    expect(store.peek('/configmaps', 'default', 'frozen')?.data).toEqual({ a: '1' });
  });

  it('do not change when the caller changes what it passed in or got back', () => {
    const body = cm('mine', { a: '1' });
    const created = emulator.store.create(body);
    (body.data as Record<string, string>).a = 'changed by the caller';
    body.metadata.labels!.app = 'changed';
    (created.data as Record<string, string>).a = 'changed too';
    const read = emulator.store.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'mine' });
    expect(read?.data).toEqual({ a: '1' });
    expect(read?.metadata.labels).toEqual({ app: 'x' });
  });

  it('keep their version when a later write shares its unchanged fields', async () => {
    const url = `${emulator.url}/api/v1/namespaces/default/configmaps`;
    const headers = { authorization: `Bearer ${emulator.token}`, 'content-type': 'application/json' };
    const created = await fetch(url, { method: 'POST', headers, body: JSON.stringify(cm('shared', { a: '1' })) });
    expect(created.status).toBe(201);
    const first = (await created.json()) as KubeObject;
    const patched = await fetch(`${url}/shared`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { b: '2' }, metadata: { labels: { tier: 'web' } } }),
    });
    expect(patched.status).toBe(200);
    const events: { type: string; object: KubeObject }[] = [];
    const stop = emulator.store.watch('v1', 'ConfigMap', (e) => events.push({ type: e.type, object: e.object }));
    const again = await fetch(`${url}/shared`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { c: '3' } }),
    });
    stop();
    expect(again.status).toBe(200);
    // The version created first, as a watch from its resourceVersion replays it, still has only its own fields.
    const history = await fetch(`${url}?watch=true&resourceVersion=${Number(first.metadata.resourceVersion) - 1}`, {
      headers,
      signal: AbortSignal.timeout(1000),
    }).catch(() => undefined);
    const lines: string[] = [];
    if (history?.body) {
      const reader = history.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (lines.length < 3) {
        const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
        lines.splice(0, lines.length, ...text.split('\n').filter(Boolean));
      }
      await reader.cancel().catch(() => undefined);
    }
    const replayed = lines.map((l) => JSON.parse(l) as { type: string; object: KubeObject });
    expect(replayed.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED']);
    expect(replayed[0].object.data).toEqual({ a: '1' });
    expect(replayed[0].object.metadata.labels).toEqual({ app: 'x' });
    expect(replayed[1].object.data).toEqual({ a: '1', b: '2' });
    expect(replayed[2].object.data).toEqual({ a: '1', b: '2', c: '3' });
    expect(replayed[2].object.metadata.labels).toEqual({ app: 'x', tier: 'web' });
    expect(events.map((e) => e.object.data)).toEqual([{ a: '1', b: '2', c: '3' }]);
  });
});
