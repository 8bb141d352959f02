// The scaffolder actions osm:namespace:onboard, osm:namespace:offboard and osm:namespace:plan. Their zod schemas are
// functions of the `z` Backstage passes in (the zod v3 API that @backstage/plugin-scaffolder-node 0.13 imports from
// `zod/v3`), so the module brings no zod of its own at run time.
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { unwrap } from '@osm-onboarding/client';
import type { z as Zod } from 'zod/v3';
import type { OsmOnboardingConfig } from './config.js';
import { assertSucceeded, clientFor, follow, idempotencyKey, logPlan, plan, submit, type Kind } from './run.js';

type Z = typeof Zod;

/** The inputs every action takes: the target, the restart, and any other field of the REST body. */
const target = {
  namespace: (z: Z) => z.string().describe('The namespace'),
  cluster: (z: Z) => z.string().optional().describe('Cluster (kubeconfig context of the service); default its own'),
  meshName: (z: Z) => z.string().optional().describe('Mesh name; default osm'),
  restart: (z: Z) =>
    z
      .enum(['all', 'needed', 'none', 'selected'])
      .optional()
      .describe('Restart deployments so pods get (or lose) their sidecars; selected needs deployments'),
  deployments: (z: Z) => z.array(z.string()).optional().describe('With restart selected: the deployments'),
  options: (z: Z) =>
    z
      .record(z.string(), z.any())
      .optional()
      .describe('Any other field of the REST body (apiServerAccess, trafficPolicy, appProtocols, metrics, …)'),
};

interface TargetInput {
  namespace: string;
  cluster?: string;
  meshName?: string;
  restart?: string;
  deployments?: string[];
  options?: Record<string, unknown>;
}

/** The REST body: `options` overridden by the named inputs. */
export function bodyOf(input: TargetInput): Record<string, unknown> {
  const restart =
    input.restart || input.deployments
      ? {
          restart: {
            mode: input.restart ?? 'selected',
            ...(input.deployments ? { deployments: input.deployments } : {}),
          },
        }
      : {};
  return {
    ...(input.options ?? {}),
    namespace: input.namespace,
    // Given means sent, even empty: the service refuses an empty name (422) rather than read it as its default, so
    // a template whose parameter came out empty never onboards into the service's own cluster or mesh.
    ...(input.cluster !== undefined ? { cluster: input.cluster } : {}),
    ...(input.meshName !== undefined ? { meshName: input.meshName } : {}),
    ...restart,
  };
}

const requestOutput = {
  requestId: (z: Z) => z.string().describe('The osm-onboarding request id'),
  status: (z: Z) => z.string().describe('Its final status (SUCCEEDED)'),
  link: (z: Z) => z.string().describe('The request in the REST API'),
};

function requestAction(kind: Kind, config: OsmOnboardingConfig) {
  return createTemplateAction({
    id: `osm:namespace:${kind}`,
    description:
      kind === 'onboard'
        ? 'Onboards a namespace into the osm-edge mesh through osm-onboarding: plans, submits, follows to the end'
        : 'Takes a namespace out of the osm-edge mesh through osm-onboarding: plans, submits, follows to the end',
    supportsDryRun: true,
    schema: { input: target, output: requestOutput },
    async handler(ctx) {
      const client = clientFor(config, ctx);
      const body = bodyOf(ctx.input);
      const p = await plan(client, kind, body);
      logPlan(ctx.logger, p);
      if (p.blocked) throw new Error(`the ${kind} plan of ${p.cluster}/${p.namespace} is blocked (see the log)`);
      if (ctx.isDryRun) {
        ctx.logger.info('dry run: the plan only, nothing submitted');
        return;
      }
      let submitted = await submit(client, kind, body, idempotencyKey(ctx, ctx.input));
      const r = submitted.request;
      const how = submitted.replayed ? 'found again (a retried task)' : 'accepted';
      ctx.logger.info(`request ${r.id} ${how}: ${r.status} ${submitted.link}`);
      ctx.output('requestId', r.id);
      ctx.output('link', submitted.link);
      // A retried task that finds its request failed or cancelled retries that request (no second one).
      if (submitted.replayed && (r.status === 'FAILED' || r.status === 'CANCELLED')) {
        const retried = await unwrap(client.api.POST('/v1/onboardings/{id}/retry', { params: { path: { id: r.id } } }));
        ctx.logger.info(`request ${r.id} retried: ${retried.request.status}`);
        submitted = { ...submitted, request: retried.request };
      }
      const final = await follow(client, ctx, submitted, config.timeoutMinutes * 60_000);
      ctx.output('status', final.status);
      assertSucceeded(final, ctx);
    },
  });
}

function planAction(config: OsmOnboardingConfig) {
  return createTemplateAction({
    id: 'osm:namespace:plan',
    description: 'The dry run of an onboarding or offboarding: the writes each step would make and its diagnostics',
    supportsDryRun: true,
    schema: {
      input: { ...target, offboard: (z: Z) => z.boolean().optional().describe('Plan an offboarding instead') },
      output: {
        blocked: (z: Z) => z.boolean().describe('A step would refuse: applying now would fail'),
        writes: (z: Z) => z.number().describe('How many writes the plan makes'),
        diagnostics: (z: Z) =>
          z.array(z.object({ step: z.string(), level: z.string(), code: z.string(), message: z.string() })),
      },
    },
    async handler(ctx) {
      const p = await plan(clientFor(config, ctx), ctx.input.offboard ? 'offboard' : 'onboard', bodyOf(ctx.input));
      logPlan(ctx.logger, p);
      ctx.output('blocked', p.blocked);
      ctx.output(
        'writes',
        p.steps.reduce((n, s) => n + s.changes.length, 0),
      );
      ctx.output(
        'diagnostics',
        p.steps.flatMap((s) =>
          s.diagnostics.map((d) => ({ step: s.name, level: d.level, code: d.code, message: d.message })),
        ),
      );
    },
  });
}

/** The three actions, for `scaffolder.addActions(...)` (the module does this) or a custom registration. */
export function createOsmOnboardingActions(config: OsmOnboardingConfig) {
  return [requestAction('onboard', config), requestAction('offboard', config), planAction(config)] as const;
}
