// The CLI's options: their parsers (a bad value is a usage error, exit 2), the REST bodies built from them (a
// --file body is the base; options override it), the option sets shared by commands, and which option an API field
// of a VALIDATION_FAILED answer comes from.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Schemas } from '@osm-onboarding/client';
import type { Globals, Opts } from './context.js';
import { CliError, EXIT } from './errors.js';

type RestartMode = NonNullable<Schemas['OnboardingInput']['restart']>['mode'];
/** The API's restart modes, from its OpenAPI document (no import of the service's code: the CLI starts faster). */
const RESTART_MODES = ['none', 'needed', 'all', 'selected'] as const satisfies readonly RestartMode[];
// A mode the API adds and this list lacks is a type error here.
const _everyMode: Exclude<RestartMode, (typeof RESTART_MODES)[number]> extends never ? true : never = true;

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

/**
 * --cluster and --mesh: an empty value (`--cluster "$CLUSTER"` with the variable unset) is a usage error, as the API
 * refuses it, never the default context or mesh.
 */
export function nonEmpty(v: string): string {
  if (v.trim() === '') throw new InvalidArgumentError('must not be empty (leave the option out for the default)');
  return v;
}

export function positiveInt(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

/**
 * The Idempotency-Key: 1 to 255 characters without control characters (the API's rule), and none past U+00FF (a
 * header carries bytes): a line break would otherwise fail the call itself.
 */
export function idempotencyKey(v: string): string {
  if (v.length < 1 || v.length > 255) throw new InvalidArgumentError('must be 1 to 255 characters');
  if (/\p{Cc}/u.test(v)) throw new InvalidArgumentError('must not contain control characters (a tab, a line break)');
  if (/[\u0100-\uffff]/.test(v)) throw new InvalidArgumentError('must be Latin-1 characters (it is sent as a header)');
  return v;
}

export const collect = (v: string, all: string[] = []) => [
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

function targetBody(namespace: string, o: Opts, g: Globals) {
  const base = o.file ? (readJsonFile(o.file) as Record<string, unknown>) : {};
  if (!base || typeof base !== 'object' || Array.isArray(base))
    throw new CliError(`${o.file}: the body must be a JSON object`, EXIT.USAGE);
  return {
    ...base,
    namespace,
    ...(g.cluster !== undefined ? { cluster: g.cluster } : {}),
    ...(g.mesh !== undefined ? { meshName: g.mesh } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
  } as Body;
}

type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

// --restart <mode> and --deployment <name>: the API checks the combination (selected needs deployments, and
// only selected takes them) and its answer names --deployment; --deployment alone means selected. --max-concurrent
// tunes a restart and never asks for one: without a mode (from the flags or the --file body) it is a usage error,
// not a restart of every Deployment.
function restartBody(o: Opts, body: Body) {
  if (!o.restart && !o.deployment && !o.maxConcurrent) return;
  const mode = o.restart ?? (o.deployment ? 'selected' : undefined);
  const given = isObject(body.restart) ? body.restart : undefined;
  if (!mode && given?.mode === undefined) {
    throw new CliError(
      '--max-concurrent tunes a restart: give --restart <mode> (or --deployment) with it; restart is none by default',
      EXIT.USAGE,
    );
  }
  body.restart = {
    ...given,
    ...(mode ? { mode } : {}),
    ...(o.deployment ? { deployments: o.deployment } : {}),
    ...(o.maxConcurrent ? { maxConcurrent: o.maxConcurrent } : {}),
  };
}

export function onboardBody(namespace: string, o: Opts, g: Globals): Record<string, unknown> {
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

export function offboardBody(namespace: string, o: Opts, g: Globals): Record<string, unknown> {
  const body = targetBody(namespace, o, g);
  restartBody(o, body);
  if (o.deleteOwnedPolicies) body.deleteOwnedPolicies = true;
  if (o.removeApiServerExclusion) body.removeApiServerExclusion = true;
  return body;
}

export function addOnboardOptions(cmd: Command): Command {
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

export function addRestartOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(
      new Option(
        '--restart <mode>',
        `restart deployments ${what}: all, needed (only those that must be re-created), none (default), ` +
          'or selected (--deployment)',
      ).choices(RESTART_MODES),
    )
    .option('--deployment <name>', 'with --restart selected: a deployment to restart (repeatable, or a,b)', collect)
    .option(
      '--max-concurrent <n>',
      'deployments restarted at once, with --restart (default 5)',
      positiveInt('--max-concurrent'),
    );
}

export function addOffboardOptions(cmd: Command): Command {
  return cmd
    .option('--delete-owned-policies', 'delete the SMI and Egress objects osm-onboarding created')
    .option('--remove-api-server-exclusion', "remove the API server's IP from the mesh's exclusion list");
}

export function addCreateOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <path>', 'the JSON request body to start from ("-" = stdin); options override its fields')
    .option('--dry-run', 'store the request as PLANNED with its plan instead of running it (then: apply <id>)')
    .option(
      '--idempotency-key <key>',
      'retry-safe creation: the same key returns the first request (with several namespaces, <key>-<namespace>)',
      idempotencyKey,
    );
}

export function addWaitOptions(cmd: Command, byDefault: boolean): Command {
  return cmd
    .option('--wait', `follow the progress until the request ends${byDefault ? ' (default)' : ''}`)
    .option('--no-wait', `return once the API has answered${byDefault ? '' : ' (default)'}`)
    .option(
      '--timeout <seconds>',
      'with --wait: give up waiting after this long (exit 1; the request goes on)',
      positiveInt('--timeout'),
    );
}
