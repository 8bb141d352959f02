import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { kubectlFor, type Kubectl } from '../../support/kubectl.js';
import { isInjected, startEmulator, type Emulator, type KubeObject } from '../../support/emulator/index.js';

describeWith(['kubectl'])('emulator fidelity checked with the real kubectl', () => {
  let emu: Emulator;
  let kc: Kubectl;
  let dir: string;

  const kubectl = (...args: string[]) => kc.run(...args);

  async function ok(...args: string[]): Promise<string> {
    const run = await kubectl(...args);
    if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
    return run.stdout;
  }

  const ns = (name: string): KubeObject | undefined => emu.store.get({ apiVersion: 'v1', kind: 'Namespace', name });

  beforeAll(async () => {
    emu = await startEmulator();
    kc = await kubectlFor(emu, 'emulator-kubectl-');
    dir = kc.dir;
  });

  afterAll(async () => {
    await emu?.close();
    await kc?.close();
  });

  it('kubectl get ns prints the server-side table, over HTTP/2 as with kube-apiserver', async () => {
    emu.requests.clear();
    const out = await ok('get', 'ns');
    // kubectl offers h2 in ALPN and the emulator, like kube-apiserver, picks it.
    const gets = emu.requests.all().filter((e) => e.resource === 'namespaces');
    expect(gets.map((e) => e.protocol)).toEqual(['h2']);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+AGE$/);
    expect(lines.some((l) => /^bookstore\s+Active\s+\d+s$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('osm-system '))).toBe(true);
    const pods = await ok('get', 'pods', '-n', 'bookstore');
    expect(pods).toMatch(/READY\s+STATUS\s+RESTARTS\s+AGE/);
    expect(pods).toMatch(/bookstore-[a-z0-9]+-[a-z0-9]{5}\s+1\/1\s+Running\s+0/);
  });

  it('kubectl get deploy -o json returns the List kubectl builds from the API', async () => {
    const list = JSON.parse(await ok('get', 'deploy', '-n', 'bookstore', '-o', 'json')) as {
      kind: string;
      items: KubeObject[];
    };
    expect(list.kind).toBe('List');
    expect(list.items.map((d) => d.metadata.name).sort()).toEqual(['bookstore', 'bookstore-v2']);
    expect(list.items[0]).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: 'bookstore' },
    });
    const shortName = JSON.parse(await ok('get', 'deploy/bookstore', '-n', 'bookstore', '-o', 'json')) as KubeObject;
    expect((shortName.status as { readyReplicas: number }).readyReplicas).toBe(2);
  });

  it('kubectl label and annotate write the namespace', async () => {
    expect(await ok('label', 'ns', 'bookbuyer', 'openservicemesh.io/monitored-by=osm')).toContain(
      'namespace/bookbuyer labeled',
    );
    expect(await ok('annotate', 'ns', 'bookbuyer', 'openservicemesh.io/sidecar-injection=enabled')).toContain(
      'namespace/bookbuyer annotated',
    );
    expect(ns('bookbuyer')?.metadata.labels?.['openservicemesh.io/monitored-by']).toBe('osm');
    expect(ns('bookbuyer')?.metadata.annotations?.['openservicemesh.io/sidecar-injection']).toBe('enabled');
    const relabel = await kubectl('label', 'ns', 'bookbuyer', 'openservicemesh.io/monitored-by=other');
    expect(relabel.code).not.toBe(0);
    expect(relabel.stderr).toContain(
      "'openservicemesh.io/monitored-by' already has a value (osm), and --overwrite is false",
    );
  });

  it('kubectl patch with --type merge, strategic and json', async () => {
    await ok('patch', 'ns', 'bookthief', '--type', 'merge', '-p', '{"metadata":{"labels":{"merge":"yes"}}}');
    await ok(
      'patch',
      'ns',
      'bookthief',
      '--type',
      'strategic',
      '-p',
      '{"metadata":{"labels":{"strategic":"yes","merge":null}}}',
    );
    await ok(
      'patch',
      'ns',
      'bookthief',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/metadata/annotations","value":{"json":"yes"}}]',
    );
    const labels = ns('bookthief')?.metadata.labels ?? {};
    expect(labels.strategic).toBe('yes');
    expect(labels.merge).toBeUndefined();
    expect(ns('bookthief')?.metadata.annotations).toEqual({ json: 'yes' });
    const noop = await ok(
      'patch',
      'ns',
      'bookthief',
      '--type',
      'merge',
      '-p',
      '{"metadata":{"labels":{"strategic":"yes"}}}',
    );
    expect(noop).toContain('patched (no change)');
    const failing = await kubectl(
      'patch',
      'ns',
      'bookthief',
      '--type',
      'json',
      '-p',
      '[{"op":"test","path":"/metadata/labels/strategic","value":"no"}]',
    );
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toContain(
      'The request is invalid: the server rejected our request due to an error in our request',
    );
    const strategicCr = await kubectl(
      'patch',
      'meshconfig',
      'osm-mesh-config',
      '-n',
      'osm-system',
      '--type',
      'strategic',
      '-p',
      '{"spec":{}}',
    );
    expect(strategicCr.code).not.toBe(0);
    expect(strategicCr.stderr).toContain(
      'application/strategic-merge-patch+json is not supported by config.openservicemesh.io/v1alpha2, ' +
        'Kind=MeshConfig: the body of the request was in an unknown format - accepted media types include: ' +
        'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('kubectl rollout restart creates new, injected pods', async () => {
    await ok('label', 'ns', 'bookbuyer', 'openservicemesh.io/monitored-by=osm', '--overwrite');
    const before = emu.store.list('v1', 'Pod', { namespace: 'bookbuyer' }).map((p) => p.metadata.name);
    expect(await ok('rollout', 'restart', 'deploy/bookbuyer', '-n', 'bookbuyer')).toContain(
      'deployment.apps/bookbuyer restarted',
    );
    await emu.idle();
    const deploy = emu.store.get({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'bookbuyer',
      name: 'bookbuyer',
    });
    const annotations =
      (deploy?.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata
        .annotations ?? {};
    expect(annotations['kubectl.kubernetes.io/restartedAt']).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/,
    );
    const pods = emu.store.list('v1', 'Pod', { namespace: 'bookbuyer' });
    expect(pods).toHaveLength(1);
    expect(before).not.toContain(pods[0].metadata.name);
    expect(isInjected(pods[0])).toBe(true);
    expect(await ok('rollout', 'status', 'deploy/bookbuyer', '-n', 'bookbuyer', '--timeout=10s')).toContain(
      'successfully rolled out',
    );
    const rows = await ok('get', 'pods', '-n', 'bookbuyer');
    expect(rows).toMatch(/2\/2\s+Running/);
  });

  it('kubectl rollout status follows a rollout by a watch and outlives a watch the server closes', async () => {
    emu.configure({ podStartMs: 3000 });
    try {
      await ok('rollout', 'restart', 'deploy/bookstore', '-n', 'bookstore');
      emu.requests.clear();
      const status = kubectl('rollout', 'status', 'deploy/bookstore', '-n', 'bookstore', '--timeout=15s');
      const watching = () => emu.requests.count({ verb: 'watch', resource: 'deployments', namespace: 'bookstore' });
      for (let i = 0; i < 500 && watching() === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const [watch] = emu.requests.all().filter((e) => e.verb === 'watch');
      // What kubectl opens: the Deployment by name, from the resourceVersion of its list.
      expect(new URLSearchParams(watch.query).get('fieldSelector')).toBe('metadata.name=bookstore');
      expect(emu.closeWatches()).toBeGreaterThan(0);
      const run = await status;
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('deployment "bookstore" successfully rolled out');
      expect(watching()).toBeGreaterThanOrEqual(2); // it watched again after the close
    } finally {
      emu.configure({ podStartMs: 0 });
    }
  });

  it('a watch from a compacted resourceVersion gets an ERROR event with 410 Expired, as kube does', async () => {
    const old = emu.store.resourceVersion();
    await ok('annotate', 'ns', 'bookstore', `compacted=${old}`, '--overwrite');
    emu.compact();
    const path = `/api/v1/namespaces?watch=true&timeoutSeconds=1&resourceVersion=${old}`;
    const out = await ok('get', '--raw', path);
    const event = JSON.parse(out.trim().split('\n')[0]) as { type: string; object: Record<string, unknown> };
    expect(event.type).toBe('ERROR');
    expect(event.object).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
    // From the current resourceVersion the watch still works (nothing lost).
    const now = emu.store.resourceVersion();
    const fresh = await ok('get', '--raw', `/api/v1/namespaces?watch=true&timeoutSeconds=1&resourceVersion=${now}`);
    expect(fresh).not.toContain('ERROR');
  });

  it('kubectl get meshconfig -o yaml resolves the short name and prints the CR', async () => {
    const out = await ok('get', 'meshconfig', 'osm-mesh-config', '-n', 'osm-system', '-o', 'yaml');
    const mc = load(out) as {
      apiVersion: string;
      kind: string;
      spec: { sidecar: { sidecarImage: string }; traffic: { interceptionMode: string } };
    };
    expect(mc.apiVersion).toBe('config.openservicemesh.io/v1alpha2');
    expect(mc.kind).toBe('MeshConfig');
    expect(mc.spec.sidecar.sidecarImage).toBe('flomesh/pipy:0.90.3-54');
    expect(mc.spec.traffic.interceptionMode).toBe('iptables');
    await ok(
      'patch',
      'meshconfig',
      'osm-mesh-config',
      '-n',
      'osm-system',
      '--type',
      'merge',
      '-p',
      '{"spec":{"traffic":{"outboundIPRangeExclusionList":["10.96.0.1/32"]}}}',
    );
    const invalid = await kubectl(
      'patch',
      'meshconfig',
      'osm-mesh-config',
      '-n',
      'osm-system',
      '--type',
      'merge',
      '-p',
      '{"spec":{"traffic":{"outboundIPRangeExclusionList":["nope"]}}}',
    );
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('spec.traffic.outboundIPRangeExclusionList[0] in body should match');
  });

  describe('custom resources validated and pruned from the real osm-edge CRDs', () => {
    const routeYaml = (name: string, match: string) =>
      [
        'apiVersion: specs.smi-spec.io/v1alpha4',
        'kind: HTTPRouteGroup',
        `metadata: {name: ${name}, namespace: bookstore}`,
        `spec: {matches: [${match}]}`,
      ].join('\n');
    async function manifest(name: string, text: string): Promise<string> {
      const file = join(dir, `${name}.yaml`);
      await writeFile(file, text);
      return file;
    }

    it('kubectl create of an invalid object prints the Invalid Status like a real cluster', async () => {
      const file = await manifest('map-headers', routeYaml('map-headers', '{name: all, headers: {x-user: admin}}'));
      // Pruning runs before validation: under an array schema the map's keys are unknown fields.
      const strict = await kubectl('create', '-f', file);
      expect(strict.code).not.toBe(0);
      expect(strict.stderr.trim()).toBe(
        `Error from server (BadRequest): error when creating "${file}": HTTPRouteGroup in version "v1alpha4" ` +
          'cannot be handled as a HTTPRouteGroup: strict decoding error: ' +
          'unknown field "spec.matches[0].headers.x-user"',
      );
      const run = await kubectl('create', '--validate=false', '-f', file);
      expect(run.code).not.toBe(0);
      expect(run.stderr.trim()).toBe(
        'The HTTPRouteGroup "map-headers" is invalid: spec.matches[0].headers: Invalid value: "object": ' +
          'spec.matches[0].headers in body must be of type array: "object"',
      );
      const egress = await manifest(
        'bad-egress',
        [
          'apiVersion: policy.openservicemesh.io/v1alpha1',
          'kind: Egress',
          'metadata: {name: bad-egress, namespace: bookstore}',
          'spec: {sources: [{kind: User, name: a, namespace: b}], ports: [{number: 70000, protocol: tcp}]}',
        ].join('\n'),
      );
      const many = await kubectl('apply', '-f', egress);
      expect(many.code).not.toBe(0);
      expect(many.stderr).toContain('The Egress "bad-egress" is invalid: \n');
      expect(many.stderr).toContain(
        '* spec.ports[0].number: Invalid value: 70000: ' +
          'spec.ports[0].number in body should be less than or equal to 65535',
      );
      expect(many.stderr).toContain(
        '* spec.sources[0].kind: Unsupported value: "User": supported values: "ServiceAccount"',
      );
      const good = await manifest('array-headers', routeYaml('array-headers', '{name: all, headers: [{x-user: a}]}'));
      expect(await ok('apply', '-f', good)).toContain('httproutegroup.specs.smi-spec.io/array-headers created');
    });

    it('kubectl apply refuses unknown fields (--validate=strict), warns or prunes them on request', async () => {
      const text = routeYaml('junk', '{name: all, pathRegex: ".*", junk: 1}');
      const file = await manifest('junk', text);
      const strict = await kubectl('apply', '-f', file);
      expect(strict.code).not.toBe(0);
      expect(strict.stderr.trim()).toBe(
        `Error from server (BadRequest): error when creating "${file}": HTTPRouteGroup in version "v1alpha4" ` +
          'cannot be handled as a HTTPRouteGroup: strict decoding error: unknown field "spec.matches[0].junk"',
      );
      const warned = await kubectl('apply', '--validate=warn', '-f', file);
      expect(warned.code).toBe(0);
      expect(warned.stderr).toContain('Warning: unknown field "spec.matches[0].junk"');
      const stored = JSON.parse(await ok('get', 'httproutegroup', 'junk', '-n', 'bookstore', '-o', 'json'));
      expect(stored.spec).toEqual({ matches: [{ name: 'all', pathRegex: '.*' }] });
      const quietYaml = routeYaml('quiet', '{name: all, junk: 1}').replace('bookstore}', 'bookstore, junk: 2}');
      const quiet = await manifest('quiet', quietYaml);
      const ignored = await kubectl('create', '--validate=false', '-f', quiet);
      expect(ignored.code).toBe(0);
      expect(ignored.stderr).toBe('');
      const pruned = JSON.parse(await ok('get', 'htr', 'quiet', '-n', 'bookstore', '-o', 'json')) as KubeObject;
      expect(pruned.spec).toEqual({ matches: [{ name: 'all' }] });
      expect(pruned.metadata).not.toHaveProperty('junk');
    });

    it('kubectl shows who wrote what (--show-managed-fields); an unserved version is 404', async () => {
      const get = ['get', 'htr', 'array-headers', '-n', 'bookstore', '-o', 'json'];
      const out = JSON.parse(await ok(...get, '--show-managed-fields'));
      expect(out.metadata.managedFields).toEqual([
        expect.objectContaining({
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'specs.smi-spec.io/v1alpha4',
        }),
      ]);
      expect(JSON.parse(await ok(...get)).metadata).not.toHaveProperty('managedFields');
      const v1alpha3 = '/apis/specs.smi-spec.io/v1alpha3/namespaces/bookstore/httproutegroups';
      const unserved = await kubectl('get', '--raw', v1alpha3);
      expect(unserved.code).not.toBe(0);
      expect(unserved.stderr.trim()).toBe(
        'Error from server (NotFound): the server could not find the requested resource',
      );
    });
  });

  it('kubectl replace with a stale resourceVersion fails with 409 Conflict', async () => {
    const manifest = await ok('get', 'deploy', 'bookstore', '-n', 'bookstore', '-o', 'yaml');
    const file = join(dir, 'bookstore.yaml');
    await writeFile(file, manifest);
    await ok('annotate', 'deploy', 'bookstore', '-n', 'bookstore', 'touched=yes');
    const stale = await kubectl('replace', '-f', file);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain('Error from server (Conflict)');
    expect(stale.stderr).toContain('the object has been modified');
    const fresh = await ok('get', 'deploy', 'bookstore', '-n', 'bookstore', '-o', 'yaml');
    await writeFile(file, fresh.replace('touched: "yes"', 'touched: "again"'));
    expect(await ok('replace', '-f', file)).toContain('deployment.apps/bookstore replaced');
    const annotations = emu.store.get({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'bookstore',
      name: 'bookstore',
    })?.metadata.annotations;
    expect(annotations?.touched).toBe('again');
  });

  it('kubectl api-resources lists built-in and osm-edge kinds with short names', async () => {
    const out = await ok('api-resources');
    expect(out).toMatch(/^meshconfigs\s+meshconfig\s+config\.openservicemesh\.io\/v1alpha2\s+true\s+MeshConfig$/m);
    expect(out).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    expect(out).toMatch(/^egresses\s+egress\s+policy\.openservicemesh\.io\/v1alpha1\s+true\s+Egress$/m);
    expect(out).toMatch(/^namespaces\s+ns\s+v1\s+false\s+Namespace$/m);
  });
});
