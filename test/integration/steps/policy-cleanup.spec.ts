import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offboardingOptions, SmiSchema } from '../../../src/onboarding/onboarding.input.js';
import { ApiServerAccessStep } from '../../../src/onboarding/steps/api-server-access.step.js';
import { PolicyCleanupStep } from '../../../src/onboarding/steps/policy-cleanup.step.js';
import { applyStep } from '../../../src/onboarding/steps/step.js';
import { TrafficPolicyStep } from '../../../src/onboarding/steps/traffic-policy.step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const cleanup = new PolicyCleanupStep();

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

const writes = () => emulator.requests.all().filter((r) => ['create', 'update', 'patch', 'delete'].includes(r.verb));
const names = (apiVersion: string, kind: string, namespace: string) =>
  emulator.store
    .list(apiVersion, kind, { namespace })
    .map((o) => o.metadata.name)
    .sort();

describe('policy-cleanup against the emulator', () => {
  it('deletes only the Egress and SMI objects this service created, then is unchanged', async () => {
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-x' } });
    // ours: created by the onboarding steps
    await applyStep(
      new TrafficPolicyStep(),
      await stepContext(emulator, {
        namespace: 'team-x',
        options: {
          trafficPolicy: {
            mode: 'smi',
            smi: SmiSchema.parse({
              httpRouteGroups: [
                { name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] } },
              ],
              trafficTargets: [
                {
                  name: 'tt',
                  spec: {
                    destination: { kind: 'ServiceAccount', name: 'b' },
                    rules: [{ kind: 'HTTPRouteGroup', name: 'routes' }],
                    sources: [{ kind: 'ServiceAccount', name: 'a' }],
                  },
                },
              ],
            }),
          },
        },
      }),
    );
    await applyStep(
      new ApiServerAccessStep(),
      await stepContext(emulator, {
        namespace: 'team-x',
        options: { apiServerAccess: { method: 'egress', serviceAccounts: ['a'] } },
      }),
    );
    // not ours: created by someone else, one of them with a look-alike label value
    emulator.store.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'theirs', namespace: 'team-x', labels: { 'app.kubernetes.io/managed-by': 'helm' } },
      spec: { matches: [{ name: 'x', pathRegex: '.*' }] },
    });
    emulator.store.create({
      apiVersion: 'policy.openservicemesh.io/v1alpha1',
      kind: 'Egress',
      metadata: { name: 'theirs', namespace: 'team-x' },
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'a', namespace: 'team-x' }],
        ports: [{ number: 80, protocol: 'http' }],
      },
    });
    // ours, but in another namespace: untouched
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-y' } });
    emulator.store.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'TCPRoute',
      metadata: {
        name: 'mine-elsewhere',
        namespace: 'team-y',
        labels: { 'app.kubernetes.io/managed-by': 'osm-onboarding' },
      },
      spec: { matches: { ports: [1] } },
    });

    const ctx = await stepContext(emulator, {
      namespace: 'team-x',
      kind: 'OFFBOARD',
      options: offboardingOptions({ namespace: 'team-x', deleteOwnedPolicies: true }),
    });
    emulator.requests.clear();
    const first = await applyStep(cleanup, ctx);
    expect(first.result).toBe('CHANGED');
    expect(first.changes.map((c) => `${c.action} ${c.target.kind}/${c.target.name}`)).toEqual([
      'delete TrafficTarget/tt',
      'delete HTTPRouteGroup/routes',
      'delete Egress/osm-onboarding-api-server',
    ]);
    expect((first.before as { metadata: { name: string } }[]).map((o) => o.metadata.name)).toEqual([
      'tt',
      'routes',
      'osm-onboarding-api-server',
    ]);
    expect(writes().map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual([
      'delete traffictargets 200',
      'delete httproutegroups 200',
      'delete egresses 200',
    ]);
    // one list per kind, with the ownership selector
    expect(
      emulator.requests
        .all()
        .filter((r) => r.verb === 'list')
        .map((r) => r.resource)
        .sort(),
    ).toEqual(['egresses', 'httproutegroups', 'tcproutes', 'trafficsplits', 'traffictargets']);
    expect(names('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'team-x')).toEqual(['theirs']);
    expect(names('policy.openservicemesh.io/v1alpha1', 'Egress', 'team-x')).toEqual(['theirs']);
    expect(names('access.smi-spec.io/v1alpha3', 'TrafficTarget', 'team-x')).toEqual([]);
    expect(names('specs.smi-spec.io/v1alpha4', 'TCPRoute', 'team-y')).toEqual(['mine-elsewhere']);

    emulator.requests.clear();
    const second = await applyStep(cleanup, ctx);
    expect(second.result).toBe('UNCHANGED');
    expect(writes()).toEqual([]);
  });
  it('deletes only the version it planned: one re-created by someone meanwhile stays (409, re-planned)', async () => {
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-r' } });
    const route = (labels: Record<string, string>) => ({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'TCPRoute',
      metadata: { name: 'db', namespace: 'team-r', labels },
      spec: { matches: { ports: [5432] } },
    });
    const ref = { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', namespace: 'team-r', name: 'db' };
    emulator.store.create(route({ 'app.kubernetes.io/managed-by': 'osm-onboarding' }));
    const ctx = await stepContext(emulator, {
      namespace: 'team-r',
      kind: 'OFFBOARD',
      options: offboardingOptions({ namespace: 'team-r', deleteOwnedPolicies: true }),
    });
    const plan = await cleanup.plan(ctx);
    expect(plan.changes.map((c) => `${c.action} ${c.target.kind}/${c.target.name}`)).toEqual(['delete TCPRoute/db']);
    // Someone deletes ours and creates their own under the same name before the delete is sent.
    emulator.store.delete(ref);
    emulator.store.create(route({ team: 'someone-else' }));

    const failed = await cleanup.execute(ctx, plan).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toMatchObject({ reason: 'CONFLICT' });
    expect(emulator.store.get(ref)?.metadata?.labels).toEqual({ team: 'someone-else' });
    expect((await cleanup.plan(ctx)).changes).toEqual([]);
  });
});
