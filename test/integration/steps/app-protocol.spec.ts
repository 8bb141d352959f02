import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/common/domain-error.js';
import { KubeError } from '../../../src/kubernetes/kube-error.js';
import { AppProtocolStep } from '../../../src/onboarding/steps/app-protocol.step.js';
import { applyStep } from '../../../src/onboarding/steps/step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { kubeClients } from '../../support/kube.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const step = new AppProtocolStep();

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

const readService = (namespace: string, name: string) =>
  kubeClients(emulator).core.readNamespacedService({ namespace, name });

describe('app-protocol step against the emulator', () => {
  it('sets appProtocol on the seeded mysql port with a guarded JSON patch, then is unchanged', async () => {
    const before = await readService('mysql', 'mysql');
    expect(before.spec!.ports![0].appProtocol).toBeUndefined();
    const ctx = await stepContext(emulator, {
      namespace: 'mysql',
      options: { appProtocols: [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp-server-first' }] },
    });

    const first = await applyStep(step, ctx);
    expect(first.result).toBe('CHANGED');
    expect(first.changes).toEqual([
      {
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Service', namespace: 'mysql', name: 'mysql' },
        patchType: 'json',
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: before.metadata!.resourceVersion },
          { op: 'add', path: '/spec/ports/0/appProtocol', value: 'tcp-server-first' },
        ],
      },
    ]);
    expect(first.facts!.ports).toEqual([
      {
        service: 'mysql',
        port: 3306,
        name: 'mysql',
        appProtocol: null,
        effective: 'http',
        source: 'default',
        requested: 'tcp-server-first',
      },
    ]);
    expect(first.diagnostics).toEqual([]); // the wrong guess is what this step fixes

    const after = await readService('mysql', 'mysql');
    expect(after.spec!.ports![0]).toMatchObject({ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' });
    expect(after.metadata!.resourceVersion).not.toBe(before.metadata!.resourceVersion);
    expect(first.after).toEqual([
      {
        service: 'mysql',
        resourceVersion: after.metadata!.resourceVersion,
        ports: [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }],
      },
    ]);

    emulator.requests.clear();
    const second = await applyStep(step, ctx);
    expect(second.result).toBe('UNCHANGED');
    expect(second.changes).toEqual([]);
    expect(second.facts!.ports).toEqual([
      {
        service: 'mysql',
        port: 3306,
        name: 'mysql',
        appProtocol: 'tcp-server-first',
        effective: 'tcp-server-first',
        source: 'appProtocol',
      },
    ]);
    expect(emulator.requests.all().map((r) => `${r.verb} ${r.resource}`)).toEqual(['list services']); // no write
    expect((await readService('mysql', 'mysql')).metadata!.resourceVersion).toBe(after.metadata!.resourceVersion);
  });

  it('replaces an existing appProtocol and reports the protocol of every port, with the wrong guesses', async () => {
    const { core } = kubeClients(emulator);
    await core.createNamespace({ body: { metadata: { name: 'proto' } } });
    await core.createNamespacedService({
      namespace: 'proto',
      body: {
        metadata: { name: 'api' },
        spec: {
          selector: { app: 'api' },
          ports: [
            { name: 'http-web', port: 80 },
            { name: 'grpc', port: 9090, appProtocol: 'gRPC' },
            { name: 'redis', port: 6379 },
          ],
        },
      },
    });
    const ctx = await stepContext(emulator, {
      namespace: 'proto',
      options: { appProtocols: [{ service: 'api', port: 'grpc', appProtocol: 'grpc' }] },
    });
    const plan = await step.plan(ctx);
    expect(plan.facts!.ports).toEqual([
      { service: 'api', port: 80, name: 'http-web', appProtocol: null, effective: 'http', source: 'name-prefix' },
      {
        service: 'api',
        port: 9090,
        name: 'grpc',
        appProtocol: 'gRPC',
        effective: 'gRPC',
        source: 'appProtocol',
        requested: 'grpc',
      },
      { service: 'api', port: 6379, name: 'redis', appProtocol: null, effective: 'http', source: 'default' },
    ]);
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({
        code: 'OSM_PROTOCOL_GUESS',
        object: 'Service/api:6379',
        hint: expect.stringMatching(/"tcp"/),
      }),
    ]);
    expect((plan.changes[0].body as { op: string; path: string }[])[1]).toEqual({
      op: 'replace',
      path: '/spec/ports/1/appProtocol',
      value: 'grpc',
    });

    const outcome = await applyStep(step, ctx);
    expect(outcome.result).toBe('CHANGED');
    expect((await readService('proto', 'api')).spec!.ports!.map((p) => p.appProtocol ?? null)).toEqual([
      null,
      'grpc',
      null,
    ]);
  });

  it(
    'never writes the wrong port when the ports list changed after the plan: the test op fails and it is a ' +
      'CONFLICT; a re-run fixes the right port',
    async () => {
      const { core } = kubeClients(emulator);
      await core.createNamespace({ body: { metadata: { name: 'race' } } });
      await core.createNamespacedService({
        namespace: 'race',
        body: {
          metadata: { name: 'db' },
          spec: {
            selector: { app: 'db' },
            ports: [
              { name: 'http', port: 80 },
              { name: 'mysql', port: 3306 },
            ],
          },
        },
      });
      const ctx = await stepContext(emulator, {
        namespace: 'race',
        options: { appProtocols: [{ service: 'db', port: 'mysql', appProtocol: 'tcp-server-first' }] },
      });
      const plan = await step.plan(ctx);
      expect((plan.changes[0].body as { path: string }[])[1].path).toBe('/spec/ports/1/appProtocol');

      // Someone removes the first port between plan and execute: index 1 no longer is "mysql".
      emulator.store.patch({ apiVersion: 'v1', kind: 'Service', namespace: 'race', name: 'db' }, 'json', [
        { op: 'remove', path: '/spec/ports/0' },
      ]);
      const err = await step.execute(ctx, plan).catch((e) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect(err.reason).toBe('CONFLICT');
      expect((await readService('race', 'db')).spec!.ports!.map((p) => [p.name, p.appProtocol ?? null])).toEqual([
        ['mysql', null],
      ]);

      // What the runner does on CONFLICT: plan + execute again.
      const retry = await applyStep(step, ctx);
      expect(retry.result).toBe('CHANGED');
      expect((retry.changes[0].body as { path: string }[])[1].path).toBe('/spec/ports/0/appProtocol');
      expect((await readService('race', 'db')).spec!.ports!.map((p) => [p.name, p.appProtocol ?? null])).toEqual([
        ['mysql', 'tcp-server-first'],
      ]);
    },
  );

  it('fails with SERVICE_PORT_NOT_FOUND for an unknown Service or port name', async () => {
    for (const entry of [
      { service: 'bookstore', port: 'http', appProtocol: 'http' as const },
      { service: 'mysql', port: 'sql', appProtocol: 'tcp' as const },
    ]) {
      const ctx = await stepContext(emulator, { namespace: 'mysql', options: { appProtocols: [entry] } });
      const err = await applyStep(step, ctx).catch((e) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code: 'SERVICE_PORT_NOT_FOUND', options: { field: 'appProtocols' } });
    }
  });
});
