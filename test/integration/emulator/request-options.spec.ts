// Request options and metadata rules kube-apiserver 1.32 enforces: dryRun and propagationPolicy values, list and
// watch option combinations, request media types, generic Status bodies, finalizer and annotation rules, the
// Deployment generation rule for annotations, and the watch BOOKMARK sent just before a watch's timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ podStartMs: 0, injectorLagMs: 0 });
});
afterAll(() => emu?.close());

async function call(
  method: string,
  path: string,
  body?: unknown,
  type = 'application/json',
): Promise<{ status: number; body: any }> {
  const headers = { authorization: `Bearer ${emu.token}`, 'content-type': type };
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${emu.url}${path}`, { method, headers, body: payload });
  return { status: res.status, body: await res.json() };
}

const MERGE = 'application/merge-patch+json';
const CONFIGMAPS = '/api/v1/namespaces/bookstore/configmaps';

describe('write options', () => {
  it('dryRun other than All is 422 on the options, and nothing is written', async () => {
    const created = await call('POST', `${CONFIGMAPS}?dryRun=foo`, { metadata: { name: 'dry' } });
    expect(created.status).toBe(422);
    expect(created.body.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"foo"}: supported values: "All"',
    );
    expect((await call('GET', `${CONFIGMAPS}/dry`)).status).toBe(404);
    await call('POST', CONFIGMAPS, { metadata: { name: 'dry' } });
    const patched = await call('PATCH', `${CONFIGMAPS}/dry?dryRun=All&dryRun=x`, { data: { a: 'b' } }, MERGE);
    expect(patched.body.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"All", "x"}: ' +
        'supported values: "All"',
    );
    const deleted = await call('DELETE', `${CONFIGMAPS}/dry?dryRun=foo`);
    expect(deleted.status).toBe(422);
    expect(deleted.body.message).toBe(
      'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"foo"}: supported values: "All"',
    );
    expect((await call('GET', `${CONFIGMAPS}/dry`)).body.data).toBeUndefined();
  });

  it('an unknown propagationPolicy is 422 and deletes nothing', async () => {
    const res = await call('DELETE', `${CONFIGMAPS}/dry?propagationPolicy=Bogus`);
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({
      reason: 'Invalid',
      message:
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Bogus": supported values: ' +
        '"Foreground", "Background", "Orphan", "nil"',
      details: { group: 'meta.k8s.io', kind: 'DeleteOptions' },
    });
    expect((await call('GET', `${CONFIGMAPS}/dry`)).status).toBe(200);
  });

  it('refuses bodies that are not JSON or YAML with 415 (built-in kinds also list protobuf)', async () => {
    for (const type of ['text/plain', '*/*']) {
      const res = await call('POST', CONFIGMAPS, { metadata: { name: 'typed' } }, type);
      expect(res.status).toBe(415);
      expect(res.body.message).toBe(
        'the body of the request was in an unknown format - accepted media types include: application/json, ' +
          'application/yaml, application/vnd.kubernetes.protobuf',
      );
    }
  });
});

describe('list and watch options', () => {
  it('refuses resourceVersionMatch without resourceVersion and sendInitialEvents on a list', async () => {
    const match = await call('GET', `${CONFIGMAPS}?resourceVersionMatch=NotOlderThan`);
    expect(match.status).toBe(422);
    expect(match.body.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden ' +
        'unless resourceVersion is provided',
    );
    const initial = await call('GET', `${CONFIGMAPS}?sendInitialEvents=true`);
    expect(initial.body.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list',
    );
    const bogus = await call('GET', `${CONFIGMAPS}?resourceVersion=1&resourceVersionMatch=Newest`);
    expect(bogus.body.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: ' +
        '"Exact", "NotOlderThan", ""',
    );
    expect((await call('GET', `${CONFIGMAPS}?resourceVersion=0&resourceVersionMatch=NotOlderThan`)).status).toBe(200);
  });

  it('refuses a watch with sendInitialEvents but no resourceVersionMatch=NotOlderThan', async () => {
    const res = await call('GET', `${CONFIGMAPS}?watch=true&sendInitialEvents=true`);
    expect(res.status).toBe(422);
    expect(res.body.message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting ' +
        'resourceVersionMatch to NotOlderThan',
    );
  });

  it('a list or watch from a resourceVersion that is no uint64 is a 500, as kube-apiserver 1.32 answers', async () => {
    for (const [query, why] of [
      ['?resourceVersion=abc', 'invalid syntax'],
      ['?watch=true&resourceVersion=-1', 'invalid syntax'],
      ['?watch=true&resourceVersion=18446744073709551616', 'value out of range'],
    ]) {
      const rv = new URLSearchParams(query).get('resourceVersion');
      const res = await call('GET', `${CONFIGMAPS}${query}`);
      expect(res.status, query).toBe(500);
      expect(res.body, query).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `resourceVersion: Invalid value: "${rv}": strconv.ParseUint: parsing "${rv}": ${why}`,
        code: 500,
      });
    }
    expect((await call('GET', `${CONFIGMAPS}?resourceVersion=0`)).status).toBe(200);
  });

  it('a watch with sendInitialEvents=false starts now: no ADDED for what exists, then the changes', async () => {
    const controller = new AbortController();
    const res = await fetch(
      `${emu.url}${CONFIGMAPS}?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan`,
      { headers: { authorization: `Bearer ${emu.token}` }, signal: controller.signal },
    );
    expect(res.status).toBe(200);
    expect(emu.store.list('v1', 'ConfigMap', { namespace: 'bookstore' }).length).toBeGreaterThan(0);
    emu.store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'after-watch', namespace: 'bookstore' },
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    controller.abort();
    const first = JSON.parse(value!.split('\n')[0]) as { type: string; object: { metadata: { name: string } } };
    expect([first.type, first.object.metadata.name]).toEqual(['ADDED', 'after-watch']);
  });

  it('refuses metadata.namespace as a field selector on namespaces, but takes the legacy "name"', async () => {
    const res = await call('GET', '/api/v1/namespaces?fieldSelector=metadata.namespace%3Dx');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('field label not supported: metadata.namespace');
    const byName = await call('GET', '/api/v1/namespaces?fieldSelector=name%3Dbookstore');
    expect(byName.body.items.map((n: any) => n.metadata.name)).toEqual(['bookstore']);
  });

  it('sends a BOOKMARK 2 s before the watch times out when bookmarks are allowed', async () => {
    const started = Date.now();
    const res = await fetch(`${emu.url}${CONFIGMAPS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=3`, {
      headers: { authorization: `Bearer ${emu.token}` },
    });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(lines.filter((e) => e.type === 'BOOKMARK')).toHaveLength(1);
    expect(lines[lines.length - 1].type).toBe('BOOKMARK');
  });
});

describe('generic Status bodies', () => {
  it('404, 405 and a JSON patch that does not apply carry "details" like NewGenericServerResponse', async () => {
    const missing = await call('GET', '/api/v1/nothing-here');
    expect(missing.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      details: {},
      code: 404,
    });
    // Outside go-restful's paths (a group or version no built-in serves, a non-API path): Go's http.NotFound.
    for (const path of ['/apis/nothing.example.com/v1/things', '/apis/nothing.example.com', '/nothing-here']) {
      const res = await fetch(`${emu.url}${path}`, { headers: { authorization: `Bearer ${emu.token}` } });
      expect([res.status, res.headers.get('content-type'), await res.text()]).toEqual([
        404,
        'text/plain; charset=utf-8',
        '404 page not found\n',
      ]);
    }
    // Under a built-in group's web service (`/api`, `/apis/apps`), any version or resource: go-restful's JSON 404.
    for (const path of ['/api/v2/pods', '/apis/apps/v9/deployments', '/apis/apps/v9'])
      expect(await call('GET', path)).toEqual(missing);
    const method = await call('POST', `${CONFIGMAPS}/dry`, { metadata: { name: 'dry' } });
    expect(method.status).toBe(405);
    expect(method.body.details).toEqual({});
    const test = await call(
      'PATCH',
      `${CONFIGMAPS}/dry`,
      [{ op: 'test', path: '/metadata/name', value: 'other' }],
      'application/json-patch+json',
    );
    expect(test.status).toBe(422);
    expect(test.body).toMatchObject({
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
      details: {}, // the json-patch error is not sent (NewGenericServerResponse, isUnexpectedResponse false)
    });
    // A patch or body that is not JSON is described as encoding/json describes it.
    for (const [text, said] of [
      ['{"data":', 'unexpected end of JSON input'],
      ['{data:1}', "invalid character 'd' looking for beginning of object key string"],
      ['{"data" 1}', "invalid character '1' after object key"],
      ['{} x', "invalid character 'x' after top-level value"],
      ['{"data":1,}', "invalid character '}' looking for beginning of object key string"],
      ['{"data":"\u0001', "invalid character '\\x01' in string literal"],
    ]) {
      const patch = await call('PATCH', `${CONFIGMAPS}/dry`, text, MERGE);
      expect([patch.status, patch.body.message]).toEqual([400, `error decoding patch: ${said}`]);
    }
    const body = await call('POST', CONFIGMAPS, '{"kind":', 'application/json');
    expect([body.status, body.body.message]).toEqual([
      400,
      "couldn't get version/kind; json parse error: unexpected end of JSON input",
    ]);
  });
});

describe('metadata rules', () => {
  it('never keeps an empty annotations, labels or finalizers (omitempty): a JSON patch into one fails', async () => {
    const created = await call('POST', CONFIGMAPS, {
      metadata: { name: 'empties', labels: {}, annotations: { a: 'x' }, finalizers: [] },
    });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body.metadata)).not.toContain('labels');
    expect(Object.keys(created.body.metadata)).not.toContain('finalizers');
    const rv = created.body.metadata.resourceVersion;
    const removed = await call('PATCH', `${CONFIGMAPS}/empties`, { metadata: { annotations: { a: null } } }, MERGE);
    expect(removed.status).toBe(200);
    expect(Object.keys(removed.body.metadata)).not.toContain('annotations');
    expect(removed.body.metadata.resourceVersion).not.toBe(rv);
    // Removing what is not there changes nothing (no new resourceVersion).
    const again = await call('PATCH', `${CONFIGMAPS}/empties`, { metadata: { annotations: { a: null } } }, MERGE);
    expect(again.body.metadata.resourceVersion).toBe(removed.body.metadata.resourceVersion);
    const add = await call(
      'PATCH',
      `${CONFIGMAPS}/empties`,
      [{ op: 'add', path: '/metadata/annotations/b', value: 'y' }],
      'application/json-patch+json',
    );
    expect([add.status, add.body.reason]).toEqual([422, 'Invalid']);
  });

  it('refuses finalizers that are not qualified names, or unqualified non-standard ones (built-ins)', async () => {
    const res = await call('POST', CONFIGMAPS, { metadata: { name: 'fin', finalizers: ['custom', 'a b/c'] } });
    expect(res.status).toBe(422);
    expect(res.body.details.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.finalizers',
        message: 'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified',
      },
      expect.objectContaining({
        field: 'metadata.finalizers',
        message: expect.stringContaining('Invalid value: "a b/c"'),
      }),
    ]);
  });

  it('refuses a new finalizer on an object being deleted, but lets finalizers go', async () => {
    await call('POST', CONFIGMAPS, { metadata: { name: 'dying', finalizers: ['example.com/a'] } });
    await call('DELETE', `${CONFIGMAPS}/dying`);
    const add = await call(
      'PATCH',
      `${CONFIGMAPS}/dying`,
      { metadata: { finalizers: ['example.com/a', 'example.com/b'] } },
      MERGE,
    );
    expect(add.status).toBe(422);
    expect(add.body.message).toBe(
      'ConfigMap "dying" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object ' +
        'is being deleted, found new finalizers []string{"example.com/b"}',
    );
    const release = await call('PATCH', `${CONFIGMAPS}/dying`, { metadata: { finalizers: null } }, MERGE);
    expect(release.status).toBe(200);
    expect((await call('GET', `${CONFIGMAPS}/dying`)).status).toBe(404);
  });

  it('counts the annotation size limit in UTF-8 bytes', async () => {
    // 131,073 two-byte characters: 262,146 bytes, over the 262,144-byte limit (but fewer UTF-16 units).
    const res = await call('POST', CONFIGMAPS, { metadata: { name: 'big', annotations: { a: 'é'.repeat(131_073) } } });
    expect(res.status).toBe(422);
    expect(res.body.message).toBe(
      'ConfigMap "big" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes',
    );
  });

  it("bumps a Deployment's generation when only its annotations change", async () => {
    const path = '/apis/apps/v1/namespaces/bookstore/deployments/bookstore';
    const before = (await call('GET', path)).body;
    const after = (await call('PATCH', path, { metadata: { annotations: { note: 'x' } } }, MERGE)).body;
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
    const labelled = (await call('PATCH', path, { metadata: { labels: { only: 'labels' } } }, MERGE)).body;
    expect(labelled.metadata.generation).toBe(after.metadata.generation);
  });
});
