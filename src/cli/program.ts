import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ApiError, CliError, EXIT } from './client.js';
import { RESTART_MODES } from '../onboarding/onboarding.input.js';
import { followEvents, TERMINAL_STATUSES } from './events.js';
import {
  applyEvent,
  eventLine,
  LiveView,
  planDetails,
  requestDetails,
  style,
  syncTrack,
  table,
  trackOf,
  type Out,
  type PlanLike,
  type RequestLike,
  type Style,
} from './render.js';

// osm-onboarding: the command line of the REST API, for scripts and chatops.

export const DEFAULT_URL = 'http://127.0.0.1:3000';

function version(): string {
  for (const up of ['../..', '../../..']) {
    const file = join(import.meta.dirname, up, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'osm-onboarding' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

export interface Io {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  /** SIGINT while following: stop following (the request goes on). */
  onInterrupt?: (stop: () => void) => () => void;
}

interface Globals {
  url: string;
  token?: string;
  cluster?: string;
  mesh?: string;
  json?: boolean;
  color?: boolean;
}

interface Ctx {
  client: ApiClient;
  g: Globals;
  io: Io;
  json: boolean;
  /** stdout is a terminal: live progress view and colours. */
  tty: boolean;
  st: Style;
  est: Style;
}

type Request = RequestLike & Record<string, any>;

const EXIT_HELP = `
Exit codes:
  0  done (with --wait: every request SUCCEEDED)
  1  a request failed, was cancelled or rejected, or the API refused the operation
  2  usage or input error: a bad option or value, or input the API refused (a field,
     an unknown --cluster or --mesh); the fields at fault are printed
  3  authentication or authorisation error (401/403)
  4  the API cannot be reached

Environment:
  OSM_ONBOARDING_URL    API base URL (--url), default ${DEFAULT_URL}
  OSM_ONBOARDING_TOKEN  bearer token (--token)
  NO_COLOR              no colours

Output: a live step list when stdout is a terminal, one line per event when it is piped,
one JSON document with --json.`;

/** Which option or argument a field of the API's VALIDATION_FAILED answer comes from. */
const FIELD_FLAGS: [RegExp, string][] = [
  [/^namespace$/, '<namespace>'],
  [/^cluster$/, '--cluster'],
  [/^meshName$/, '--mesh'],
  [/^sidecarInjection$/, '--disable-sidecar-injection'],
  [/^restart\.maxConcurrent/, '--max-concurrent'],
  [/^restart\.deployments/, '--deployment'],
  [/^restart/, '--restart'],
  [/^apiServerAccess\.serviceAccounts/, '--service-account'],
  [/^apiServerAccess/, '--api-server-access'],
  [/^trafficPolicy\.smi/, '--smi-file'],
  [/^trafficPolicy/, '--traffic-policy'],
  [/^appProtocols/, '--app-protocol'],
  [/^verify/, '--verify-timeout'],
  [/^prerequisites\.acceptErrors/, '--accept-error'],
  [/^prerequisites/, '--skip-prerequisites'],
  [/^metrics$/, '--metrics'],
  [/^idempotencyKey$/, '--idempotency-key'],
  [/^reason$/, '--reason'],
  [/^comment$/, '--comment'],
  [/^roles/, '--role'],
  [/^scopes/, '--scope'],
  [/^expiresInDays$/, '--expires-in-days'],
  [/^name$/, '<name>'],
  [/^(id|requestId)$/, '<id>'],
  [/^(limit|after|status|kind|requestedBy)$/, '--$1'],
];

export function flagFor(field: string): string | undefined {
  for (const [re, flag] of FIELD_FLAGS) if (re.test(field)) return field.replace(re, flag).replace(/\..*$/, '');
  return undefined;
}

// --------------------------------------------------------------------------------------------
// Option parsers (a bad value is a usage error, exit 2).

function positiveInt(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

const collect = (v: string, all: string[] = []) => [
  ...all,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function parseAppProtocol(v: string, all: unknown[] = []) {
  const m = /^([^:=\s]+):([^=\s]+)=(\S+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('use <service>:<port name or number>=<http|tcp|tcp-server-first|grpc>');
  // Digits select the port by number (how an unnamed port is chosen); anything else is a port name.
  const port = /^\d+$/.test(m[2]) ? Number(m[2]) : m[2];
  return [...all, { service: m[1], port, appProtocol: m[3] }];
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path === '-' ? 0 : path, 'utf8'));
  } catch (err) {
    throw new CliError(
      `cannot read ${path === '-' ? 'standard input' : path} as JSON: ${(err as Error).message}`,
      EXIT.USAGE,
    );
  }
}

// --------------------------------------------------------------------------------------------
// Request bodies from options (a --file body is the base; options override it).

function targetBody(namespace: string, o: Record<string, any>, g: Globals) {
  const base = o.file ? (readJsonFile(o.file) as Record<string, unknown>) : {};
  if (!base || typeof base !== 'object' || Array.isArray(base))
    throw new CliError(`${o.file}: the body must be a JSON object`, EXIT.USAGE);
  return {
    ...base,
    namespace,
    ...(g.cluster ? { cluster: g.cluster } : {}),
    ...(g.mesh ? { meshName: g.mesh } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
  } as Record<string, any>;
}

// --restart <mode> and --deployment <name>: the API checks the combination (selected needs deployments, and
// only selected takes them) and its answer names --deployment; --deployment alone means selected.
function restartBody(o: Record<string, any>, body: Record<string, any>) {
  if (!o.restart && !o.deployment && !o.maxConcurrent) return;
  const mode = o.restart ?? (o.deployment ? 'selected' : undefined);
  body.restart = {
    ...(body.restart ?? { mode: 'all' }),
    ...(mode ? { mode } : {}),
    ...(o.deployment ? { deployments: o.deployment } : {}),
    ...(o.maxConcurrent ? { maxConcurrent: o.maxConcurrent } : {}),
  };
}

export function onboardBody(namespace: string, o: Record<string, any>, g: Globals): Record<string, unknown> {
  const body = targetBody(namespace, o, g);
  if (o.disableSidecarInjection) body.sidecarInjection = 'disabled';
  restartBody(o, body);
  if (o.metrics) body.metrics = true;
  if (o.apiServerAccess || o.serviceAccount) {
    body.apiServerAccess = {
      method: o.apiServerAccess ?? 'egress',
      ...(o.serviceAccount ? { serviceAccounts: o.serviceAccount } : {}),
    };
  }
  if (o.trafficPolicy || o.smiFile) {
    body.trafficPolicy = { mode: o.trafficPolicy ?? 'smi', ...(o.smiFile ? { smi: readJsonFile(o.smiFile) } : {}) };
  }
  if (o.appProtocol) body.appProtocols = o.appProtocol;
  if (o.verifyTimeout) body.verify = { timeoutSeconds: o.verifyTimeout };
  if (o.skipPrerequisites || o.acceptError) {
    body.prerequisites = {
      ...(o.skipPrerequisites ? { enabled: false } : {}),
      ...(o.acceptError ? { acceptErrors: o.acceptError } : {}),
    };
  }
  return body;
}

export function offboardBody(namespace: string, o: Record<string, any>, g: Globals): Record<string, unknown> {
  const body = targetBody(namespace, o, g);
  restartBody(o, body);
  if (o.deleteOwnedPolicies) body.deleteOwnedPolicies = true;
  if (o.removeApiServerExclusion) body.removeApiServerExclusion = true;
  return body;
}

function addOnboardOptions(cmd: Command): Command {
  return cmd
    .option('--disable-sidecar-injection', 'label the namespace for the mesh without sidecar injection')
    .option('--metrics', 'enable metrics scraping for the namespace')
    .addOption(
      new Option('--api-server-access <method>', 'let apps reach the Kubernetes API').choices([
        'ip-exclusion',
        'egress',
      ]),
    )
    .option(
      '--service-account <sa>',
      'service account allowed to reach the API server with egress (repeatable, or comma-separated)',
      collect,
    )
    .addOption(
      new Option('--traffic-policy <mode>', 'permissive mode, or SMI policies from --smi-file').choices([
        'permissive',
        'smi',
      ]),
    )
    .option(
      '--smi-file <path>',
      'JSON file with the SMI objects {trafficTargets, httpRouteGroups, tcpRoutes, trafficSplits}',
    )
    .option(
      '--app-protocol <svc:port=proto>',
      "set a Service port's appProtocol; the port by name or number (repeatable)",
      parseAppProtocol,
    )
    .option(
      '--verify-timeout <seconds>',
      'how long to wait for the sidecars (default 120)',
      positiveInt('--verify-timeout'),
    )
    .option('--skip-prerequisites', 'do not run the application checks')
    .option('--accept-error <code>', 'a prerequisites diagnostic code not to block on (repeatable)', collect);
}

function addRestartOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(
      new Option(
        '--restart <mode>',
        `restart deployments ${what}: all, needed (only those that must be re-created), none (default), or selected (--deployment)`,
      ).choices(RESTART_MODES),
    )
    .option('--deployment <name>', 'with --restart selected: a deployment to restart (repeatable, or a,b)', collect)
    .option('--max-concurrent <n>', 'deployments restarted at once (default 5)', positiveInt('--max-concurrent'));
}

function addOffboardOptions(cmd: Command): Command {
  return cmd
    .option('--delete-owned-policies', 'delete the SMI and Egress objects osm-onboarding created')
    .option('--remove-api-server-exclusion', "remove the API server's IP from the mesh's exclusion list");
}

function addCreateOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <path>', 'the JSON request body to start from ("-" = stdin); options override its fields')
    .option('--dry-run', 'store the request as PLANNED with its plan instead of running it (then: apply <id>)')
    .option(
      '--idempotency-key <key>',
      'retry-safe creation: the same key returns the first request (with several namespaces, <key>-<namespace>)',
    );
}

function addWaitOptions(cmd: Command, byDefault: boolean): Command {
  return cmd
    .option('--wait', `follow the progress until the request ends${byDefault ? ' (default)' : ''}`)
    .option('--no-wait', `return once the API has answered${byDefault ? '' : ' (default)'}`)
    .option(
      '--timeout <seconds>',
      'with --wait: give up waiting after this long (exit 1; the request goes on)',
      positiveInt('--timeout'),
    );
}

// --------------------------------------------------------------------------------------------
// Printing.

function printJson(ctx: Ctx, value: unknown): void {
  ctx.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function oneOrItems<T>(items: T[]): T | { items: T[] } {
  return items.length === 1 ? items[0] : { items };
}

export function formatError(err: CliError, st: Style): string {
  const lines = [`${st.red('error:')} ${err.status ? `${err.message} (HTTP ${err.status})` : err.message}`];
  for (const f of (err.body?.fields ?? []).filter((x) => x.message !== err.body?.message)) {
    const flag = flagFor(f.field);
    lines.push(`  ${st.bold(f.field)}${flag && flag !== f.field ? st.dim(` (${flag})`) : ''}: ${f.message}`);
  }
  if (err.body?.hint) lines.push(`  hint: ${err.body.hint}`);
  const active = err.body?.details?.activeRequestId;
  if (typeof active === 'string') lines.push(`  active request: ${active} (osm-onboarding status ${active})`);
  if (err.exitCode === EXIT.AUTH && err.body?.code === 'UNAUTHENTICATED')
    lines.push('  hint: pass --token or set OSM_ONBOARDING_TOKEN');
  return lines.join('\n') + '\n';
}

function summaryLine(r: Request): string {
  const err = r.errorCode && r.status !== 'SUCCEEDED' ? ` ${r.errorCode}: ${r.errorMessage ?? ''}` : '';
  return `${r.id} ${r.kind === 'OFFBOARD' ? 'offboard' : 'onboard'} ${r.cluster}/${r.namespace} ${r.status}${err}`;
}

// --------------------------------------------------------------------------------------------
// Following requests to their end.

/**
 * Follows the requests' event streams (concurrently) until each has ended, showing a live
 * view on a terminal or one line per event otherwise; returns their final state.
 */
async function follow(ctx: Ctx, requests: Request[], timeoutSec?: number, fromCurrent = false): Promise<Request[]> {
  const tracks = requests.map(trackOf);
  const live = ctx.tty && !ctx.json ? new LiveView(ctx.io.stdout, tracks, ctx.st) : undefined;
  const abort = new AbortController();
  let timedOut = false;
  let interrupted = false;
  const timer = timeoutSec ? setTimeout(() => ((timedOut = true), abort.abort()), timeoutSec * 1000) : undefined;
  const unhook = ctx.io.onInterrupt?.(() => ((interrupted = true), abort.abort()));
  const say = (line: string) => (live ? live.note(line) : !ctx.json && ctx.io.stderr.write(line + '\n'));
  live?.start();
  try {
    await Promise.all(
      tracks.map(async (t) => {
        const events = followEvents(ctx.client, t.id, {
          signal: abort.signal,
          // After an action (retry, approve, apply), from the action's own event on.
          after: fromCurrent ? Math.max(0, (requests.find((r) => r.id === t.id)?.lastEventCursor ?? 1) - 1) : 0,
          isFinal: async (cursor) => {
            const { body: r } = await ctx.client.call<Request>('GET', `/v1/onboardings/${t.id}`);
            return TERMINAL_STATUSES.has(r.status) && r.lastEventCursor <= cursor;
          },
          onReconnect: (n, cursor, reason) =>
            say(
              ctx.est.yellow(
                `${t.namespace}: event stream lost (${reason}); resuming after event ${cursor} (attempt ${n})`,
              ),
            ),
        });
        for await (const e of events) {
          applyEvent(t, e);
          if (!live && !ctx.json) ctx.io.stdout.write(eventLine(t, e) + '\n');
        }
      }),
    );
  } catch (err) {
    live?.stop();
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    unhook?.();
  }
  const finals = await Promise.all(
    tracks.map(async (t) => (await ctx.client.call<Request>('GET', `/v1/onboardings/${t.id}`)).body),
  );
  finals.forEach((r, i) => syncTrack(tracks[i], r));
  live?.stop();
  if (interrupted || timedOut) {
    const pending = finals.filter((r) => !TERMINAL_STATUSES.has(r.status));
    if (pending.length) {
      const why = interrupted ? 'stopped following' : `gave up waiting after ${timeoutSec}s`;
      throw new CliError(
        `${why}; still going on: ${pending.map((r) => `${r.id} (${r.status})`).join(', ')} — see: osm-onboarding status <id> --follow`,
        interrupted ? 130 : EXIT.FAILED,
      );
    }
  }
  return finals;
}

/** Prints the outcome of created/followed requests and gives the exit code. */
function finish(ctx: Ctx, requests: Request[], waited: boolean): number {
  if (ctx.json) printJson(ctx, oneOrItems(requests));
  else if (!ctx.tty || !waited) for (const r of requests) ctx.io.stdout.write(summaryLine(r) + '\n');
  else {
    for (const r of requests.filter((x) => x.status !== 'SUCCEEDED')) {
      const failed = r.steps.find((s: any) => s.status === 'FAILED');
      const hint = (failed?.output as { hint?: string } | null)?.hint;
      if (hint) ctx.io.stdout.write(ctx.st.dim(`${r.namespace}: hint: ${hint}`) + '\n');
    }
  }
  if (!waited) return EXIT.OK;
  return requests.every((r) => r.status === 'SUCCEEDED') ? EXIT.OK : EXIT.FAILED;
}

// --------------------------------------------------------------------------------------------
// Commands.

async function create(
  ctx: Ctx,
  kind: 'onboard' | 'offboard',
  namespaces: string[],
  o: Record<string, any>,
): Promise<number> {
  const path = kind === 'onboard' ? '/v1/onboardings' : '/v1/offboardings';
  const created: Request[] = [];
  let failure: CliError | undefined;
  for (const ns of namespaces) {
    const body = kind === 'onboard' ? onboardBody(ns, o, ctx.g) : offboardBody(ns, o, ctx.g);
    const key = o.idempotencyKey ? (namespaces.length > 1 ? `${o.idempotencyKey}-${ns}` : o.idempotencyKey) : undefined;
    try {
      const res = await ctx.client.call<{ request: Request }>('POST', path, {
        body,
        headers: { 'idempotency-key': key },
      });
      created.push(res.body.request);
      if (!ctx.json && (!ctx.tty || o.wait === false || o.dryRun)) {
        const replay = res.headers.get('idempotent-replayed') === 'true' ? ' (idempotent replay)' : '';
        ctx.io.stderr.write(`${ns}: request ${res.body.request.id} accepted, ${res.body.request.status}${replay}\n`);
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

async function plan(ctx: Ctx, namespace: string, o: Record<string, any>): Promise<number> {
  const body = o.offboard ? offboardBody(namespace, o, ctx.g) : onboardBody(namespace, o, ctx.g);
  delete body.dryRun;
  const { body: p } = await ctx.client.call<PlanLike>(
    'POST',
    o.offboard ? '/v1/offboardings/plan' : '/v1/onboardings/plan',
    { body },
  );
  if (ctx.json) printJson(ctx, p);
  else ctx.io.stdout.write(planDetails(p, ctx.st));
  return p.blocked ? EXIT.FAILED : EXIT.OK;
}

async function status(ctx: Ctx, id: string | undefined, o: Record<string, any>): Promise<number> {
  if (id) {
    const { body: r } = await ctx.client.call<Request>('GET', `/v1/onboardings/${encodeURIComponent(id)}`);
    if (o.follow) return finish(ctx, await follow(ctx, [r], o.timeout), true);
    if (ctx.json) printJson(ctx, r);
    else ctx.io.stdout.write(requestDetails(r, ctx.st));
    return EXIT.OK;
  }
  if (o.follow) throw new CliError('--follow needs a request id', EXIT.USAGE);
  const { body: page } = await ctx.client.call<{
    items: Request[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('GET', '/v1/onboardings', {
    query: {
      cluster: ctx.g.cluster,
      meshName: ctx.g.mesh,
      namespace: o.namespace,
      status: o.status,
      kind: o.kind,
      requestedBy: o.requestedBy,
      limit: o.limit,
      after: o.after,
    },
  });
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

/** approve / reject / cancel / retry / apply: one call on a request, then maybe follow it. */
async function act(
  ctx: Ctx,
  id: string,
  op: string,
  body: unknown,
  o: Record<string, any>,
  waitByDefault: boolean,
): Promise<number> {
  const { body: res } = await ctx.client.call<Request | { request: Request }>(
    'POST',
    `/v1/onboardings/${encodeURIComponent(id)}/${op}`,
    { body },
  );
  const r = ('request' in res ? res.request : res) as Request;
  const wait =
    (o.wait ?? waitByDefault) &&
    !TERMINAL_STATUSES.has(r.status) &&
    r.status !== 'PENDING_APPROVAL' &&
    r.status !== 'PLANNED';
  if (!wait) {
    if (ctx.json) printJson(ctx, r);
    else ctx.io.stdout.write(summaryLine(r) + '\n');
    return op === 'reject' || op === 'cancel' || !TERMINAL_STATUSES.has(r.status) || r.status === 'SUCCEEDED'
      ? EXIT.OK
      : EXIT.FAILED;
  }
  return finish(ctx, await follow(ctx, [r], o.timeout, true), true);
}

async function tokens(
  ctx: Ctx,
  op: 'create' | 'list' | 'revoke',
  arg: string | undefined,
  o: Record<string, any>,
): Promise<number> {
  if (op === 'create') {
    const body = {
      name: arg,
      roles: o.role,
      ...(o.scope ? { scopes: o.scope } : {}),
      ...(o.expiresInDays ? { expiresInDays: o.expiresInDays } : {}),
    };
    const { body: res } = await ctx.client.call<{ token: string; record: Record<string, any> }>('POST', '/v1/tokens', {
      body,
    });
    if (ctx.json) printJson(ctx, res);
    else {
      // The secret alone on stdout (TOKEN=$(osm-onboarding tokens create …)); the rest on stderr.
      ctx.io.stderr.write(
        `token ${res.record.name} (${res.record.id}) created with roles ${res.record.roles.join(',')}${res.record.scopes.length ? ` and scopes ${res.record.scopes.join(',')}` : ''}; the secret is shown only now:\n`,
      );
      ctx.io.stdout.write(res.token + '\n');
    }
    return EXIT.OK;
  }
  if (op === 'list') {
    const { body: res } = await ctx.client.call<{ items: Record<string, any>[] }>('GET', '/v1/tokens');
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
      ctx.io.stdout.write(
        table([['NAME', 'ID', 'ROLES', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'], ...rows], ctx.st),
      );
    }
    return EXIT.OK;
  }
  const { body: t } = await ctx.client.call<Record<string, any>>('DELETE', `/v1/tokens/${encodeURIComponent(arg!)}`);
  if (ctx.json) printJson(ctx, t);
  else ctx.io.stdout.write(`revoked ${t.name} (${t.id})\n`);
  return EXIT.OK;
}

// --------------------------------------------------------------------------------------------

export function buildProgram(io: Io, result: { code: number }): Command {
  const program = new Command('osm-onboarding');
  const context = (cmd: Command): Ctx => {
    const g = cmd.optsWithGlobals() as Globals;
    const tty = Boolean(io.stdout.isTTY) && !g.json;
    const color = g.color !== false && !io.env.NO_COLOR;
    return {
      client: new ApiClient({ url: g.url, token: g.token }),
      g,
      io,
      json: Boolean(g.json),
      tty,
      st: style(tty && color),
      est: style(Boolean(io.stderr.isTTY) && color),
    };
  };
  const run =
    <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      result.code = await fn(context(cmd), ...(args.slice(0, -1) as A));
    };

  program
    .description(
      'Onboard Kubernetes namespaces into an osm-edge mesh, and offboard them, through the osm-onboarding API.',
    )
    .version(version())
    .addOption(new Option('--url <url>', 'API base URL').env('OSM_ONBOARDING_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'bearer token').env('OSM_ONBOARDING_TOKEN'))
    .option('--cluster <name>', 'cluster (kubeconfig context) of the request; a filter for status')
    .option('--mesh <name>', 'mesh name (default osm); a filter for status')
    .option('--json', 'print the result as JSON (no progress display)')
    .option('--no-color', 'no colours')
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

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
      '\nA request held for approval is followed until it is decided and done; scripts can add --timeout or --no-wait.\n' +
        '\nExamples:\n  osm-onboarding onboard bookbuyer bookthief --restart all\n  osm-onboarding onboard team-a --cluster prod --api-server-access egress --service-account app --no-wait --json',
    )
    .action(run((ctx, namespaces: string[], o: Record<string, any>) => create(ctx, 'onboard', namespaces, o)));

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
    .action(run((ctx, namespaces: string[], o: Record<string, any>) => create(ctx, 'offboard', namespaces, o)));

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
      'dry run: the exact writes each step would make now, and the diagnostics; nothing is stored (exit 1 when blocked)',
    )
    .action(run((ctx, namespace: string, o: Record<string, any>) => plan(ctx, namespace, o)));

  program
    .command('status')
    .argument('[request-id]', 'a request; without it, the list of requests')
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
    .action(run((ctx, id: string | undefined, o: Record<string, any>) => status(ctx, id, o)));

  addWaitOptions(
    program
      .command('approve')
      .argument('<id>', 'request id')
      .option('--comment <text>', 'a note kept with the approval'),
    false,
  )
    .description('approve a request waiting in PENDING_APPROVAL (approver role; not your own request)')
    .action(
      run((ctx, id: string, o: Record<string, any>) =>
        act(ctx, id, 'approve', o.comment ? { comment: o.comment } : {}, o, false),
      ),
    );

  program
    .command('reject')
    .argument('<id>', 'request id')
    .requiredOption('--reason <text>', 'why (required; recorded and sent to the requester)')
    .description('reject a request waiting in PENDING_APPROVAL')
    .action(run((ctx, id: string, o: Record<string, any>) => act(ctx, id, 'reject', { reason: o.reason }, o, false)));

  addWaitOptions(program.command('cancel').argument('<id>', 'request id').option('--reason <text>', 'why'), false)
    .description('cancel a request (a running one stops before its next step)')
    .action(
      run((ctx, id: string, o: Record<string, any>) =>
        act(ctx, id, 'cancel', o.reason ? { reason: o.reason } : {}, o, false),
      ),
    );

  addWaitOptions(program.command('retry').argument('<id>', 'request id'), true)
    .description('retry a FAILED or CANCELLED request from its first unfinished step')
    .action(run((ctx, id: string, o: Record<string, any>) => act(ctx, id, 'retry', undefined, o, true)));

  addWaitOptions(program.command('apply').argument('<id>', 'request id'), true)
    .description('run a request stored with --dry-run (PLANNED)')
    .action(run((ctx, id: string, o: Record<string, any>) => act(ctx, id, 'apply', undefined, o, true)));

  const tokensCmd = program.command('tokens').description('API tokens (admin)');
  tokensCmd
    .command('create')
    .argument('<name>', 'token name (the actor becomes token:<name>)')
    .requiredOption('--role <role>', 'viewer, requester, approver or admin (repeatable, or comma-separated)', collect)
    .option('--scope <cluster/namespace>', 'scope glob, e.g. prod/team-a-* (repeatable, or comma-separated)', collect)
    .option('--expires-in-days <n>', 'expiry (default: never)', positiveInt('--expires-in-days'))
    .description('create a token; prints its secret (only now)')
    .action(run((ctx, name: string, o: Record<string, any>) => tokens(ctx, 'create', name, o)));
  tokensCmd
    .command('list')
    .description('list tokens (never their secrets)')
    .action(run((ctx, o: Record<string, any>) => tokens(ctx, 'list', undefined, o)));
  tokensCmd
    .command('revoke')
    .argument('<id>', 'token id')
    .description('revoke a token')
    .action(run((ctx, id: string, o: Record<string, any>) => tokens(ctx, 'revoke', id, o)));

  return program;
}

/** Runs the CLI; resolves to the process exit code. Never throws. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const result = { code: EXIT.OK as number };
  const program = buildProgram(io, result);
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return EXIT.OK;
      return EXIT.USAGE; // commander has printed the message
    }
    if (err instanceof CliError) {
      if (wantsJson)
        io.stderr.write(
          JSON.stringify({
            error: err.body ?? { code: err instanceof ApiError ? 'API_ERROR' : 'CLI_ERROR', message: err.message },
          }) + '\n',
        );
      else io.stderr.write(formatError(err, style(Boolean(io.stderr.isTTY) && !io.env.NO_COLOR)));
      return err.exitCode;
    }
    io.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.FAILED;
  }
}
