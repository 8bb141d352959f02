import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainError } from '../../../src/common/domain-error.js';
import { SMI_OBJECTS_PER_KIND, SmiSchema } from '../../../src/onboarding/onboarding.input.js';
import { applyStep } from '../../../src/onboarding/steps/step.js';
import { desiredSmiObjects, TrafficPolicyStep } from '../../../src/onboarding/steps/traffic-policy.step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const step = new TrafficPolicyStep();
const MC_REF = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};
const OWNED = { 'app.kubernetes.io/managed-by': 'osm-onboarding' };

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

const meshConfig = () => emulator.store.get(MC_REF)!;
const writes = () => emulator.requests.all().filter((r) => ['create', 'update', 'patch', 'delete'].includes(r.verb));
const createNs = (name: string) => emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const get = (apiVersion: string, kind: string, namespace: string, name: string) =>
  emulator.store.get({ apiVersion, kind, namespace, name });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).code ?? String(err);
  }
  return 'no error';
}

const smi = (ports: number[] = [5432]) =>
  SmiSchema.parse({
    httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] } }],
    tcpRoutes: [{ name: 'tcp', spec: { matches: { ports } } }],
    trafficTargets: [
      {
        name: 'a-to-b',
        spec: {
          destination: { kind: 'ServiceAccount', name: 'sa-b' },
          rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
          sources: [{ kind: 'ServiceAccount', name: 'sa-a', namespace: 'ns-a' }],
        },
      },
    ],
    trafficSplits: [
      {
        name: 'split',
        spec: {
          service: 'svc-b',
          backends: [
            { service: 'svc-b-v1', weight: 50 },
            { service: 'svc-b-v2', weight: 50 },
          ],
        },
      },
    ],
  });

describe('traffic-policy (permissive) against the emulator', () => {
  it('merge-patches only the boolean, warns that it is mesh-wide, then is unchanged', async () => {
    emulator.store.patch(MC_REF, 'merge', {
      spec: { traffic: { enablePermissiveTrafficPolicyMode: false, outboundIPRangeExclusionList: ['10.0.0.0/8'] } },
    });
    createNs('perm');
    const ctx = await stepContext(emulator, { namespace: 'perm', options: { trafficPolicy: { mode: 'permissive' } } });
    emulator.requests.clear();
    const first = await applyStep(step, ctx);
    expect(first.result).toBe('CHANGED');
    expect(first.changes).toEqual([
      {
        action: 'patch',
        target: {
          apiVersion: 'config.openservicemesh.io/v1alpha2',
          kind: 'MeshConfig',
          namespace: 'osm-system',
          name: 'osm-mesh-config',
        },
        patchType: 'merge',
        body: { spec: { traffic: { enablePermissiveTrafficPolicyMode: true } } },
      },
    ]);
    expect(first.diagnostics).toEqual([
      expect.objectContaining({ code: 'PERMISSIVE_MODE_IS_MESH_WIDE', level: 'warning' }),
    ]);
    expect(writes().map((r) => `${r.verb} ${r.resource} ${r.contentType}`)).toEqual([
      'patch meshconfigs application/merge-patch+json',
    ]);
    const traffic = (meshConfig().spec as any).traffic;
    expect(traffic.enablePermissiveTrafficPolicyMode).toBe(true);
    expect(traffic.outboundIPRangeExclusionList).toEqual(['10.0.0.0/8']);

    const rv = meshConfig().metadata.resourceVersion;
    emulator.requests.clear();
    const second = await applyStep(step, ctx);
    expect(second.result).toBe('UNCHANGED');
    expect(second.diagnostics).toEqual([expect.objectContaining({ code: 'PERMISSIVE_MODE_IS_MESH_WIDE' })]);
    expect(writes()).toEqual([]);
    expect(meshConfig().metadata.resourceVersion).toBe(rv);
  });
});

describe('traffic-policy (smi) against the emulator', () => {
  it('creates the objects with the served versions, then is unchanged, then updates in place', async () => {
    createNs('ns-b');
    const ctx = await stepContext(emulator, {
      namespace: 'ns-b',
      options: { trafficPolicy: { mode: 'smi', smi: smi() } },
    });
    emulator.requests.clear();
    const first = await applyStep(step, ctx);
    expect(first.result).toBe('CHANGED');
    expect(writes().map((r) => `${r.verb} ${r.apiGroup}/${r.apiVersion} ${r.resource} ${r.status}`)).toEqual([
      'create specs.smi-spec.io/v1alpha4 httproutegroups 201',
      'create specs.smi-spec.io/v1alpha4 tcproutes 201',
      'create access.smi-spec.io/v1alpha3 traffictargets 201',
      'create split.smi-spec.io/v1alpha4 trafficsplits 201',
    ]);
    // permissive mode was left on by the previous test
    expect(first.diagnostics).toEqual([expect.objectContaining({ code: 'PERMISSIVE_MODE_ON', level: 'warning' })]);
    expect(first.before).toMatchObject({
      objects: [{ object: null }, { object: null }, { object: null }, { object: null }],
    });

    const tt = get('access.smi-spec.io/v1alpha3', 'TrafficTarget', 'ns-b', 'a-to-b')!;
    expect(tt.metadata.labels).toEqual({ ...OWNED, 'osm-onboarding.flomesh.io/request': ctx.request.id });
    expect(tt.spec).toEqual({
      destination: { kind: 'ServiceAccount', name: 'sa-b', namespace: 'ns-b' },
      rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
      sources: [{ kind: 'ServiceAccount', name: 'sa-a', namespace: 'ns-a' }],
    });
    const tcp = get('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'ns-b', 'tcp')!;

    emulator.requests.clear();
    const second = await applyStep(step, ctx);
    expect(second.result).toBe('UNCHANGED');
    expect(writes()).toEqual([]);
    expect(get('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'ns-b', 'tcp')!.metadata.resourceVersion).toBe(
      tcp.metadata.resourceVersion,
    );

    // A new request with a changed TCPRoute: only that object is replaced, in place.
    const ctx2 = await stepContext(emulator, {
      namespace: 'ns-b',
      options: { trafficPolicy: { mode: 'smi', smi: smi([5432, 6379]) } },
    });
    emulator.requests.clear();
    const third = await applyStep(step, ctx2);
    expect(third.changes.map((c) => `${c.action} ${c.target.kind}/${c.target.name}`)).toEqual(['update TCPRoute/tcp']);
    expect(writes().map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual(['update tcproutes 200']);
    const updated = get('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'ns-b', 'tcp')!;
    expect(updated.metadata.uid).toBe(tcp.metadata.uid);
    expect(updated.spec).toEqual({ matches: { ports: [5432, 6379] } });
    expect(updated.metadata.labels!['osm-onboarding.flomesh.io/request']).toBe(ctx2.request.id);
    expect(third.before).toMatchObject({
      objects: expect.arrayContaining([
        expect.objectContaining({
          kind: 'TCPRoute',
          object: expect.objectContaining({ spec: { matches: { ports: [5432] } } }),
        }),
      ]),
    });
  });

  it('refuses to overwrite an object of the same name that is not ours, and writes nothing', async () => {
    createNs('ns-c');
    emulator.store.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'TCPRoute',
      metadata: { name: 'tcp', namespace: 'ns-c', labels: { team: 'c' } },
      spec: { matches: { ports: [1] } },
    });
    const ctx = await stepContext(emulator, {
      namespace: 'ns-c',
      options: { trafficPolicy: { mode: 'smi', smi: smi() } },
    });
    emulator.requests.clear();
    expect(await codeOf(applyStep(step, ctx))).toBe('SMI_OBJECT_NOT_OWNED');
    expect(writes()).toEqual([]);
    expect(get('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'ns-c', 'tcp')!.spec).toEqual({ matches: { ports: [1] } });
  });

  it('reads several objects of one kind with one list, not a GET each; a foreign one is still refused', async () => {
    createNs('ns-many');
    const routes = Array.from({ length: SMI_OBJECTS_PER_KIND }, (_, i) => ({
      name: `routes-${i}`,
      spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] },
    }));
    const many = SmiSchema.parse({ httpRouteGroups: routes });
    const ctx = await stepContext(emulator, {
      namespace: 'ns-many',
      options: { trafficPolicy: { mode: 'smi', smi: many } },
    });
    emulator.requests.clear();
    const plan = await step.plan(ctx);
    expect(plan.changes.filter((c) => c.action === 'create')).toHaveLength(SMI_OBJECTS_PER_KIND);
    const reads = emulator.requests.all().filter((r) => r.resource === 'httproutegroups');
    expect(reads.map((r) => `${r.verb} ${r.namespace}`)).toEqual(['list ns-many']);

    emulator.store.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'routes-7', namespace: 'ns-many', labels: { team: 'other' } },
      spec: { matches: [{ name: 'x', pathRegex: '/x' }] },
    });
    expect(await codeOf(applyStep(step, ctx))).toBe('SMI_OBJECT_NOT_OWNED');
    expect(() => SmiSchema.parse({ httpRouteGroups: [...routes, { ...routes[0], name: 'one-more' }] })).toThrow(
      `at most ${SMI_OBJECTS_PER_KIND} per request`,
    );
  });

  it('a concurrent edit between plan and update gives 409 and the re-plan converges', async () => {
    createNs('ns-d');
    const ctx = await stepContext(emulator, {
      namespace: 'ns-d',
      options: { trafficPolicy: { mode: 'smi', smi: smi() } },
    });
    await applyStep(step, ctx);
    const ctx2 = await stepContext(emulator, {
      namespace: 'ns-d',
      options: { trafficPolicy: { mode: 'smi', smi: smi([7000]) } },
    });
    const plan = await step.plan(ctx2);
    // someone else edits the object after our plan
    emulator.store.patch(
      { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', namespace: 'ns-d', name: 'tcp' },
      'merge',
      { metadata: { annotations: { touched: 'yes' } } },
    );
    await expect(step.execute(ctx2, plan)).rejects.toMatchObject({ reason: 'CONFLICT' });
    const retried = await applyStep(step, ctx2);
    expect(retried.result).toBe('CHANGED');
    const obj = get('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'ns-d', 'tcp')!;
    expect(obj.spec).toEqual({ matches: { ports: [7000] } });
    expect(obj.metadata.annotations).toMatchObject({ touched: 'yes' }); // the other writer's change survived
  });
});

describe('SMI objects against the real osm-edge v1.3.9 CRD schemas', () => {
  // Every optional field the input accepts, so a field the CRD would prune or refuse shows up here:
  // the product writes with fieldValidation=Strict, so a pruned field fails the write.
  const ADMIN_HEADERS = [{ 'x-user': 'admin' }, { host: 'a' }];
  const full = () =>
    SmiSchema.parse({
      httpRouteGroups: [
        {
          name: 'routes',
          spec: {
            matches: [
              { name: 'admin', pathRegex: '/admin/.*', methods: ['GET', 'POST'], headers: ADMIN_HEADERS },
              { name: 'mapped', headers: { 'x-team': 'a', 'x-env': 'prod' } },
            ],
          },
        },
      ],
      tcpRoutes: [{ name: 'db', spec: { matches: { ports: [5432, 6379] } } }],
      trafficTargets: [
        {
          name: 'to-store',
          spec: {
            destination: { kind: 'ServiceAccount', name: 'store', namespace: 'smi-full' },
            sources: [
              { kind: 'ServiceAccount', name: 'buyer', namespace: 'buyers' },
              { kind: 'ServiceAccount', name: 'local' },
            ],
            rules: [
              { kind: 'HTTPRouteGroup', name: 'routes', matches: ['admin', 'mapped'] },
              { kind: 'TCPRoute', name: 'db' },
            ],
          },
        },
      ],
      trafficSplits: [
        {
          name: 'canary',
          spec: {
            service: 'store',
            backends: [
              { service: 'store-v1', weight: 90 },
              { service: 'store-v2', weight: 10 },
            ],
            matches: [{ kind: 'HTTPRouteGroup', name: 'routes' }],
          },
        },
      ],
    });

  it('writes headers as one-pair maps (a plain map converted), and every field survives the schema', async () => {
    createNs('smi-full');
    const smiObjects = full();
    const options = { trafficPolicy: { mode: 'smi' as const, smi: smiObjects } };
    const ctx = await stepContext(emulator, { namespace: 'smi-full', options });
    emulator.requests.clear();
    expect((await applyStep(step, ctx)).result).toBe('CHANGED');
    expect(writes().map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual([
      'create httproutegroups 201',
      'create tcproutes 201',
      'create traffictargets 201',
      'create trafficsplits 201',
    ]);
    for (const w of writes()) expect(new URLSearchParams(w.query).get('fieldValidation')).toBe('Strict');
    expect(get('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'smi-full', 'routes')!.spec).toEqual({
      matches: [
        { name: 'admin', pathRegex: '/admin/.*', methods: ['GET', 'POST'], headers: ADMIN_HEADERS },
        { name: 'mapped', headers: [{ 'x-team': 'a' }, { 'x-env': 'prod' }] },
      ],
    });
    // What was written is exactly what was asked for (nothing pruned, nothing defaulted).
    for (const d of desiredSmiObjects(smiObjects, 'smi-full')) {
      const apiVersion = `${d.ref.group}/${d.ref.version}`;
      expect(get(apiVersion, d.ref.kind, 'smi-full', d.name)!.spec, d.ref.kind).toEqual(d.spec);
    }
    emulator.requests.clear();
    expect((await applyStep(step, ctx)).result).toBe('UNCHANGED');
    expect(writes()).toEqual([]);
  });
});

describe('traffic-policy: switching the mesh to SMI mode', () => {
  it(
    'lists the mesh namespaces without TrafficTargets, writes its objects before turning permissive off, then is ' +
      'unchanged',
    async () => {
      emulator.store.patch(MC_REF, 'merge', { spec: { traffic: { enablePermissiveTrafficPolicyMode: true } } });
      const mesh = (name: string) =>
        emulator.store.create({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { 'openservicemesh.io/monitored-by': 'osm' } },
        });
      mesh('smi-covered');
      mesh('smi-bare');
      emulator.store.create({
        apiVersion: 'access.smi-spec.io/v1alpha3',
        kind: 'TrafficTarget',
        metadata: { name: 'in', namespace: 'smi-covered' },
        spec: {
          destination: { kind: 'ServiceAccount', name: 'a', namespace: 'smi-covered' },
          sources: [{ kind: 'ServiceAccount', name: 'b', namespace: 'smi-bare' }],
          rules: [{ kind: 'TCPRoute', name: 'tcp' }],
        },
      });
      createNs('smi-switch');
      const ctx = await stepContext(emulator, {
        namespace: 'smi-switch',
        options: { trafficPolicy: { mode: 'smi', smi: smi(), switchMeshToSmi: true } },
      });
      const plan = await step.plan(ctx);
      // Counted, never named: a caller scoped to smi-switch reads this plan (an outside audit saw the mesh's
      // namespaces listed). smi-bare lacks a TrafficTarget; smi-covered has one; smi-switch brings its own.
      expect(plan.facts?.withoutTrafficTargets).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(plan)).not.toContain('smi-bare');
      expect(JSON.stringify(plan)).not.toContain('smi-covered');
      expect(plan.diagnostics?.map((d) => d.code)).toEqual([
        'SMI_MODE_IS_MESH_WIDE',
        'SMI_MODE_NAMESPACES_WITHOUT_TRAFFIC_TARGET',
      ]);
      expect(plan.changes.at(-1)).toMatchObject({
        target: { kind: 'MeshConfig' },
        patchType: 'merge',
        body: { spec: { traffic: { enablePermissiveTrafficPolicyMode: false } } },
      });

      emulator.requests.clear();
      const first = await applyStep(step, ctx);
      expect(first.result).toBe('CHANGED');
      const order = writes().map((w) => w.resource);
      expect(order.at(-1)).toBe('meshconfigs');
      expect(order.slice(0, -1)).not.toContain('meshconfigs');
      expect((meshConfig().spec as any).traffic.enablePermissiveTrafficPolicyMode).toBe(false);
      expect(get('access.smi-spec.io/v1alpha3', 'TrafficTarget', 'smi-switch', 'a-to-b')).toBeDefined();

      emulator.requests.clear();
      expect((await applyStep(step, ctx)).result).toBe('UNCHANGED');
      expect(writes()).toEqual([]);
    },
  );
});

describe('traffic-policy: switching a large mesh to SMI mode', () => {
  let big: Emulator;
  beforeAll(async () => {
    big = await startEmulator({ seed: 'osm' });
  });
  afterAll(() => big?.close());

  it('reads the mesh namespaces and the TrafficTargets 500 at a time, and counts every page', async () => {
    // 1,100 mesh namespaces (three pages); TrafficTargets in the even ones (550, two pages), whose last page holds
    // namespaces the first does not: a count from one page would be wrong.
    for (let i = 0; i < 1_100; i++) {
      const name = `mesh-${String(i).padStart(4, '0')}`;
      big.store.create({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'openservicemesh.io/monitored-by': 'osm' } },
      });
      if (i % 2 === 0)
        big.store.create({
          apiVersion: 'access.smi-spec.io/v1alpha3',
          kind: 'TrafficTarget',
          metadata: { name: 'in', namespace: name },
          spec: {
            destination: { kind: 'ServiceAccount', name: 'a', namespace: name },
            sources: [{ kind: 'ServiceAccount', name: 'b', namespace: name }],
            rules: [{ kind: 'TCPRoute', name: 'tcp' }],
          },
        });
    }
    big.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'big-switch' } });
    const ctx = await stepContext(big, {
      namespace: 'big-switch',
      options: { trafficPolicy: { mode: 'smi', smi: smi(), switchMeshToSmi: true } },
    });
    big.requests.clear();
    const plan = await step.plan(ctx);
    // The odd 550; big-switch brings its own TrafficTarget.
    expect(plan.facts?.withoutTrafficTargets).toBe(550);
    const lists = big.requests
      .all()
      .filter((r) => r.verb === 'list' && (r.resource === 'namespaces' || r.resource === 'traffictargets'));
    expect(lists.map((r) => [r.resource, new URLSearchParams(r.query).get('limit')])).toEqual([
      ['namespaces', '500'],
      ['namespaces', '500'],
      ['namespaces', '500'],
      ['traffictargets', '500'],
      ['traffictargets', '500'],
    ]);
  });
});
