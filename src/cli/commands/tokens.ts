// `tokens create|list|revoke`: API tokens (admin). A new token's secret is printed alone on stdout, once.
import type { Command } from 'commander';
import { call, printJson, type Ctx, type Opts, type Runner } from '../context.js';
import { EXIT } from '../errors.js';
import { collect, positiveInt } from '../options.js';
import { table } from '../render.js';

async function create(ctx: Ctx, name: string, o: Opts): Promise<number> {
  const body = {
    name,
    roles: o.role ?? [],
    ...(o.scope ? { scopes: o.scope } : {}),
    ...(o.expiresInDays ? { expiresInDays: o.expiresInDays } : {}),
  };
  const res = await call(ctx.client.api.POST('/v1/tokens', { body: body as never }));
  if (ctx.json) printJson(ctx, res);
  else {
    // The secret alone on stdout (TOKEN=$(osm-onboarding tokens create …)); the rest on stderr.
    const { record } = res;
    const scopes = record.scopes.length ? ` and scopes ${record.scopes.join(',')}` : '';
    ctx.io.stderr.write(
      `token ${record.name} (${record.id}) created with roles ${record.roles.join(',')}${scopes}; ` +
        'the secret is shown only now:\n',
    );
    ctx.io.stdout.write(res.token + '\n');
  }
  return EXIT.OK;
}

async function list(ctx: Ctx): Promise<number> {
  const res = await call(ctx.client.api.GET('/v1/tokens'));
  if (ctx.json) printJson(ctx, res);
  else {
    const rows = res.items.map((t) => [
      t.name,
      t.id,
      t.roles.join(','),
      t.scopes.join(',') || '-',
      t.createdAt,
      t.expiresAt ?? '-',
      t.lastUsedAt ?? '-',
      t.revokedAt ? `revoked ${t.revokedAt}` : 'active',
    ]);
    const head = ['NAME', 'ID', 'ROLES', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'];
    ctx.io.stdout.write(table([head, ...rows], ctx.st));
  }
  return EXIT.OK;
}

async function revoke(ctx: Ctx, id: string): Promise<number> {
  const t = await call(ctx.client.api.DELETE('/v1/tokens/{id}', { params: { path: { id } } }));
  if (ctx.json) printJson(ctx, t);
  else ctx.io.stdout.write(`revoked ${t.name} (${t.id})\n`);
  return EXIT.OK;
}

export function registerTokenCommands(program: Command, run: Runner): void {
  const tokens = program.command('tokens').description('API tokens (admin)');
  tokens
    .command('create')
    .argument('<name>', 'token name (the actor becomes token:<name>)')
    .requiredOption('--role <role>', 'viewer, requester, approver or admin (repeatable, or comma-separated)', collect)
    .option('--scope <cluster/namespace>', 'scope glob, e.g. prod/team-a-* (repeatable, or comma-separated)', collect)
    .option('--expires-in-days <n>', 'expiry (default: never)', positiveInt('--expires-in-days'))
    .description('create a token; prints its secret (only now)')
    .action(run((ctx, name: string, o: Opts) => create(ctx, name, o)));
  tokens
    .command('list')
    .description('list tokens (never their secrets)')
    .action(run((ctx) => list(ctx)));
  tokens
    .command('revoke')
    .argument('<id>', 'token id')
    .description('revoke a token')
    .action(run((ctx, id: string) => revoke(ctx, id)));
}
