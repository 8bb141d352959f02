// Every cluster write of the product names its writer (`fieldManager`, K8S_FIELD_MANAGER), so the
// objects' managedFields say what osm-onboarding set; reads carry no such parameter.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { KubeObject as ClientObject } from '../../src/kubernetes/cluster-client.js';
import type { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { CRD } from '../../src/mesh/osm.js';
import { gatewayFor } from '../support/step-context.js';
import { startEmulator, type Emulator, type KubeObject } from '../support/emulator/index.js';

let emu: Emulator;
let gateway: ClusterGateway;

beforeAll(async () => {
  emu = await startEmulator();
  ({ gateway } = await gatewayFor(emu, { K8S_FIELD_MANAGER: 'team-portal' }));
});
afterAll(() => emu?.close());

it('sends fieldManager on every create, update and patch, and only there', async () => {
  const kube = gateway.client(gateway.defaultCluster());
  emu.requests.clear();
  await kube.patchNamespace('bookstore', { metadata: { labels: { team: 'a' } } }, 'strategic');
  const ops = [{ op: 'add', path: '/spec/ports/0/appProtocol', value: 'http' }];
  await kube.patchService('bookstore', 'bookstore', ops, 'json');
  await kube.patchDeployment('bookstore', 'bookstore', { metadata: { annotations: { a: 'b' } } }, 'merge');
  const body: ClientObject = {
    apiVersion: 'specs.smi-spec.io/v1alpha4',
    kind: 'HTTPRouteGroup',
    metadata: { name: 'routes', namespace: 'bookstore' },
    spec: { matches: [{ name: 'all', pathRegex: '.*' }] },
  };
  const created = await kube.createCustom(CRD.httpRouteGroup, 'bookstore', body);
  const replaced = { ...created, spec: { matches: [{ name: 'x' }] } };
  await kube.replaceCustom(CRD.httpRouteGroup, 'bookstore', 'routes', replaced);
  await kube.patchCustom({
    ref: CRD.httpRouteGroup,
    namespace: 'bookstore',
    name: 'routes',
    body: { metadata: { labels: { a: 'b' } } },
    type: 'merge',
  });
  await kube.getNamespace('bookstore');
  await kube.listServices('bookstore');

  const requests = emu.requests.all();
  const writes = requests.filter((r) => ['create', 'update', 'patch'].includes(r.verb));
  expect(writes.map((r) => r.verb)).toEqual(['patch', 'patch', 'patch', 'create', 'update', 'patch']);
  for (const w of writes) expect(new URLSearchParams(w.query).get('fieldManager'), w.path).toBe('team-portal');
  const reads = requests.filter((x) => ['get', 'list'].includes(x.verb));
  for (const r of reads) expect(r.query).not.toContain('fieldManager');

  const managers = (obj: KubeObject | undefined) =>
    ((obj?.metadata.managedFields ?? []) as { manager?: string }[]).map((e) => e.manager);
  expect(managers(emu.store.get({ apiVersion: 'v1', kind: 'Namespace', name: 'bookstore' }))).toContain('team-portal');
  const ns = 'bookstore';
  const route = emu.store.get({ apiVersion: body.apiVersion!, kind: body.kind!, namespace: ns, name: 'routes' });
  expect(managers(route)).toEqual(['team-portal']);
});
