// Built-in kinds decoded into their Go types as kube-apiserver 1.32 does (Kubernetes' OpenAPI v3 shapes): unknown
// fields refused (Strict), reported (Warn) or dropped (Ignore) on create, update and every patch type; type errors
// refused whatever fieldValidation says; server-side apply of an undeclared field. Over HTTP and with kubectl 1.32.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { kubectlFor, type Kubectl } from '../../support/kubectl.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ podStartMs: 0, injectorLagMs: 0 });
});
afterAll(() => emu?.close());

interface Answer {
  status: number;
  body: any;
  warnings: string[];
}

const JSON_TYPE = 'application/json';
const MERGE = 'application/merge-patch+json';
const STRATEGIC = 'application/strategic-merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const APPLY = 'application/apply-patch+yaml';

async function call(method: string, path: string, body?: unknown, type = JSON_TYPE): Promise<Answer> {
  const headers = { authorization: `Bearer ${emu.token}`, 'content-type': type };
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const res = await fetch(`${emu.url}${path}`, { method, headers, body: payload });
  const warning = res.headers.get('warning');
  return { status: res.status, body: await res.json(), warnings: warning ? warning.split(/,\s*(?=299 )/) : [] };
}

const CONFIGMAPS = '/api/v1/namespaces/bookstore/configmaps';
const SERVICES = '/api/v1/namespaces/bookstore/services';
const DEPLOYMENTS = '/apis/apps/v1/namespaces/bookstore/deployments';

const configMap = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { a: 'b' },
  ...extra,
});

const deployment = (name: string, container: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'c', image: 'nginx', ...container }] },
    },
  },
});

describe('unknown fields of built-in kinds', () => {
  it('create: Strict is 400 "cannot be handled", Warn (default) warns and drops, Ignore drops silently', async () => {
    const strict = await call('POST', `${CONFIGMAPS}?fieldValidation=Strict`, configMap('cm-strict', { dataa: {} }));
    expect(strict.status).toBe(400);
    expect(strict.body).toMatchObject({
      reason: 'BadRequest',
      message:
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dataa"',
    });
    expect((await call('GET', `${CONFIGMAPS}/cm-strict`)).status).toBe(404);

    const body = configMap('cm-warn', { dataa: {}, metadata: { name: 'cm-warn', labelz: { x: 'y' } } });
    const warned = await call('POST', CONFIGMAPS, body);
    expect(warned.status).toBe(201);
    // In document order: this body has metadata before dataa.
    expect(warned.warnings).toEqual([
      '299 - "unknown field \\"metadata.labelz\\""',
      '299 - "unknown field \\"dataa\\""',
    ]);
    expect(warned.body.dataa).toBeUndefined();
    expect(warned.body.metadata.labelz).toBeUndefined();

    const ignored = await call('POST', `${CONFIGMAPS}?fieldValidation=Ignore`, configMap('cm-ignore', { x: 1 }));
    expect(ignored.status).toBe(201);
    expect(ignored.warnings).toEqual([]);
    expect(ignored.body.x).toBeUndefined();
  });

  it('update: nested unknown fields get their full path, in document order', async () => {
    const created = await call('POST', SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'svc-update' },
      spec: { selector: { app: 'x' }, ports: [{ port: 80 }] },
    });
    expect(created.status).toBe(201);
    const next = structuredClone(created.body);
    next.spec.ports[0].appProtocl = 'http';
    next.spec.sessionAffinityConfg = {};
    const strict = await call('PUT', `${SERVICES}/svc-update?fieldValidation=Strict`, next);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe(
      'Service in version "v1" cannot be handled as a Service: strict decoding error: ' +
        'unknown field "spec.ports[0].appProtocl", unknown field "spec.sessionAffinityConfg"',
    );
  });

  it('JSON patch: Strict is 422 on "patch" with the patched object, Warn stores without the field', async () => {
    const patch = [{ op: 'add', path: '/spec/ports/0/appProtocl', value: 'http' }];
    const strict = await call('PATCH', `${SERVICES}/bookstore?fieldValidation=Strict`, patch, JSON_PATCH);
    expect(strict.status).toBe(422);
    expect(strict.body.reason).toBe('Invalid');
    expect(strict.body.message).toMatch(/^ "" is invalid: patch: Invalid value: "\{.*\}": strict decoding error: /);
    expect(strict.body.message).toMatch(/: strict decoding error: unknown field "spec.ports\[0\].appProtocl"$/);
    expect(strict.body.details.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'patch', message: expect.stringContaining('strict decoding error') },
    ]);
    const before = (await call('GET', `${SERVICES}/bookstore`)).body;
    const warned = await call('PATCH', `${SERVICES}/bookstore`, patch, JSON_PATCH);
    expect(warned.status).toBe(200);
    expect(warned.warnings).toEqual(['299 - "unknown field \\"spec.ports[0].appProtocl\\""']);
    // Nothing else changed: the write is a no-op and keeps its resourceVersion.
    expect(warned.body.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('strategic merge patch: 422 shows the patch map as Go prints it; no new ReplicaSet is rolled out', async () => {
    await emu.idle();
    const rsBefore = (await call('GET', '/apis/apps/v1/namespaces/bookstore/replicasets')).body.items.length;
    const before = (await call('GET', `${DEPLOYMENTS}/bookstore`)).body;
    const patch = { spec: { template: { metadata: { annotation: { a: 'b' } } } } };
    const strict = await call('PATCH', `${DEPLOYMENTS}/bookstore?fieldValidation=Strict`, patch, STRATEGIC);
    expect(strict.status).toBe(422);
    expect(strict.body.message).toBe(
      ' "" is invalid: patch: Invalid value: "map[spec:map[template:map[metadata:map[annotation:map[a:b]]]]]": ' +
        'strict decoding error: unknown field "spec.template.metadata.annotation"',
    );
    const warned = await call('PATCH', `${DEPLOYMENTS}/bookstore`, patch, STRATEGIC);
    expect(warned.status).toBe(200);
    expect(warned.warnings).toEqual(['299 - "unknown field \\"spec.template.metadata.annotation\\""']);
    expect(warned.body.metadata.generation).toBe(before.metadata.generation);
    await emu.idle();
    expect((await call('GET', '/apis/apps/v1/namespaces/bookstore/replicasets')).body.items.length).toBe(rsBefore);
  });

  it('merge patch: unknown fields at any depth, sorted paths for strategic patches', async () => {
    await call('POST', CONFIGMAPS, configMap('cm-merge'));
    const merge = await call(
      'PATCH',
      `${CONFIGMAPS}/cm-merge?fieldValidation=Strict`,
      { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'u', bogus: 1 }] } },
      MERGE,
    );
    expect(merge.status).toBe(422);
    expect(merge.body.message).toMatch(/unknown field "metadata.ownerReferences\[0\].bogus"$/);
    const smp = await call('PATCH', `${CONFIGMAPS}/cm-merge?fieldValidation=Strict`, { zz: 1, aa: 2 }, STRATEGIC);
    expect(smp.status).toBe(422);
    expect(smp.body.message).toMatch(/strict decoding error: unknown field "aa", unknown field "zz"$/);
  });

  it('server-side apply of an undeclared field: 500 from the typed conversion, whatever fieldValidation', async () => {
    const applied = { ...configMap('cm-apply'), dataa: { x: 'y' } };
    const res = await call('PATCH', `${CONFIGMAPS}/cm-apply?fieldManager=test&fieldValidation=Ignore`, applied, APPLY);
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({
      status: 'Failure',
      code: 500,
      message:
        'failed to create typed patch object (bookstore/cm-apply; /v1, Kind=ConfigMap): ' +
        '.dataa: field not declared in schema',
    });
    expect(res.body.reason).toBeUndefined();
    const svc = await call(
      'PATCH',
      `${SERVICES}/svc-apply?fieldManager=test`,
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'svc-apply' },
        spec: { ports: [{ port: 80, protocol: 'TCP', appProtocl: 'http' }] },
      },
      APPLY,
    );
    expect(svc.status).toBe(500);
    expect(svc.body.message).toBe(
      'failed to create typed patch object (bookstore/svc-apply; /v1, Kind=Service): ' +
        '.spec.ports[port=80,protocol="TCP"].appProtocl: field not declared in schema',
    );
  });
});

describe('type errors in built-in kinds', () => {
  it("create: 400 with encoding/json's message, even with fieldValidation=Ignore", async () => {
    const number = await call('POST', `${CONFIGMAPS}?fieldValidation=Ignore`, configMap('cm-num', { data: { a: 1 } }));
    expect(number.status).toBe(400);
    expect(number.body.message).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: ' +
        'json: cannot unmarshal number into Go struct field ConfigMap.data of type string',
    );
    const labels = await call('POST', CONFIGMAPS, {
      ...configMap('cm-labels'),
      metadata: { name: 'x', labels: ['a'] },
    });
    expect(labels.body.message).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: ' +
        'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
    );
    const env = await call('POST', DEPLOYMENTS, deployment('env-bool', { env: [{ name: true, value: 'x' }] }));
    expect(env.status).toBe(400);
    expect(env.body.message).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: ' +
        'json: cannot unmarshal bool into Go struct field EnvVar.spec.template.spec.containers.env.name of type string',
    );
    const replicas = await call('POST', DEPLOYMENTS, { ...deployment('half', {}), spec: { replicas: 1.5 } });
    expect(replicas.body.message).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: ' +
        'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32',
    );
    const secret = await call('POST', '/api/v1/namespaces/bookstore/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { a: 'not base64!' },
    });
    expect(secret.status).toBe(400);
    expect(secret.body.message).toBe(
      'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    );
    const port = await call('POST', SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'tp' },
      spec: { ports: [{ port: 80, targetPort: true }] },
    });
    expect(port.body.message).toBe(
      'Service in version "v1" cannot be handled as a Service: ' +
        'json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32',
    );
    const quantity = await call('POST', DEPLOYMENTS, deployment('q', { resources: { limits: { cpu: 'lots' } } }));
    expect(quantity.body.message).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: ' +
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });

  it('merge and JSON patches: 422 on "patch"; strategic patches: the unstructured converter\'s message', async () => {
    await call('POST', CONFIGMAPS, configMap('cm-types'));
    const merge = await call('PATCH', `${CONFIGMAPS}/cm-types`, { data: { a: 1 } }, MERGE);
    expect(merge.status).toBe(422);
    expect(merge.body.message).toMatch(
      /^ "" is invalid: patch: Invalid value: "\{.*\}": json: cannot unmarshal number into Go struct field ConfigMap\.data of type string$/,
    );
    const smp = await call('PATCH', `${CONFIGMAPS}/cm-types`, { data: { a: 1 } }, STRATEGIC);
    expect(smp.status).toBe(422);
    expect(smp.body.message).toBe(
      ' "" is invalid: patch: Invalid value: "map[data:map[a:1]]": cannot convert int64 to string',
    );
    const smpBool = await call('PATCH', `${CONFIGMAPS}/cm-types`, { data: { a: true } }, STRATEGIC);
    expect(smpBool.body.message).toBe(
      ' "" is invalid: patch: Invalid value: "map[data:map[a:true]]": unrecognized type: string',
    );
    const smpMap = await call('PATCH', `${CONFIGMAPS}/cm-types`, { data: 'x' }, STRATEGIC);
    expect(smpMap.body.message).toBe(
      ' "" is invalid: patch: Invalid value: "map[data:x]": cannot restore map from string',
    );
    expect((await call('GET', `${CONFIGMAPS}/cm-types`)).body.data).toEqual({ a: 'b' });
  });

  it('null fields are left unset, as Go decoding leaves them', async () => {
    const res = await call('POST', CONFIGMAPS, configMap('cm-null', { binaryData: null, immutable: null }));
    expect(res.status).toBe(201);
    expect('binaryData' in res.body).toBe(false);
    expect('immutable' in res.body).toBe(false);
  });

  it("a null map value is its type's zero value, as Go decoding stores it (a label too)", async () => {
    const res = await call(
      'POST',
      CONFIGMAPS,
      configMap('cm-null-values', {
        metadata: { name: 'cm-null-values', labels: { q: null } },
        data: { k: null, j: '1' },
      }),
    );
    expect(res.status).toBe(201);
    expect([res.body.data, res.body.metadata.labels]).toEqual([{ k: '', j: '1' }, { q: '' }]);
    const patched = await call(
      'PATCH',
      `${CONFIGMAPS}/cm-null-values`,
      [{ op: 'replace', path: '/data/j', value: null }],
      JSON_PATCH,
    );
    expect(patched.body.data).toEqual({ k: '', j: '' });
  });
});

describeWith(['kubectl'])('kubectl 1.32 against built-in decoding', () => {
  let kc: Kubectl;
  let dir: string;

  beforeAll(async () => {
    kc = await kubectlFor(emu, 'emulator-builtin-');
    dir = kc.dir;
  });
  afterAll(() => kc?.close());

  const kubectl = (...args: string[]) => kc.run(...args);

  it('kubectl create/apply refuse a ConfigMap with an unknown field; --validate=warn warns and drops it', async () => {
    const file = join(dir, 'cm.yaml');
    await writeFile(
      file,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kc-cm, namespace: bookstore}\ndataa: {a: b}\n',
    );
    const strict = await kubectl('create', '-f', file);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr.trim()).toBe(
      `Error from server (BadRequest): error when creating "${file}": ConfigMap in version "v1" cannot be handled ` +
        'as a ConfigMap: strict decoding error: unknown field "dataa"',
    );
    const warned = await kubectl('apply', '--validate=warn', '-f', file);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('Warning: unknown field "dataa"');
    const stored = await kubectl('get', 'cm', 'kc-cm', '-n', 'bookstore', '-o', 'json');
    expect(JSON.parse(stored.stdout).dataa).toBeUndefined();
  });

  it('kubectl patch (no --validate: the server default Warn) prints the warning and drops the field', async () => {
    const run = await kubectl(
      'patch',
      'svc',
      'bookstore',
      '-n',
      'bookstore',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/spec/ports/0/appProtocl","value":"http"}]',
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Warning: unknown field "spec.ports[0].appProtocl"');
    expect(run.stdout.trim()).toBe('service/bookstore patched (no change)');
  });
});
