import { describe, expect, it } from 'vitest';
import { podSchema, serviceSchema, deploymentSchema, namespaceSchema } from '../../support/emulator/merge-keys.js';
import {
  applyJsonPatch,
  decodeJsonPatch,
  jsonMergePatch,
  JsonPatchApplyError,
  JsonPatchFormatError,
  strategicMergePatch,
  StrategicMergeError,
} from '../../support/emulator/patch.js';

describe('JSON merge patch (RFC 7386)', () => {
  it('merges maps recursively, deletes with null and replaces arrays', () => {
    const target = { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2, 3] };
    const result = jsonMergePatch(target, { a: 'z', c: { f: null, h: 'i' }, list: [4] });
    expect(result).toEqual({ a: 'z', c: { d: 'e', h: 'i' }, list: [4] });
    expect(target).toEqual({ a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2, 3] });
  });

  it('follows the RFC 7386 appendix examples', () => {
    expect(jsonMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(jsonMergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(jsonMergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(jsonMergePatch({ a: ['b'] }, { a: 'c' })).toEqual({ a: 'c' });
    expect(jsonMergePatch({ a: 'c' }, { a: ['b'] })).toEqual({ a: ['b'] });
    expect(jsonMergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } })).toEqual({ a: { b: 'd' } });
    expect(jsonMergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(jsonMergePatch({ a: 'b' }, ['c'])).toEqual(['c']);
    expect(jsonMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(jsonMergePatch([1, 2], { a: 'b', c: null })).toEqual({ a: 'b' });
    expect(jsonMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { metadata: { labels: { app: 'web' } }, spec: { list: ['a', 'b'] } };

  it('applies add, remove, replace, move, copy and test', () => {
    const ops = decodeJsonPatch([
      { op: 'test', path: '/metadata/labels/app', value: 'web' },
      { op: 'add', path: '/metadata/labels/tier', value: 'front' },
      { op: 'add', path: '/spec/list/1', value: 'x' },
      { op: 'add', path: '/spec/list/-', value: 'z' },
      { op: 'replace', path: '/metadata/labels/app', value: 'api' },
      { op: 'remove', path: '/spec/list/0' },
      { op: 'copy', from: '/metadata/labels/tier', path: '/metadata/labels/copy' },
      { op: 'move', from: '/metadata/labels/copy', path: '/spec/moved' },
    ]);
    expect(applyJsonPatch(doc, ops)).toEqual({
      metadata: { labels: { app: 'api', tier: 'front' } },
      spec: { list: ['x', 'b', 'z'], moved: 'front' },
    });
    expect(doc.spec.list).toEqual(['a', 'b']);
  });

  it('escapes ~0 and ~1 in pointers', () => {
    const result = applyJsonPatch({ metadata: { labels: {} } }, [
      { op: 'add', path: '/metadata/labels/openservicemesh.io~1monitored-by', value: 'osm' },
    ]);
    expect(result).toEqual({ metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
    expect(applyJsonPatch({ 'a~b': 1 }, [{ op: 'remove', path: '/a~0b' }])).toEqual({});
  });

  it('fails a test operation that does not match', () => {
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/metadata/labels/app', value: 'nope' }])).toThrow(
      JsonPatchApplyError,
    );
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/metadata/missing', value: 'x' }])).toThrow(/test failed/);
  });

  it('passes a test for null on a missing member, but not under a missing parent (json-patch v4)', () => {
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/metadata/missing', value: null }])).toEqual(doc);
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/nope/missing', value: null }])).toThrow(/is missing path/);
  });

  it('rejects paths that do not exist and out-of-range indexes', () => {
    expect(() => applyJsonPatch(doc, [{ op: 'add', path: '/nope/deeper/x', value: 1 }])).toThrow(JsonPatchApplyError);
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/metadata/annotations' }])).toThrow(JsonPatchApplyError);
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/spec/other', value: 1 }])).toThrow(JsonPatchApplyError);
    expect(() => applyJsonPatch(doc, [{ op: 'add', path: '/spec/list/5', value: 1 }])).toThrow(JsonPatchApplyError);
    expect(() => applyJsonPatch(doc, [{ op: 'move', from: '/spec', path: '/spec/list/0' }])).toThrow(
      JsonPatchApplyError,
    );
    expect(() => applyJsonPatch(doc, [{ op: 'frobnicate', path: '/spec' }])).toThrow(/Unexpected kind/);
  });

  it('rejects a patch document that is not an array of operations', () => {
    expect(() => decodeJsonPatch({ op: 'add' })).toThrow(JsonPatchFormatError);
    expect(() => decodeJsonPatch(['add'])).toThrow(JsonPatchFormatError);
  });
});

describe('strategic merge patch', () => {
  const pod = {
    metadata: { labels: { app: 'web', tier: 'front' }, finalizers: ['a'] },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'app:1',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
          ports: [{ containerPort: 80 }],
        },
        { name: 'log', image: 'log:1' },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
      tolerations: [{ key: 'x', operator: 'Exists' }],
    },
  };

  it('merges maps and deletes keys set to null', () => {
    const result = strategicMergePatch(
      pod,
      { metadata: { labels: { tier: null, version: 'v2' } } },
      podSchema,
    ) as typeof pod;
    expect(result.metadata.labels).toEqual({ app: 'web', version: 'v2' });
  });

  it('merges containers, env and ports by their merge keys', () => {
    const result = strategicMergePatch(
      pod,
      {
        spec: {
          containers: [
            {
              name: 'app',
              image: 'app:2',
              env: [
                { name: 'B', value: 'changed' },
                { name: 'C', value: '3' },
              ],
              ports: [{ containerPort: 8080 }],
            },
            { name: 'sidecar', image: 'pipy' },
          ],
        },
      },
      podSchema,
    ) as { spec: { containers: Record<string, unknown>[] } };
    expect(result.spec.containers.map((c) => c.name)).toEqual(['app', 'log', 'sidecar']);
    expect(result.spec.containers[0]).toEqual({
      name: 'app',
      image: 'app:2',
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: 'changed' },
        { name: 'C', value: '3' },
      ],
      ports: [{ containerPort: 80 }, { containerPort: 8080 }],
    });
  });

  it('deletes list elements with $patch: delete and replaces lists with $patch: replace', () => {
    const deleted = strategicMergePatch(
      pod,
      { spec: { containers: [{ name: 'log', $patch: 'delete' }] } },
      podSchema,
    ) as {
      spec: { containers: { name: string }[] };
    };
    expect(deleted.spec.containers.map((c) => c.name)).toEqual(['app']);

    const replaced = strategicMergePatch(
      pod,
      { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } },
      podSchema,
    ) as {
      spec: { containers: unknown[] };
    };
    expect(replaced.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
  });

  it('handles $patch on maps, $retainKeys, $deleteFromPrimitiveList and $setElementOrder', () => {
    const replacedMap = strategicMergePatch(
      pod,
      { metadata: { labels: { $patch: 'replace', only: 'this' } } },
      podSchema,
    ) as typeof pod;
    expect(replacedMap.metadata.labels).toEqual({ only: 'this' });

    const deletedMap = strategicMergePatch(
      pod,
      { metadata: { labels: { $patch: 'delete' } } },
      podSchema,
    ) as typeof pod;
    expect(deletedMap.metadata.labels).toEqual({});

    const retained = strategicMergePatch(
      { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } },
      { strategy: { $retainKeys: ['type'], type: 'Recreate' } },
    );
    expect(retained).toEqual({ strategy: { type: 'Recreate' } });

    const finalizers = strategicMergePatch(
      { metadata: { finalizers: ['a', 'b', 'c'] } },
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['b'] } },
      podSchema,
    );
    expect(finalizers).toEqual({ metadata: { finalizers: ['a', 'c'] } });

    const ordered = strategicMergePatch(
      pod,
      { spec: { '$setElementOrder/containers': [{ name: 'log' }, { name: 'app' }] } },
      podSchema,
    ) as {
      spec: { containers: { name: string }[] };
    };
    expect(ordered.spec.containers.map((c) => c.name)).toEqual(['log', 'app']);

    // Items the order does not name keep their place among the ordered ones by the live order (kubectl apply onto
    // a hand-edited object): live [c, b, a], order [a, b] → [c, a, b], as kube-apiserver answers.
    const live = { spec: { containers: ['c', 'b', 'a'].map((name) => ({ name, image: `${name}:1` })) } };
    const interleaved = strategicMergePatch(
      live,
      {
        spec: {
          '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
          containers: [{ name: 'b', image: 'bbb' }],
        },
      },
      podSchema,
    ) as { spec: { containers: { name: string; image: string }[] } };
    expect(interleaved.spec.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['c=c:1', 'a=a:1', 'b=bbb']);
    // A server-only item after the ordered ones in the live list stays after them.
    const after = strategicMergePatch(
      { spec: { containers: ['a', 'b', 'z'].map((name) => ({ name })) } },
      { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } },
      podSchema,
    ) as { spec: { containers: { name: string }[] } };
    expect(after.spec.containers.map((c) => c.name)).toEqual(['b', 'a', 'z']);
  });

  it('replaces lists without a merge strategy and merges primitive lists with one', () => {
    const result = strategicMergePatch(
      pod,
      { spec: { tolerations: [{ key: 'y', operator: 'Exists' }] }, metadata: { finalizers: ['a', 'b'] } },
      podSchema,
    ) as typeof pod;
    expect(result.spec.tolerations).toEqual([{ key: 'y', operator: 'Exists' }]);
    expect(result.metadata.finalizers).toEqual(['a', 'b']);
  });

  it('merges service ports by port number', () => {
    const svc = {
      spec: {
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'grpc', port: 9000 },
        ],
      },
    };
    const result = strategicMergePatch(svc, { spec: { ports: [{ port: 80, appProtocol: 'http' }] } }, serviceSchema);
    expect(result).toEqual({
      spec: {
        ports: [
          { name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' },
          { name: 'grpc', port: 9000 },
        ],
      },
    });
  });

  it('produces the rollout-restart result on a deployment template', () => {
    const deploy = {
      spec: {
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      },
    };
    const patch = {
      spec: {
        template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T12:34:56Z' } } },
      },
    };
    expect(strategicMergePatch(deploy, patch, deploymentSchema)).toEqual({
      spec: {
        template: {
          metadata: {
            labels: { app: 'web' },
            annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T12:34:56Z' },
          },
          spec: { containers: [{ name: 'web', image: 'nginx' }] },
        },
      },
    });
  });

  it('applies the osm namespace add/remove bodies', () => {
    const ns = { metadata: { name: 'demo', labels: { 'kubernetes.io/metadata.name': 'demo' } } };
    const added = strategicMergePatch(
      ns,
      {
        metadata: {
          labels: { 'openservicemesh.io/monitored-by': 'osm' },
          annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
        },
      },
      namespaceSchema,
    );
    const removed = strategicMergePatch(
      added,
      {
        metadata: {
          labels: { 'openservicemesh.io/monitored-by': null, 'openservicemesh.io/ignore': null },
          annotations: { 'openservicemesh.io/sidecar-injection': null, 'openservicemesh.io/metrics': null },
        },
      },
      namespaceSchema,
    );
    expect(removed).toEqual({
      metadata: { name: 'demo', labels: { 'kubernetes.io/metadata.name': 'demo' }, annotations: {} },
    });
  });

  it('fails when a merged list element lacks its merge key', () => {
    expect(() => strategicMergePatch(pod, { spec: { containers: [{ image: 'no-name' }] } }, podSchema)).toThrow(
      StrategicMergeError,
    );
    expect(() => strategicMergePatch(pod, { spec: { containers: [{ image: 'no-name' }] } }, podSchema)).toThrow(
      /does not contain declared merge key: name/,
    );
  });
});
