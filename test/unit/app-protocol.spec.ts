import { describe, expect, it } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import { DomainError } from '../../src/common/domain-error.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../src/mesh/mesh-discovery.service.js';
import { onboardingOptions, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import { classify } from '../../src/onboarding/request-runner.service.js';
import { AppProtocolStep } from '../../src/onboarding/steps/app-protocol.step.js';
import { applyStep, type StepContext } from '../../src/onboarding/steps/step.js';

const NS = 'bookstore';

function svc(name: string, ports: NonNullable<V1Service['spec']>['ports'], resourceVersion = '10'): V1Service {
  return { metadata: { name, namespace: NS, resourceVersion }, spec: { selector: { app: name }, ports } };
}

interface FakeOptions {
  services: V1Service[];
  patch?: (name: string, body: unknown) => V1Service;
  current?: (name: string) => V1Service | undefined;
}

function ctx(f: FakeOptions, appProtocols: RequestOptions['appProtocols'] = []) {
  const calls: { verb: string; name?: string; body?: unknown; type?: string }[] = [];
  const kube = {
    listServices: async () => {
      calls.push({ verb: 'list' });
      return { items: structuredClone(f.services) };
    },
    patchService: async (_ns: string, name: string, body: unknown, type: string) => {
      calls.push({ verb: 'patch', name, body, type });
      return f.patch ? f.patch(name, body) : structuredClone(f.services.find((s) => s.metadata?.name === name)!);
    },
    getService: async (_ns: string, name: string) => {
      calls.push({ verb: 'get', name });
      const s = f.current ? f.current(name) : f.services.find((x) => x.metadata?.name === name);
      if (!s) throw new KubeError('NOT_FOUND', `services "${name}" not found`, 404);
      return s;
    },
  } as unknown as ClusterClient;
  const context: StepContext = {
    kube,
    mesh: {} as MeshDiscoveryService,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    request: {
      id: 'r',
      kind: 'ONBOARD',
      cluster: 'c',
      namespace: NS,
      meshName: 'osm',
      createdAt: new Date(),
      options: { ...onboardingOptions({ namespace: NS }), appProtocols },
    },
  };
  return { context, calls };
}

const step = new AppProtocolStep();

describe('app-protocol step: plan', () => {
  const services = [
    svc('bookstore', [
      { name: 'http-web', port: 14001 },
      { name: 'metrics', port: 9000, appProtocol: 'http' },
    ]),
    svc('mysql', [{ name: 'mysql', port: 3306 }], '20'),
    svc('grpc', [{ name: 'api', port: 9090, appProtocol: 'gRPC' }, { port: 9091 }], '30'),
  ];

  it(
    "reports every port's effective protocol and the wrong guesses, without changes when nothing is " + 'requested',
    async () => {
      const { context, calls } = ctx({ services });
      const p = await step.plan(context);
      expect(p.changes).toEqual([]);
      expect(p.facts!.ports).toEqual([
        {
          service: 'bookstore',
          port: 14001,
          name: 'http-web',
          appProtocol: null,
          effective: 'http',
          source: 'name-prefix',
        },
        {
          service: 'bookstore',
          port: 9000,
          name: 'metrics',
          appProtocol: 'http',
          effective: 'http',
          source: 'appProtocol',
        },
        { service: 'mysql', port: 3306, name: 'mysql', appProtocol: null, effective: 'http', source: 'default' },
        { service: 'grpc', port: 9090, name: 'api', appProtocol: 'gRPC', effective: 'gRPC', source: 'appProtocol' },
        { service: 'grpc', port: 9091, name: null, appProtocol: null, effective: 'http', source: 'default' },
      ]);
      expect(p.diagnostics).toEqual([
        expect.objectContaining({
          code: 'OSM_PROTOCOL_GUESS',
          level: 'warning',
          object: 'Service/mysql:3306',
          hint: expect.stringMatching(/"tcp-server-first"/),
        }),
        expect.objectContaining({
          code: 'OSM_APP_PROTOCOL_UNSUPPORTED',
          level: 'warning',
          object: 'Service/grpc:9090',
          hint: expect.stringMatching(/"grpc"/),
        }),
      ]);
      expect(calls).toEqual([{ verb: 'list' }]);
    },
  );

  it(
    'plans one guarded JSON patch per Service: test resourceVersion, then add/replace at the observed ' + 'index',
    async () => {
      const { context } = ctx({ services }, [
        { service: 'mysql', port: 'mysql', appProtocol: 'tcp-server-first' },
        { service: 'grpc', port: 'api', appProtocol: 'grpc' },
        { service: 'bookstore', port: 'metrics', appProtocol: 'http' }, // already set
      ]);
      const p = await step.plan(context);
      expect(p.changes).toEqual([
        {
          action: 'patch',
          target: { apiVersion: 'v1', kind: 'Service', namespace: NS, name: 'grpc' },
          patchType: 'json',
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: '30' },
            { op: 'replace', path: '/spec/ports/0/appProtocol', value: 'grpc' },
          ],
        },
        {
          action: 'patch',
          target: { apiVersion: 'v1', kind: 'Service', namespace: NS, name: 'mysql' },
          patchType: 'json',
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: '20' },
            { op: 'add', path: '/spec/ports/0/appProtocol', value: 'tcp-server-first' },
          ],
        },
      ]);
      expect(p.before).toEqual([
        {
          service: 'grpc',
          resourceVersion: '30',
          ports: [
            { name: 'api', port: 9090, appProtocol: 'gRPC' },
            { name: null, port: 9091, appProtocol: null },
          ],
        },
        { service: 'mysql', resourceVersion: '20', ports: [{ name: 'mysql', port: 3306, appProtocol: null }] },
      ]);
      // the diagnostics describe the state after the step: both fixed ports are no longer flagged
      expect(p.diagnostics).toEqual([]);
      expect((p.facts!.ports as { requested?: string }[]).filter((x) => x.requested).map((x) => x.requested)).toEqual([
        'tcp-server-first',
        'grpc',
      ]);
      expect(p.summary).toMatch(/2 port\(s\) of 2 service\(s\)/);
    },
  );

  it('puts several ports of one Service into one patch, in index order', async () => {
    const { context } = ctx(
      {
        services: [
          svc('multi', [
            { name: 'a', port: 1 },
            { name: 'b', port: 2, appProtocol: 'http' },
            { name: 'c', port: 3 },
          ]),
        ],
      },
      [
        { service: 'multi', port: 'c', appProtocol: 'tcp' },
        { service: 'multi', port: 'b', appProtocol: 'grpc' },
      ],
    );
    const p = await step.plan(context);
    expect(p.changes).toHaveLength(1);
    expect(p.changes[0].body).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '10' },
      { op: 'replace', path: '/spec/ports/1/appProtocol', value: 'grpc' },
      { op: 'add', path: '/spec/ports/2/appProtocol', value: 'tcp' },
    ]);
  });

  it('is unchanged when every requested appProtocol already matches (exact case)', async () => {
    const { context } = ctx({ services: [svc('db', [{ name: 'tcp-db', port: 5432, appProtocol: 'tcp' }])] }, [
      { service: 'db', port: 'tcp-db', appProtocol: 'tcp' },
    ]);
    const out = await applyStep(step, context);
    expect(out.result).toBe('UNCHANGED');
    expect(out.summary).toMatch(/already set/);
  });

  it('fails with SERVICE_PORT_NOT_FOUND for a missing Service, port name or port number', async () => {
    const missingSvc = await step
      .plan(ctx({ services }, [{ service: 'nope', port: 'x', appProtocol: 'tcp' }]).context)
      .catch((e) => e);
    expect(missingSvc).toBeInstanceOf(DomainError);
    expect(missingSvc).toMatchObject({
      code: 'SERVICE_PORT_NOT_FOUND',
      fields: [{ field: 'appProtocols', message: expect.stringMatching(/Service nope not found/) }],
    });

    const missingPort = await step
      .plan(ctx({ services }, [{ service: 'bookstore', port: 'grpc', appProtocol: 'grpc' }]).context)
      .catch((e) => e);
    const hint = 'its ports: http-web (14001), metrics (9000)';
    expect(missingPort).toMatchObject({ code: 'SERVICE_PORT_NOT_FOUND', options: { field: 'appProtocols', hint } });

    // A string is a name, even when it is made of digits; the hint says how to send a number.
    const planFor = (port: string | number) =>
      step.plan(ctx({ services }, [{ service: 'grpc', port, appProtocol: 'tcp' }]).context).catch((e) => e);
    const digits = await planFor('9091');
    expect(digits.message).toBe('Service grpc in bookstore has no port named "9091"');
    expect(digits.options.hint).toBe(
      'its ports: api (9090), 9091; to select a port by number, send a number: port: 9091',
    );
    const noNumber = await planFor(80);
    expect(noNumber).toMatchObject({
      code: 'SERVICE_PORT_NOT_FOUND',
      message: 'Service grpc in bookstore has no port 80',
    });
  });

  it('selects a port by number: a Service with one unnamed port can be fixed', async () => {
    const unnamed = [svc('legacy', [{ port: 6379, targetPort: 6379 }], '40')];
    const { context } = ctx({ services: unnamed }, [{ service: 'legacy', port: 6379, appProtocol: 'tcp' }]);
    const p = await step.plan(context);
    expect(p.changes).toEqual([
      {
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Service', namespace: NS, name: 'legacy' },
        patchType: 'json',
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: '40' },
          { op: 'add', path: '/spec/ports/0/appProtocol', value: 'tcp' },
        ],
      },
    ]);
    expect(p.summary).toBe('set appProtocol on 1 port(s) of 1 service(s): legacy:6379 (http) → tcp');
    expect(p.facts!.ports).toEqual([
      {
        service: 'legacy',
        port: 6379,
        name: null,
        appProtocol: null,
        effective: 'http',
        source: 'default',
        requested: 'tcp',
      },
    ]);
    expect(p.diagnostics).toEqual([]); // the guess it fixes is gone
    // Unrequested, the same port is flagged with a hint that selects it by number.
    const flagged = await step.plan(ctx({ services: unnamed }).context);
    expect(flagged.diagnostics).toEqual([
      expect.objectContaining({
        code: 'OSM_PROTOCOL_GUESS',
        hint: 'set appProtocol "tcp" on it: appProtocols: [{ service: "legacy", port: 6379, appProtocol: "tcp" }]',
      }),
    ]);
  });

  it('a number shared by TCP and UDP ports means the TCP one; only UDP is not found', async () => {
    const dns = [
      svc('dns', [
        { name: 'dns-udp', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ]),
    ];
    const p = await step.plan(ctx({ services: dns }, [{ service: 'dns', port: 53, appProtocol: 'tcp' }]).context);
    expect((p.changes[0].body as { path: string }[])[1].path).toBe('/spec/ports/1/appProtocol');
    const udpOnly = [svc('dns', [{ name: 'dns', port: 53, protocol: 'UDP' }])];
    const request = [{ service: 'dns', port: 53, appProtocol: 'tcp' as const }];
    const err = await step.plan(ctx({ services: udpOnly }, request).context).catch((e) => e);
    expect(err).toMatchObject({
      code: 'SERVICE_PORT_NOT_FOUND',
      message: 'Service dns in bookstore has no TCP port 53',
    });
    expect(err.options.hint).toBe('osm-edge intercepts TCP only; its ports: dns (53/UDP)');
  });

  it('rejects the same port requested twice with different values, by name or by number', async () => {
    await expect(
      step.plan(
        ctx({ services }, [
          { service: 'mysql', port: 'mysql', appProtocol: 'tcp' },
          { service: 'mysql', port: 'mysql', appProtocol: 'tcp-server-first' },
        ]).context,
      ),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const both = [
      { service: 'mysql', port: 'mysql', appProtocol: 'tcp' as const },
      { service: 'mysql', port: 3306, appProtocol: 'tcp-server-first' as const },
    ];
    await expect(step.plan(ctx({ services }, both).context)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'appProtocols: port "mysql" of Service mysql is given twice ("mysql": tcp, 3306: tcp-server-first)',
    });
    const same = await step.plan(ctx({ services }, [both[0], { ...both[1], appProtocol: 'tcp' }]).context);
    expect(same.changes[0].body).toHaveLength(2);
    const p = await step.plan(
      ctx({ services }, [
        { service: 'mysql', port: 'mysql', appProtocol: 'tcp' },
        { service: 'mysql', port: 'mysql', appProtocol: 'tcp' },
      ]).context,
    );
    expect(p.changes[0].body).toHaveLength(2);
  });
});

describe('app-protocol step: execute', () => {
  it("sends exactly the planned JSON patches and returns the ports' appProtocols", async () => {
    const services = [svc('mysql', [{ name: 'mysql', port: 3306 }], '20')];
    const { context, calls } = ctx(
      { services, patch: (name) => svc(name, [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }], '21') },
      [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp-server-first' }],
    );
    const out = await applyStep(step, context);
    expect(out.result).toBe('CHANGED');
    expect(calls).toEqual([
      { verb: 'list' },
      { verb: 'patch', name: 'mysql', type: 'json', body: out.changes[0].body },
    ]);
    expect(out.after).toEqual([
      {
        service: 'mysql',
        resourceVersion: '21',
        ports: [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }],
      },
    ]);
  });

  it('turns a failed test (422) into a CONFLICT when the Service moved on, so the runner re-plans', async () => {
    const services = [svc('mysql', [{ name: 'mysql', port: 3306 }], '20')];
    const { context, calls } = ctx(
      {
        services,
        patch: () => {
          throw new KubeError(
            'INVALID',
            'patch service bookstore/mysql: the server rejected our request due to an error in our request',
            422,
          );
        },
        current: (name) =>
          svc(
            name,
            [
              { name: 'other', port: 1 },
              { name: 'mysql', port: 3306 },
            ],
            '22',
          ),
      },
      [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp' }],
    );
    const err = await applyStep(step, context).catch((e) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ reason: 'CONFLICT', status: 409 });
    expect(classify(err)).toMatchObject({ retryable: true, code: 'KUBE_CONFLICT' });
    expect(calls.map((c) => c.verb)).toEqual(['list', 'patch', 'get']);
  });

  it('treats a deleted Service as a conflict too (the re-plan then reports SERVICE_PORT_NOT_FOUND)', async () => {
    const { context } = ctx(
      {
        services: [svc('mysql', [{ name: 'mysql', port: 3306 }], '20')],
        patch: () => {
          throw new KubeError('INVALID', 'x', 422);
        },
        current: () => undefined,
      },
      [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp' }],
    );
    await expect(applyStep(step, context)).rejects.toMatchObject({ reason: 'CONFLICT' });
  });

  it(
    'keeps a 422 with an unchanged resourceVersion as INVALID (a real rejection), and passes other errors ' + 'through',
    async () => {
      const services = [svc('mysql', [{ name: 'mysql', port: 3306 }], '20')];
      const invalid = ctx(
        {
          services,
          patch: () => {
            throw new KubeError('INVALID', 'spec.ports[0].appProtocol: Invalid value', 422);
          },
        },
        [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp' }],
      );
      await expect(applyStep(step, invalid.context)).rejects.toMatchObject({ reason: 'INVALID' });

      const forbidden = ctx(
        {
          services,
          patch: () => {
            throw new KubeError('FORBIDDEN', 'nope', 403);
          },
        },
        [{ service: 'mysql', port: 'mysql', appProtocol: 'tcp' }],
      );
      await expect(applyStep(step, forbidden.context)).rejects.toMatchObject({ reason: 'FORBIDDEN' });
      expect(forbidden.calls.map((c) => c.verb)).toEqual(['list', 'patch']);
    },
  );
});
