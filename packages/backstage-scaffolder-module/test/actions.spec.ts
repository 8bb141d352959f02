// The scaffolder actions as Backstage runs them (createMockActionContext from Backstage's scaffolder test utils)
// against a REAL osm-onboarding service and the Kubernetes API emulator: a task onboards a namespace end to end with
// its progress in the task log; a retried task finds its request instead of creating a second one; a cancelled task
// cancels its request; a blocked plan submits nothing; the module registers the three actions.
import type { LoggerService } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { scaffolderActionsExtensionPoint, type TemplateAction } from '@backstage/plugin-scaffolder-node';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedAppNamespace } from '../../../test/support/emulator/seed.js';
import {
  ADMIN_TOKEN,
  http,
  readSse,
  startStack,
  uniqueName,
  waitForStatus,
  type Stack,
} from '../../../test/support/harness.js';
import { namespaceMeta } from '../../../test/support/kube.js';
import osmModule, { createOsmOnboardingActions, readOsmOnboardingConfig } from '../src/index.js';

const MONITORED = 'openservicemesh.io/monitored-by';

/** A task log: what the action wrote through ctx.logger, one line per call. */
function taskLog() {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string): void =>
      void lines.push(`${level} ${message}`);
  const logger: LoggerService = {
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    child: () => logger,
  };
  return { lines, logger };
}

describe('the osm:namespace:* scaffolder actions against a running service', () => {
  let s: Stack;
  let actions: Map<string, TemplateAction<any, any, any>>;

  beforeAll(async () => {
    s = await startStack({
      env: { APPROVAL_POLICY: JSON.stringify({ rules: [{ name: 'gate', namespaces: ['bs-gated-*'], approvals: 1 }] }) },
    });
    const config = mockServices.rootConfig({ data: { osmOnboarding: { baseUrl: s.url, token: ADMIN_TOKEN } } });
    actions = new Map(createOsmOnboardingActions(readOsmOnboardingConfig(config)).map((a) => [a.id, a]));
  });
  afterAll(() => s?.close());

  function context(input: Record<string, string>, taskId: string, signal?: AbortSignal) {
    const log = taskLog();
    const out: Record<string, any> = {};
    const ctx = createMockActionContext({ input, logger: log.logger, task: { id: taskId } });
    // createMockActionContext takes no signal or step (the scaffolder's task context has both); outputs are kept.
    const output = (name: string, value: unknown) => void (out[name] = value);
    return { ctx: { ...ctx, signal, step: { id: 'onboard', name: 'Onboard' }, output }, log, out };
  }

  it('onboards a namespace end to end: the plan and every progress event in the task log', async () => {
    const ns = uniqueName('bs-ok');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const { ctx, log, out } = context({ namespace: ns, restart: 'all' }, uniqueName('task'));

    await actions.get('osm:namespace:onboard')!.handler(ctx);

    expect(out.status).toBe('SUCCEEDED');
    expect(out.link).toBe(`${s.url}/v1/onboardings/${out.requestId}`);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBe('osm');
    // The plan first, then the submission, then each event the service stored, in order.
    expect(log.lines[0]).toBe(`info plan: onboard emulator/${ns} (mesh osm)`);
    const accepted = log.lines.findIndex((l) => l.startsWith(`info request ${out.requestId} accepted`));
    expect(accepted).toBeGreaterThan(0);
    expect(log.lines.slice(0, accepted)).toContain(
      `info namespace: add namespace ${ns} to mesh osm (injection enabled) (1 write)`,
    );
    const stored = await readSse(s.url, `/v1/onboardings/${out.requestId}/events`);
    const expected = stored.events.map(({ data: e }) => `info ${e.type}${e.step ? ` ${e.step}` : ''}: ${e.message}`);
    expect(expected.length).toBeGreaterThan(8);
    expect(log.lines.slice(accepted + 1)).toEqual(expected);
  });

  it('a retried task (same task id) finds its request again instead of creating a second one', async () => {
    const ns = uniqueName('bs-retry');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const task = uniqueName('task');
    const first = context({ namespace: ns }, task);
    await actions.get('osm:namespace:onboard')!.handler(first.ctx);
    const again = context({ namespace: ns }, task);
    await actions.get('osm:namespace:onboard')!.handler(again.ctx);

    const id = first.out.requestId;
    expect(again.out).toMatchObject({
      requestId: id,
      status: 'SUCCEEDED',
    });
    expect(again.log.lines).toContain(
      `info request ${id} found again (a retried task): SUCCEEDED ${s.url}/v1/onboardings/${id}`,
    );
    const { body: page } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(page.items.map((r: { id: string }) => r.id)).toEqual([id]);

    // Another task is another key: a second request (what the key prevents for a retry).
    const other = context({ namespace: ns }, uniqueName('task'));
    await actions.get('osm:namespace:onboard')!.handler(other.ctx);
    const { body: after } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(after.items).toHaveLength(2);
  });

  it('cancelling the task cancels the request (held for approval here) and fails the task', async () => {
    const ns = uniqueName('bs-gated');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const abort = new AbortController();
    const { ctx, log, out } = context({ namespace: ns }, uniqueName('task'), abort.signal);
    const running = actions.get('osm:namespace:onboard')!.handler(ctx);
    const outcome = running.then(
      () => 'succeeded',
      (err: Error) => err.message,
    );
    await vi.waitFor(
      () => expect(log.lines.some((l) => l.startsWith('info request.held') || l.includes('approval'))).toBe(true),
      {
        timeout: 15_000,
      },
    );
    const id = out.requestId;
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body.status).toBe('PENDING_APPROVAL');
    abort.abort();

    expect(await outcome).toBe(`request ${id} cancelled with the task`);
    expect(log.lines).toContain(`warn the task was cancelled: cancelling request ${id}`);
    expect(log.lines.at(-1)).toMatch(/^info request\.cancelled: /);
    await waitForStatus(s.url, id, ['CANCELLED']);
    expect((await namespaceMeta(s.emulator, ns)).labels[MONITORED]).toBeUndefined();
  });

  it('a blocked plan submits nothing; osm:namespace:plan reports it', async () => {
    const ns = uniqueName('bs-uid');
    seedAppNamespace(s.emulator.store, ns);
    s.emulator.store.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' }, 'merge', {
      spec: { template: { spec: { securityContext: { runAsUser: 1500 } } } },
    });
    await s.emulator.idle();

    const planned = context({ namespace: ns }, uniqueName('task'));
    await actions.get('osm:namespace:plan')!.handler(planned.ctx);
    const out = planned.out;
    expect(out.blocked).toBe(true);
    expect(out.diagnostics).toContainEqual(expect.objectContaining({ code: 'OSM_RESERVED_UID', level: 'error' }));

    const { ctx, log } = context({ namespace: ns }, uniqueName('task'));
    await expect(actions.get('osm:namespace:onboard')!.handler(ctx)).rejects.toThrow(/plan of emulator\/.* is blocked/);
    expect(log.lines.some((l) => l.startsWith('error prerequisites: error OSM_RESERVED_UID'))).toBe(true);
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
  });

  it('the backend module registers the three actions with the scaffolder, configured from app-config', async () => {
    const addActions = vi.fn();
    const backend = await startTestBackend({
      extensionPoints: [[scaffolderActionsExtensionPoint, { addActions }]],
      features: [
        osmModule,
        mockServices.rootConfig.factory({ data: { osmOnboarding: { baseUrl: s.url, token: ADMIN_TOKEN } } }),
      ],
    });
    try {
      const ids = addActions.mock.calls.flat().map((a: TemplateAction) => a.id);
      expect(ids).toEqual(['osm:namespace:onboard', 'osm:namespace:offboard', 'osm:namespace:plan']);
    } finally {
      await backend.stop();
    }
  });
});
