// Custom resources over HTTP as kube-apiserver serves them from the real osm-edge v1.3.9 CRDs:
// decoding (ObjectMeta coercion, pruning) with fieldValidation Strict/Warn/Ignore, 422 Invalid
// Status bodies, unserved versions, and what every write records in managedFields.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator, type KubeObject } from '../../support/emulator/index.js';
import { fieldPaths, type ManagedFieldsEntry } from '../../support/emulator/managed-fields.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(() => emu?.close());

const ROUTES = '/apis/specs.smi-spec.io/v1alpha4/namespaces/bookstore/httproutegroups';

interface Answer {
  status: number;
  body: any;
  warnings: string[];
}

const MERGE = 'application/merge-patch+json';
const JSON_TYPE = 'application/json';

async function call(method: string, path: string, body?: unknown, type = JSON_TYPE, ua?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${emu.token}`, 'content-type': type };
  if (ua) headers['user-agent'] = ua;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const res = await fetch(`${emu.url}${path}`, { method, headers, body: payload });
  const warning = res.headers.get('warning');
  return { status: res.status, body: await res.json(), warnings: warning ? warning.split(/,\s*(?=299 )/) : [] };
}

const route = (name: string, spec: unknown, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: { name, ...metadata },
  spec,
});

describe('decoding custom resources: pruning and fieldValidation', () => {
  const withJunk = (name: string) =>
    route(name, { matches: [{ name: 'all', pathRegex: '.*', junk: 1 }], extra: true }, { junkMeta: 'x' });

  it('Strict refuses unknown fields with 400 BadRequest naming every one (create and update)', async () => {
    const created = await call('POST', `${ROUTES}?fieldValidation=Strict`, withJunk('strict'));
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
      message:
        'HTTPRouteGroup in version "v1alpha4" cannot be handled as a HTTPRouteGroup: strict decoding error: ' +
        'unknown field "metadata.junkMeta", unknown field "spec.extra", unknown field "spec.matches[0].junk"',
    });
    expect((await call('GET', `${ROUTES}/strict`)).status).toBe(404);
  });

  it('Strict on a patch is a 422 on the field "patch", as the patch handler reports it', async () => {
    expect((await call('POST', ROUTES, route('patched', { matches: [{ name: 'a' }] }))).status).toBe(201);
    const patch = await call('PATCH', `${ROUTES}/patched?fieldValidation=Strict`, { spec: { junk: 1 } }, MERGE);
    expect(patch.status).toBe(422);
    expect(patch.body.message).toMatch(
      /^ "" is invalid: patch: Invalid value: ".*": strict decoding error: unknown field "spec.junk"$/,
    );
    expect(patch.body.details.causes).toEqual([
      expect.objectContaining({ reason: 'FieldValueInvalid', field: 'patch' }),
    ]);
  });

  it('Warn (the default) and Ignore prune; Warn says what it dropped in Warning headers', async () => {
    const warned = await call('POST', ROUTES, withJunk('warned'));
    expect(warned.status).toBe(201);
    expect(warned.warnings).toEqual([
      '299 - "unknown field \\"metadata.junkMeta\\""',
      '299 - "unknown field \\"spec.extra\\""',
      '299 - "unknown field \\"spec.matches[0].junk\\""',
    ]);
    expect(warned.body.spec).toEqual({ matches: [{ name: 'all', pathRegex: '.*' }] });
    expect(warned.body.metadata).not.toHaveProperty('junkMeta');
    const ignored = await call('POST', `${ROUTES}?fieldValidation=Ignore`, withJunk('ignored'));
    expect(ignored.status).toBe(201);
    expect(ignored.warnings).toEqual([]);
    expect((await call('GET', `${ROUTES}/ignored`)).body.spec).toEqual({ matches: [{ name: 'all', pathRegex: '.*' }] });
  });

  it('refuses an unknown fieldValidation value and a bad fieldManager with 422 on the options', async () => {
    const bad = await call('POST', `${ROUTES}?fieldValidation=Loud`, route('x', { matches: [] }));
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": ' +
        'supported values: "", "Ignore", "Strict", "Warn"',
    );
    const long = await call('POST', `${ROUTES}?fieldManager=${'m'.repeat(129)}`, route('x', { matches: [] }));
    expect(long.status).toBe(422);
    expect(long.body.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes',
    );
    // 100 characters, 200 bytes: the limit is on bytes (Go's len).
    const wide = await call(
      'POST',
      `${ROUTES}?fieldManager=${encodeURIComponent('é'.repeat(100))}`,
      route('x', { matches: [] }),
    );
    expect(wide.status).toBe(422);
    expect(wide.body.message).toMatch(/fieldManager: Too long: may not be more than 128 bytes/);
    const control = await call('PATCH', `${ROUTES}/patched?fieldManager=a%07b`, { spec: {} }, MERGE);
    expect(control.body.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Invalid value: "a\\ab": ' +
        'invalid character U+0007 (at position 1)',
    );
  });

  it('drops non-nullable nulls, answers 422 Invalid with causes, 404 for unserved versions', async () => {
    const withNulls = { matches: [{ name: 'a', pathRegex: null, headers: null }] };
    const nulls = await call('POST', ROUTES, route('nulls', withNulls));
    expect(nulls.status).toBe(201);
    expect(nulls.body.spec).toEqual({ matches: [{ name: 'a' }] });
    const mapHeaders = { matches: [{ name: 'a', headers: { 'x-user': 'admin' } }] };
    const invalid = await call('POST', ROUTES, route('bad', mapHeaders));
    expect(invalid.status).toBe(422);
    expect(invalid.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'HTTPRouteGroup.specs.smi-spec.io "bad" is invalid: spec.matches[0].headers: Invalid value: "object": ' +
        'spec.matches[0].headers in body must be of type array: "object"',
      reason: 'Invalid',
      details: {
        name: 'bad',
        group: 'specs.smi-spec.io',
        kind: 'HTTPRouteGroup',
        causes: [
          {
            reason: 'FieldValueTypeInvalid',
            message: 'Invalid value: "object": spec.matches[0].headers in body must be of type array: "object"',
            field: 'spec.matches[0].headers',
          },
        ],
      },
      code: 422,
    });
    const old = { ...route('old', { matches: [] }), apiVersion: 'specs.smi-spec.io/v1alpha3' };
    // A version the CRD does not serve is not a go-restful path: apiextensions hands it to the notfoundhandler,
    // whose 404 is Go's http.NotFound (text, no Status), as for a CRD not installed or a group nobody serves.
    for (const path of [
      ROUTES.replace('v1alpha4', 'v1alpha3'),
      '/apis/specs.smi-spec.io/v1alpha4/namespaces/bookstore/nothings',
      '/apis/nothing.example.com/v1/namespaces/bookstore/things',
    ]) {
      const res = await fetch(`${emu.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${emu.token}`, 'content-type': JSON_TYPE },
        body: JSON.stringify(old),
      });
      expect([res.status, res.headers.get('content-type'), await res.text()]).toEqual([
        404,
        'text/plain; charset=utf-8',
        '404 page not found\n',
      ]);
    }
    // An unknown subresource of a served custom resource: crdHandler's NotFound, a Status naming the object.
    const sub = await call('GET', '/apis/split.smi-spec.io/v1alpha4/namespaces/bookstore/trafficsplits/zz/foo');
    expect([sub.status, sub.body.reason, sub.body.details?.name]).toEqual([404, 'NotFound', 'zz']);
    const split = await call('GET', '/apis/split.smi-spec.io/v1alpha2/namespaces/bookstore/trafficsplits');
    expect(split.status).toBe(200); // v1alpha2 is served (not storage) by the real CRD
  });
});

describe('managedFields', () => {
  const entries = (obj: KubeObject): ManagedFieldsEntry[] => (obj.metadata.managedFields ?? []) as ManagedFieldsEntry[];

  it('records the fieldManager, or the User-Agent prefix, with the fields each one set', async () => {
    const ns = '/api/v1/namespaces/bookwarehouse';
    const first = { metadata: { labels: { a: '1' } } };
    const labelled = await call('PATCH', `${ns}?fieldManager=osm-onboarding`, first, MERGE);
    const mine = entries(labelled.body).find((e) => e.manager === 'osm-onboarding');
    expect(mine).toMatchObject({ operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' });
    expect(mine?.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(fieldPaths(mine!.fieldsV1)).toEqual(['f:metadata.f:labels.f:a']);

    const labels = { metadata: { labels: { a: '2', b: '1' } } };
    const other = await call('PATCH', ns, labels, MERGE, 'kubectl/v1.32.0 (linux/amd64)');
    const byManager = Object.fromEntries(entries(other.body).map((e) => [e.manager, fieldPaths(e.fieldsV1)]));
    expect(byManager.kubectl).toEqual(['f:metadata.f:labels.f:a', 'f:metadata.f:labels.f:b']);
    expect(byManager['osm-onboarding']).toBeUndefined(); // it lost its only field to kubectl

    const rv = other.body.metadata.resourceVersion;
    const noop = await call('PATCH', `${ns}?fieldManager=someone`, { metadata: { labels: { a: '2' } } }, MERGE);
    expect(noop.body.metadata.resourceVersion).toBe(rv); // a write that changes nothing changes nothing
    expect(entries(noop.body).map((e) => e.manager)).not.toContain('someone');
  });

  it('keys list items by their merge key and keeps status writes apart', async () => {
    const path = '/api/v1/namespaces/bookstore/services/bookstore';
    const svc = (await call('GET', path)).body as KubeObject;
    const ports = (svc.spec as { ports: { port: number }[] }).ports;
    const patched = await call(
      'PATCH',
      `${path}?fieldManager=osm-onboarding`,
      [{ op: 'add', path: '/spec/ports/0/appProtocol', value: 'http' }],
      'application/json-patch+json',
    );
    const mine = entries(patched.body).find((e) => e.manager === 'osm-onboarding');
    expect(fieldPaths(mine!.fieldsV1)).toEqual([`f:spec.f:ports.k:{"port":${ports[0].port}}.f:appProtocol`]);
    const deploy = (await call('GET', '/apis/apps/v1/namespaces/bookstore/deployments/bookstore')).body as KubeObject;
    const statusWriters = entries(deploy).filter((e) => e.subresource === 'status');
    expect(statusWriters.map((e) => Object.keys(e.fieldsV1))).toEqual([['f:status']]);
  });
});
