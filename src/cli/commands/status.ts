// `status`: one request with its steps (or followed to its end), or the list of requests with filters.
import { Option, type Command } from 'commander';
import { call, printJson, type Ctx, type Opts, type Runner } from '../context.js';
import { CliError, EXIT } from '../errors.js';
import { positiveInt } from '../options.js';
import { current, finish, follow } from '../output.js';
import { requestDetails, table } from '../render.js';

async function status(ctx: Ctx, id: string | undefined, o: Opts): Promise<number> {
  if (id) {
    const r = await current(ctx, id);
    if (o.follow) return finish(ctx, await follow(ctx, [r], o.timeout), true);
    if (ctx.json) printJson(ctx, r);
    else ctx.io.stdout.write(requestDetails(r, ctx.st));
    return EXIT.OK;
  }
  if (o.follow) throw new CliError('--follow needs a request id', EXIT.USAGE);
  const filters: Record<string, unknown> = {
    cluster: ctx.g.cluster,
    meshName: ctx.g.mesh,
    namespace: o.namespace,
    status: o.status,
    kind: o.kind,
    requestedBy: o.requestedBy,
    limit: o.limit,
    after: o.after,
  };
  const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined && v !== ''));
  const page = await call(ctx.client.api.GET('/v1/onboardings', { params: { query } }));
  if (ctx.json) {
    printJson(ctx, page);
    return EXIT.OK;
  }
  const rows = page.items.map((r) => [
    r.id,
    r.kind,
    `${r.cluster}/${r.namespace}`,
    r.status,
    String(r.attempt),
    r.createdAt,
    r.errorCode ?? '',
  ]);
  ctx.io.stdout.write(table([['ID', 'KIND', 'TARGET', 'STATUS', 'ATTEMPT', 'CREATED', 'ERROR'], ...rows], ctx.st));
  if (!page.items.length) ctx.io.stderr.write('no requests\n');
  if (page.pageInfo.hasNextPage)
    ctx.io.stderr.write(`more: osm-onboarding status --after ${page.pageInfo.endCursor}\n`);
  return EXIT.OK;
}

export function registerStatusCommand(program: Command, run: Runner): void {
  program
    .command('status')
    .argument('[id]', 'a request id; without it, the list of requests')
    .description('show a request (its steps), or list requests')
    .option('--follow', 'follow the request until it ends (exit 1 unless it SUCCEEDED)')
    .option('--timeout <seconds>', 'with --follow: give up after this long', positiveInt('--timeout'))
    .option('--namespace <ns>', 'list: only this namespace')
    .addOption(
      new Option('--status <status>', 'list: only this status').choices([
        'PLANNED',
        'PENDING_APPROVAL',
        'QUEUED',
        'RUNNING',
        'SUCCEEDED',
        'FAILED',
        'CANCELLED',
        'REJECTED',
      ]),
    )
    .addOption(new Option('--kind <kind>', 'list: only onboardings or offboardings').choices(['ONBOARD', 'OFFBOARD']))
    .option('--requested-by <actor>', 'list: only requests of this actor (e.g. token:ci)')
    .option('--limit <n>', 'list: page size (default 20, at most 200)', positiveInt('--limit'))
    .option('--after <cursor>', 'list: the next page after this cursor')
    .action(run((ctx, id: string | undefined, o: Opts) => status(ctx, id, o)));
}
