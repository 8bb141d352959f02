// `approve`, `reject`, `cancel`, `retry` and `apply`: one call on an existing request, then maybe follow it.
import type { Command } from 'commander';
import { TERMINAL_STATUSES } from '@osm-onboarding/client';
import { call, printJson, type Ctx, type Opts, type Request, type Runner } from '../context.js';
import { EXIT } from '../errors.js';
import { addWaitOptions } from '../options.js';
import { finish, follow, summaryLine } from '../output.js';

type Op = 'approve' | 'reject' | 'cancel' | 'retry' | 'apply';

interface Action {
  op: Op;
  /** The body of approve (comment), reject and cancel (reason). */
  body?: Record<string, string>;
  /** Follow the request afterwards unless --no-wait (retry, apply) or only with --wait (the others). */
  waitByDefault: boolean;
}

async function send(ctx: Ctx, id: string, a: Action): Promise<Request | { request: Request }> {
  const params = { path: { id } };
  const api = ctx.client.api;
  switch (a.op) {
    case 'approve':
      return call(api.POST('/v1/onboardings/{id}/approve', { params, body: a.body ?? {} }));
    case 'reject':
      return call(api.POST('/v1/onboardings/{id}/reject', { params, body: { reason: a.body?.reason ?? '' } }));
    case 'cancel':
      return call(api.POST('/v1/onboardings/{id}/cancel', { params, body: a.body ?? {} }));
    case 'retry':
      return call(api.POST('/v1/onboardings/{id}/retry', { params }));
    case 'apply':
      return call(api.POST('/v1/onboardings/{id}/apply', { params }));
  }
}

async function act(ctx: Ctx, id: string, a: Action, o: Opts): Promise<number> {
  const res = await send(ctx, id, a);
  const r = 'request' in res ? res.request : res;
  const wait =
    Boolean(o.wait ?? a.waitByDefault) &&
    !TERMINAL_STATUSES.has(r.status) &&
    r.status !== 'PENDING_APPROVAL' &&
    r.status !== 'PLANNED';
  if (!wait) {
    if (ctx.json) printJson(ctx, r);
    else ctx.io.stdout.write(summaryLine(r) + '\n');
    return a.op === 'reject' || a.op === 'cancel' || !TERMINAL_STATUSES.has(r.status) || r.status === 'SUCCEEDED'
      ? EXIT.OK
      : EXIT.FAILED;
  }
  return finish(ctx, await follow(ctx, [r], o.timeout, true), true);
}

const text = (key: 'comment' | 'reason', o: Opts) => (o[key] ? { [key]: o[key] } : undefined);

export function registerDecisionCommands(program: Command, run: Runner): void {
  addWaitOptions(
    program
      .command('approve')
      .argument('<id>', 'request id')
      .option('--comment <text>', 'a note kept with the approval'),
    false,
  )
    .description('approve a request waiting in PENDING_APPROVAL (approver role; not your own request)')
    .action(
      run((ctx, id: string, o: Opts) =>
        act(ctx, id, { op: 'approve', body: text('comment', o), waitByDefault: false }, o),
      ),
    );

  program
    .command('reject')
    .argument('<id>', 'request id')
    .requiredOption('--reason <text>', 'why (required; recorded and sent to the requester)')
    .description('reject a request waiting in PENDING_APPROVAL')
    .action(
      run((ctx, id: string, o: Opts) =>
        act(ctx, id, { op: 'reject', body: text('reason', o), waitByDefault: false }, o),
      ),
    );

  addWaitOptions(program.command('cancel').argument('<id>', 'request id').option('--reason <text>', 'why'), false)
    .description('cancel a request (a running one stops before its next step or attempt)')
    .action(
      run((ctx, id: string, o: Opts) =>
        act(ctx, id, { op: 'cancel', body: text('reason', o), waitByDefault: false }, o),
      ),
    );

  addWaitOptions(program.command('retry').argument('<id>', 'request id'), true)
    .description('retry a FAILED or CANCELLED request from its first unfinished step')
    .action(run((ctx, id: string, o: Opts) => act(ctx, id, { op: 'retry', waitByDefault: true }, o)));

  addWaitOptions(program.command('apply').argument('<id>', 'request id'), true)
    .description('run a request stored with --dry-run (PLANNED)')
    .action(run((ctx, id: string, o: Opts) => act(ctx, id, { op: 'apply', waitByDefault: true }, o)));
}
