import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DomainError } from '../../../src/common/domain-error.js';
import { offboardingOptions } from '../../../src/onboarding/onboarding.input.js';
import { ApiServerAccessRemovalStep } from '../../../src/onboarding/steps/api-server-access-removal.step.js';
import { ApiServerAccessStep } from '../../../src/onboarding/steps/api-server-access.step.js';
import { ensureExclusion, retryOnConflict } from '../../../src/onboarding/steps/kit/mesh-config.js';
import { applyStep, type OnboardingStep, type StepContext } from '../../../src/onboarding/steps/step.js';
import { startEmulator, type Emulator, type KubeObject } from '../../support/emulator/index.js';
import { namespaceMeta } from '../../support/kube.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const step = new ApiServerAccessStep();
const removal = new ApiServerAccessRemovalStep();
const MC_REF = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};
const MARK = 'osm-onboarding.flomesh.io/api-server-access';
const PRE_EXISTING = ['192.168.0.0/16', '172.16.0.0/12'];

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

const meshConfig = () => emulator.store.get(MC_REF)!;
const exclusions = () => (meshConfig().spec as any).traffic.outboundIPRangeExclusionList as string[];
const ADDED = 'osm-onboarding.flomesh.io/api-server-exclusion-added';
const ADDED_PATH = '/metadata/annotations/osm-onboarding.flomesh.io~1api-server-exclusion-added';
const setMeshConfig = (patch: unknown) => emulator.store.patch(MC_REF, 'merge', patch);
const createNs = (name: string, labels: Record<string, string> = {}) =>
  emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const writes = () => emulator.requests.all().filter((r) => ['create', 'update', 'patch', 'delete'].includes(r.verb));
/** What the runner does: re-plan and re-apply on CONFLICT, 5 attempts. */
const applyLikeRunner = (s: OnboardingStep, ctx: StepContext) =>
  retryOnConflict(() => applyStep(s, ctx), { attempts: 5, baseMs: 20 });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).code ?? String(err);
  }
  return 'no error';
}

describe('api-server-access (ip-exclusion) against the emulator', () => {
  beforeEach(() => {
    setMeshConfig({ spec: { traffic: { outboundIPRangeExclusionList: PRE_EXISTING } } });
  });

  it(
    'annotates the namespace and appends the API server /32 with a guarded JSON patch, then is ' + 'unchanged',
    async () => {
      createNs('team-a');
      const ctx = await stepContext(emulator, {
        namespace: 'team-a',
        options: { apiServerAccess: { method: 'ip-exclusion' } },
      });
      const rv = meshConfig().metadata.resourceVersion;

      emulator.requests.clear();
      const first = await applyStep(step, ctx);
      expect(first.result).toBe('CHANGED');
      expect(first.changes).toEqual([
        {
          action: 'patch',
          target: { apiVersion: 'v1', kind: 'Namespace', name: 'team-a' },
          patchType: 'strategic',
          body: { metadata: { annotations: { [MARK]: 'ip-exclusion' } } },
        },
        {
          action: 'patch',
          target: {
            apiVersion: 'config.openservicemesh.io/v1alpha2',
            kind: 'MeshConfig',
            namespace: 'osm-system',
            name: 'osm-mesh-config',
          },
          patchType: 'json',
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: rv },
            { op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList/-', value: '10.96.0.1/32' },
            { op: 'add', path: '/metadata/annotations', value: { [ADDED]: '10.96.0.1/32' } },
          ],
        },
      ]);
      expect(meshConfig().metadata.annotations?.[ADDED]).toBe('10.96.0.1/32');
      expect(first.facts).toMatchObject({ apiServerIp: '10.96.0.1', cidr: '10.96.0.1/32', method: 'ip-exclusion' });
      expect(first.before).toMatchObject({
        meshConfig: { resourceVersion: rv, outboundIPRangeExclusionList: PRE_EXISTING },
      });
      expect(writes().map((r) => `${r.verb} ${r.resource} ${r.contentType}`)).toEqual([
        'patch namespaces application/strategic-merge-patch+json',
        'patch meshconfigs application/json-patch+json',
      ]);
      expect(exclusions()).toEqual([...PRE_EXISTING, '10.96.0.1/32']);
      expect((await namespaceMeta(emulator, 'team-a')).annotations[MARK]).toBe('ip-exclusion');

      const rvAfter = meshConfig().metadata.resourceVersion;
      const nsRv = (await namespaceMeta(emulator, 'team-a')).resourceVersion;
      emulator.requests.clear();
      const second = await applyStep(step, ctx);
      expect(second.result).toBe('UNCHANGED');
      expect(second.changes).toEqual([]);
      expect(writes()).toEqual([]);
      // plan = 2 lists (mesh discovery) + service + MeshConfig + namespace
      expect(emulator.requests.all().map((r) => `${r.verb} ${r.resource}`)).toEqual([
        'list deployments',
        'list deployments',
        'get services',
        'get meshconfigs',
        'get namespaces',
      ]);
      expect(meshConfig().metadata.resourceVersion).toBe(rvAfter);
      expect((await namespaceMeta(emulator, 'team-a')).resourceVersion).toBe(nsRv);
    },
  );

  it('reports invalid existing entries as warnings and leaves them alone', async () => {
    setMeshConfig({
      spec: { traffic: { outboundIPRangeExclusionList: ['999.1.1.1/32', '10.0.0.1/24', '10.96.0.1/32'] } },
    });
    createNs('team-warn');
    const ctx = await stepContext(emulator, {
      namespace: 'team-warn',
      options: { apiServerAccess: { method: 'ip-exclusion' } },
    });
    const out = await applyStep(step, ctx);
    expect(out.changes.map((c) => c.target.kind)).toEqual(['Namespace']); // the /32 is already there
    expect(out.diagnostics!.filter((d) => d.code === 'INVALID_EXCLUSION_CIDR').map((d) => d.level)).toEqual([
      'warning',
      'warning',
    ]);
    expect(exclusions()).toEqual(['999.1.1.1/32', '10.0.0.1/24', '10.96.0.1/32']);
  });

  it(
    '50 concurrent ensureExclusion calls with distinct CIDRs: all 50 land, none of the pre-existing entries is ' +
      'lost',
    async () => {
      const cidrs = Array.from({ length: 50 }, (_, i) => `10.${100 + i}.0.1/32`);
      // One client (and rate limiter) per writer, as if 50 requests ran in different workers.
      const kubes = await Promise.all(
        cidrs.map(async () => (await stepContext(emulator, { namespace: 'bookstore' })).kube),
      );
      emulator.requests.clear();
      const results = await Promise.all(
        cidrs.map((c, i) => ensureExclusion(kubes[i], 'osm-system', c, { attempts: 200, baseMs: 5, maxMs: 200 })),
      );
      expect(results.every((r) => r === 'added')).toBe(true);
      const list = exclusions();
      expect(list.slice(0, 2)).toEqual(PRE_EXISTING);
      expect([...list].sort()).toEqual([...PRE_EXISTING, ...cidrs].sort());
      expect(new Set(list).size).toBe(list.length); // no duplicates
      const patches = emulator.requests.all().filter((r) => r.verb === 'patch' && r.resource === 'meshconfigs');
      expect(patches.filter((r) => r.status === 200)).toHaveLength(50);
      expect(patches.filter((r) => r.status === 422).length).toBeGreaterThan(0); // the guard really was exercised
    },
  );

  it(
    '20 concurrent step applies for different namespaces add the entry exactly once and mark all ' + 'namespaces',
    async () => {
      const names = Array.from({ length: 20 }, (_, i) => `conc-${i}`);
      for (const n of names) createNs(n);
      const ctxs = await Promise.all(
        names.map((n) =>
          stepContext(emulator, { namespace: n, options: { apiServerAccess: { method: 'ip-exclusion' } } }),
        ),
      );
      const outcomes = await Promise.all(
        ctxs.map((c) => retryOnConflict(() => applyStep(step, c), { attempts: 50, baseMs: 5 })),
      );
      // After a CONFLICT the re-plan may find everything done by the others: CHANGED or UNCHANGED, never an error.
      expect(outcomes.filter((o) => o.result === 'CHANGED').length).toBeGreaterThan(0);
      expect(exclusions()).toEqual([...PRE_EXISTING, '10.96.0.1/32']);
      for (const n of names) expect((await namespaceMeta(emulator, n)).annotations[MARK]).toBe('ip-exclusion');
    },
  );
});

describe('api-server-access (egress) against the emulator', () => {
  const egressRef = (namespace: string) => ({
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    namespace,
    name: 'osm-onboarding-api-server',
  });

  it(
    'turns on enableEgressPolicy, creates the Egress with the exact spec, is unchanged after, updates in ' + 'place',
    async () => {
      setMeshConfig({ spec: { featureFlags: { enableEgressPolicy: false } } });
      createNs('team-e');
      const ctx = await stepContext(emulator, {
        namespace: 'team-e',
        options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app', 'worker'] } },
      });
      const listBefore = exclusions();

      emulator.requests.clear();
      const first = await applyStep(step, ctx);
      expect(first.result).toBe('CHANGED');
      expect(first.changes.map((c) => [c.action, c.target.kind, c.patchType])).toEqual([
        ['patch', 'MeshConfig', 'merge'],
        ['create', 'Egress', undefined],
      ]);
      expect(first.changes[0].body).toEqual({ spec: { featureFlags: { enableEgressPolicy: true } } });
      expect(first.before).toMatchObject({ meshConfig: { enableEgressPolicy: false }, egress: null });
      expect(writes().map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual([
        'patch meshconfigs 200',
        'create egresses 201',
      ]);

      const egress = emulator.store.get(egressRef('team-e'))!;
      expect(egress.metadata.labels).toEqual({
        'app.kubernetes.io/managed-by': 'osm-onboarding',
        'osm-onboarding.flomesh.io/request': ctx.request.id,
      });
      expect(egress.spec).toEqual({
        sources: [
          { kind: 'ServiceAccount', name: 'app', namespace: 'team-e' },
          { kind: 'ServiceAccount', name: 'worker', namespace: 'team-e' },
        ],
        ipAddresses: ['10.96.0.1/32'],
        ports: [{ number: 443, protocol: 'https' }],
      });
      expect((meshConfig().spec as any).featureFlags.enableEgressPolicy).toBe(true);
      expect(exclusions()).toEqual(listBefore); // the merge patch of one boolean left the list alone

      const rv = egress.metadata.resourceVersion;
      const mcRv = meshConfig().metadata.resourceVersion;
      emulator.requests.clear();
      const second = await applyStep(step, ctx);
      expect(second.result).toBe('UNCHANGED');
      expect(writes()).toEqual([]);
      expect(emulator.store.get(egressRef('team-e'))!.metadata.resourceVersion).toBe(rv);
      expect(meshConfig().metadata.resourceVersion).toBe(mcRv);

      const ctx2 = await stepContext(emulator, {
        namespace: 'team-e',
        options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
      });
      const third = await applyStep(step, ctx2);
      expect(third.changes.map((c) => c.action)).toEqual(['update']);
      expect((third.changes[0].body as KubeObject).metadata.resourceVersion).toBe(rv);
      const updated = emulator.store.get(egressRef('team-e'))!;
      expect(updated.metadata.uid).toBe(egress.metadata.uid); // in place
      expect((updated.spec as any).sources).toEqual([{ kind: 'ServiceAccount', name: 'app', namespace: 'team-e' }]);
      expect(updated.metadata.labels!['osm-onboarding.flomesh.io/request']).toBe(ctx2.request.id);
    },
  );

  it('refuses to take over an Egress of that name that is not ours', async () => {
    createNs('team-f');
    emulator.store.create({
      ...egressRef('team-f'),
      metadata: { name: 'osm-onboarding-api-server', namespace: 'team-f' },
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'x', namespace: 'team-f' }],
        ports: [{ number: 80, protocol: 'http' }],
      },
    });
    const ctx = await stepContext(emulator, {
      namespace: 'team-f',
      options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
    });
    emulator.requests.clear();
    expect(await codeOf(applyStep(step, ctx))).toBe('SMI_OBJECT_NOT_OWNED');
    expect(writes()).toEqual([]);
  });

  it('refuses when namespace default is monitored by the mesh', async () => {
    const ref = { apiVersion: 'v1', kind: 'Namespace', name: 'default' };
    emulator.store.patch(ref, 'merge', { metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
    try {
      createNs('team-g');
      const ctx = await stepContext(emulator, {
        namespace: 'team-g',
        options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
      });
      emulator.requests.clear();
      expect(await codeOf(applyStep(step, ctx))).toBe('EGRESS_API_SERVER_MONITORED');
      expect(writes()).toEqual([]);
    } finally {
      emulator.store.patch(ref, 'merge', { metadata: { labels: { 'openservicemesh.io/monitored-by': null } } });
    }
  });
});

describe('api-server-access-removal against the emulator', () => {
  it('keeps the entry while another onboarded namespace needs it, removes it after the last one', async () => {
    setMeshConfig({ spec: { traffic: { outboundIPRangeExclusionList: PRE_EXISTING } } });
    // Namespaces left annotated by the earlier tests would (correctly) keep the entry: clear them.
    for (const ns of emulator.store.list('v1', 'Namespace')) {
      if (ns.metadata.annotations?.[MARK])
        emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns.metadata.name! }, 'merge', {
          metadata: { annotations: { [MARK]: null } },
        });
    }
    for (const n of ['rm-1', 'rm-2']) {
      createNs(n, { 'openservicemesh.io/monitored-by': 'osm' });
      await applyStep(
        step,
        await stepContext(emulator, { namespace: n, options: { apiServerAccess: { method: 'ip-exclusion' } } }),
      );
    }
    expect(exclusions()).toEqual([...PRE_EXISTING, '10.96.0.1/32']);
    const off = async (namespace: string) =>
      stepContext(emulator, {
        namespace,
        kind: 'OFFBOARD',
        options: offboardingOptions({ namespace, removeApiServerExclusion: true }),
      });

    const ctx1 = await off('rm-1');
    const keep = await applyLikeRunner(removal, ctx1);
    expect(keep.result).toBe('CHANGED');
    // The mark goes in two writes: `leaving` before the re-check, then gone.
    expect(keep.changes.map((c) => [c.target.kind, (c.body as any).metadata.annotations[MARK]])).toEqual([
      ['Namespace', 'leaving'],
      ['Namespace', null],
    ]);
    // How many others rely on it, never which (rm-1's caller may not see rm-2: an outside audit).
    expect(keep.facts).toMatchObject({ neededBy: 1 });
    expect(JSON.stringify(keep)).not.toContain('rm-2');
    expect(exclusions()).toEqual([...PRE_EXISTING, '10.96.0.1/32']);
    expect((await namespaceMeta(emulator, 'rm-1')).annotations[MARK]).toBeUndefined();

    const ctx2 = await off('rm-2');
    const rv = meshConfig().metadata.resourceVersion;
    const gone = await applyLikeRunner(removal, ctx2);
    expect(gone.changes[0]).toEqual({
      action: 'patch',
      target: {
        apiVersion: 'config.openservicemesh.io/v1alpha2',
        kind: 'MeshConfig',
        namespace: 'osm-system',
        name: 'osm-mesh-config',
      },
      patchType: 'json',
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: rv },
        { op: 'test', path: '/spec/traffic/outboundIPRangeExclusionList/2', value: '10.96.0.1/32' },
        { op: 'remove', path: '/spec/traffic/outboundIPRangeExclusionList/2' },
        { op: 'test', path: ADDED_PATH, value: '10.96.0.1/32' },
        { op: 'remove', path: ADDED_PATH },
      ],
    });
    expect(exclusions()).toEqual(PRE_EXISTING);
    expect(meshConfig().metadata.annotations?.[ADDED]).toBeUndefined();

    for (const c of [ctx1, ctx2]) {
      const mcRv = meshConfig().metadata.resourceVersion;
      emulator.requests.clear();
      const again = await applyStep(removal, c);
      expect(again.result).toBe('UNCHANGED');
      expect(writes()).toEqual([]);
      expect(meshConfig().metadata.resourceVersion).toBe(mcRv);
    }
  });

  it('leaves an entry added by hand before a namespace relied on it, when that namespace is offboarded', async () => {
    // The guide's step 3 done by hand (kubectl patch meshconfig): other namespaces meshed by hand may need it.
    setMeshConfig({
      metadata: { annotations: { [ADDED]: null } },
      spec: { traffic: { outboundIPRangeExclusionList: [...PRE_EXISTING, '10.96.0.1/32'] } },
    });
    for (const ns of emulator.store.list('v1', 'Namespace')) {
      if (ns.metadata.annotations?.[MARK])
        emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns.metadata.name! }, 'merge', {
          metadata: { annotations: { [MARK]: null } },
        });
    }
    createNs('by-hand', { 'openservicemesh.io/monitored-by': 'osm' });
    const on = await applyStep(
      step,
      await stepContext(emulator, { namespace: 'by-hand', options: { apiServerAccess: { method: 'ip-exclusion' } } }),
    );
    expect(on.changes.map((c) => c.target.kind)).toEqual(['Namespace']); // marked; the list already had the entry
    expect(meshConfig().metadata.annotations?.[ADDED]).toBeUndefined();

    const ctx = await stepContext(emulator, {
      namespace: 'by-hand',
      kind: 'OFFBOARD',
      options: offboardingOptions({ namespace: 'by-hand', removeApiServerExclusion: true }),
    });
    const off = await applyLikeRunner(removal, ctx);
    expect(off.changes.map((c) => c.target.kind)).toEqual(['Namespace', 'Namespace']);
    expect(off.diagnostics).toContainEqual(expect.objectContaining({ code: 'API_SERVER_EXCLUSION_NOT_OURS' }));
    expect(exclusions()).toEqual([...PRE_EXISTING, '10.96.0.1/32']);
    expect((await namespaceMeta(emulator, 'by-hand')).annotations[MARK]).toBeUndefined();
    emulator.requests.clear();
    expect((await applyStep(removal, ctx)).result).toBe('UNCHANGED');
    expect(writes()).toEqual([]);
  });

  it('removes the entry when its last two claimants are offboarded at the same time', async () => {
    // An outside audit: both removals re-checked after clearing their marks, both found the entry unneeded and
    // re-planned, and the re-plans no longer saw a mark: "never relied on it", and the entry stayed for good.
    const claim = (name: string) => {
      createNs(name, { 'openservicemesh.io/monitored-by': 'osm' });
      emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name }, 'merge', {
        metadata: { annotations: { [MARK]: 'ip-exclusion' } },
      });
    };
    const off = (namespace: string) =>
      stepContext(emulator, {
        namespace,
        kind: 'OFFBOARD',
        options: offboardingOptions({ namespace, removeApiServerExclusion: true }),
      });
    const unmarkOthers = () => {
      for (const ns of emulator.store.list('v1', 'Namespace')) {
        if (ns.metadata.annotations?.[MARK] && !ns.metadata.name!.startsWith('pair-'))
          emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns.metadata.name! }, 'merge', {
            metadata: { annotations: { [MARK]: null } },
          });
      }
    };
    const withEntry = () =>
      setMeshConfig({
        metadata: { annotations: { [ADDED]: '10.96.0.1/32' } },
        spec: { traffic: { outboundIPRangeExclusionList: [...PRE_EXISTING, '10.96.0.1/32'] } },
      });

    // Both plans first (each sees the other's claim), then both writes: the interleaving the audit found.
    unmarkOthers();
    withEntry();
    claim('pair-a');
    claim('pair-b');
    const [a, b] = [await off('pair-a'), await off('pair-b')];
    const [planA, planB] = [await removal.plan(a), await removal.plan(b)];
    expect([planA.facts, planB.facts]).toMatchObject([{ neededBy: 1 }, { neededBy: 1 }]);
    await removal.execute(a, planA);
    expect(await codeOf(removal.execute(b, planB))).toMatch(/no longer needed by any other namespace/);
    // pair-b still carries its mark, `leaving`: its re-plan knows it relied on the entry, and removes it.
    expect((await namespaceMeta(emulator, 'pair-b')).annotations[MARK]).toBe('leaving');
    const replanned = await applyLikeRunner(removal, b);
    expect(replanned.summary).toContain('remove 10.96.0.1/32');
    expect(exclusions()).toEqual(PRE_EXISTING);
    expect((await namespaceMeta(emulator, 'pair-b')).annotations[MARK]).toBeUndefined();

    // And sent together, as a batch's members run, many times.
    for (let round = 0; round < 10; round++) {
      withEntry();
      const names = [`pair-${round}-x`, `pair-${round}-y`, `pair-${round}-z`];
      names.forEach(claim);
      const contexts = await Promise.all(names.map(off));
      await Promise.all(contexts.map((c) => applyLikeRunner(removal, c)));
      expect(exclusions(), `round ${round}`).toEqual(PRE_EXISTING);
      for (const n of names) expect((await namespaceMeta(emulator, n)).annotations[MARK]).toBeUndefined();
    }
  });

  it('an onboarding racing an offboarding never ends with a marked namespace and no entry', async () => {
    for (let round = 0; round < 25; round++) {
      setMeshConfig({ spec: { traffic: { outboundIPRangeExclusionList: [...PRE_EXISTING, '10.96.0.1/32'] } } });
      const leaving = `race-out-${round}`;
      const joining = `race-in-${round}`;
      createNs(leaving, { 'openservicemesh.io/monitored-by': 'osm' });
      emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: leaving }, 'merge', {
        metadata: { annotations: { [MARK]: 'ip-exclusion' } },
      });
      createNs(joining);
      const [offCtx, onCtx] = await Promise.all([
        stepContext(emulator, {
          namespace: leaving,
          kind: 'OFFBOARD',
          options: offboardingOptions({ namespace: leaving, removeApiServerExclusion: true }),
        }),
        stepContext(emulator, { namespace: joining, options: { apiServerAccess: { method: 'ip-exclusion' } } }),
      ]);
      await Promise.all([applyLikeRunner(removal, offCtx), applyLikeRunner(step, onCtx)]);
      expect((await namespaceMeta(emulator, joining)).annotations[MARK]).toBe('ip-exclusion');
      expect(exclusions()).toContain('10.96.0.1/32');
      expect(exclusions().filter((e) => e === '10.96.0.1/32')).toHaveLength(1);
      // tidy up for the next round
      emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: joining }, 'merge', {
        metadata: { annotations: { [MARK]: null } },
      });
    }
  });
});
