// `onboard`, `offboard` and `plan`: create requests (one per namespace, followed to their end by default) or show
// the dry run of one.
import type { Command } from 'commander';
import { TERMINAL_STATUSES, type Schemas } from '@osm-onboarding/client';
import { callWithResponse, call, printJson, type Ctx, type Opts, type Request, type Runner } from '../context.js';
import { CliError, EXIT } from '../errors.js';
import {
  addCreateOptions,
  addOffboardOptions,
  addOnboardOptions,
  addRestartOptions,
  addWaitOptions,
  offboardBody,
  onboardBody,
} from '../options.js';
import { finish, follow, formatError } from '../output.js';
import { planDetails } from '../render.js';

async function createOne(ctx: Ctx, kind: 'onboard' | 'offboard', body: Record<string, unknown>, key?: string) {
  const params = { header: { 'Idempotency-Key': key } };
  return kind === 'onboard'
    ? callWithResponse(ctx.client.api.POST('/v1/onboardings', { body: body as Schemas['OnboardingInput'], params }))
    : callWithResponse(ctx.client.api.POST('/v1/offboardings', { body: body as Schemas['OffboardingInput'], params }));
}

async function create(ctx: Ctx, kind: 'onboard' | 'offboard', namespaces: string[], o: Opts): Promise<number> {
  const created: Request[] = [];
  let failure: CliError | undefined;
  for (const ns of namespaces) {
    const body = kind === 'onboard' ? onboardBody(ns, o, ctx.g) : offboardBody(ns, o, ctx.g);
    const key = o.idempotencyKey ? (namespaces.length > 1 ? `${o.idempotencyKey}-${ns}` : o.idempotencyKey) : undefined;
    try {
      const { data, response } = await createOne(ctx, kind, body, key);
      created.push(data.request);
      if (!ctx.json && (!ctx.tty || o.wait === false || o.dryRun)) {
        const replay = response.headers.get('idempotent-replayed') === 'true' ? ' (idempotent replay)' : '';
        ctx.io.stderr.write(`${ns}: request ${data.request.id} accepted, ${data.request.status}${replay}\n`);
      }
    } catch (err) {
      // Credentials and connectivity are the same for every namespace: stop at once.
      if (
        !(err instanceof CliError) ||
        err.exitCode === EXIT.AUTH ||
        err.exitCode === EXIT.UNREACHABLE ||
        namespaces.length === 1
      )
        throw err;
      ctx.io.stderr.write(`${ns}: ` + formatError(err, ctx.est));
      failure ??= err;
    }
  }
  const wait =
    o.wait !== false && !o.dryRun && created.some((r) => !['PLANNED', ...TERMINAL_STATUSES].includes(r.status));
  const finals = wait ? await follow(ctx, created, o.timeout) : created;
  if (o.dryRun && !ctx.json) {
    for (const r of finals)
      ctx.io.stderr.write(`${r.namespace}: stored as PLANNED; run it with: osm-onboarding apply ${r.id}\n`);
  }
  const code = finish(ctx, finals, wait);
  return failure ? Math.max(code, failure.exitCode) : code;
}

async function plan(ctx: Ctx, namespace: string, o: Opts): Promise<number> {
  const body = o.offboard ? offboardBody(namespace, o, ctx.g) : onboardBody(namespace, o, ctx.g);
  delete body.dryRun;
  const p = o.offboard
    ? await call(ctx.client.api.POST('/v1/offboardings/plan', { body: body as Schemas['OffboardingInput'] }))
    : await call(ctx.client.api.POST('/v1/onboardings/plan', { body: body as Schemas['OnboardingInput'] }));
  if (ctx.json) printJson(ctx, p);
  else ctx.io.stdout.write(planDetails(p, ctx.st));
  return p.blocked ? EXIT.FAILED : EXIT.OK;
}

export function registerRequestCommands(program: Command, run: Runner): void {
  addWaitOptions(
    addCreateOptions(
      addRestartOptions(
        addOnboardOptions(
          program.command('onboard').argument('<namespace...>', 'namespaces to onboard (one request each)'),
        ),
        'so pods get their sidecars',
      ),
    ),
    true,
  )
    .description('onboard namespaces into the mesh (osm namespace add), following the progress by default')
    .addHelpText(
      'after',
      '\nA request held for approval is followed until it is decided and done; ' +
        'scripts can add --timeout or --no-wait.\n' +
        '\nExamples:\n  osm-onboarding onboard bookbuyer bookthief --restart all\n' +
        '  osm-onboarding onboard team-a --cluster prod --api-server-access egress --service-account app ' +
        '--no-wait --json',
    )
    .action(run((ctx, namespaces: string[], o: Opts) => create(ctx, 'onboard', namespaces, o)));

  addWaitOptions(
    addCreateOptions(
      addRestartOptions(
        addOffboardOptions(
          program.command('offboard').argument('<namespace...>', 'namespaces to take out of the mesh'),
        ),
        'so pods lose their sidecars',
      ),
    ),
    true,
  )
    .description('take namespaces out of the mesh (osm namespace remove), following the progress by default')
    .action(run((ctx, namespaces: string[], o: Opts) => create(ctx, 'offboard', namespaces, o)));

  addRestartOptions(
    addOffboardOptions(
      addOnboardOptions(
        program
          .command('plan')
          .argument('<namespace>')
          .option('--offboard', 'plan an offboarding instead of an onboarding')
          .option('-f, --file <path>', 'the JSON request body to start from'),
      ),
    ),
    'after labelling (onboard) or to drop the sidecars (offboard)',
  )
    .description(
      'dry run: the exact writes each step would make now, and the diagnostics; ' +
        'nothing is stored (exit 1 when blocked)',
    )
    .action(run((ctx, namespace: string, o: Opts) => plan(ctx, namespace, o)));
}
