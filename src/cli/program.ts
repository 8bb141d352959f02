// osm-onboarding: the command line of the REST API, for scripts and chatops. This file holds the program (global
// options, help, exit codes) and runCli (every error a message and an exit code; never a stack, never the token);
// each command group lives in ./commands/, and every call goes through the typed client @osm-onboarding/client.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerDecisionCommands } from './commands/decisions.js';
import { registerRequestCommands } from './commands/requests.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTokenCommands } from './commands/tokens.js';
import { contextOf, type Ctx, type Globals, type Io, type Runner } from './context.js';
import { ApiError, CliError, EXIT, unexpectedError } from './errors.js';
import { formatError } from './output.js';
import { style } from './render.js';
import { nonEmpty } from './options.js';

export type { Io } from './context.js';

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

export function buildProgram(io: Io, result: { code: number }): Command {
  const program = new Command('osm-onboarding');
  // commander calls an action with the arguments, the options and the command itself (last).
  const run: Runner =
    <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      result.code = await fn(contextOf(cmd, io), ...(args.slice(0, -1) as A));
    };

  program
    .description(
      'Onboard Kubernetes namespaces into an osm-edge mesh, and offboard them, through the osm-onboarding API.',
    )
    .version(version())
    .addOption(new Option('--url <url>', 'API base URL').env('OSM_ONBOARDING_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'bearer token').env('OSM_ONBOARDING_TOKEN'))
    .option('--cluster <name>', 'cluster (kubeconfig context) of the request; a filter for status', nonEmpty)
    .option('--mesh <name>', 'mesh name (default osm); a filter for status', nonEmpty)
    .option('--json', 'print the result as JSON (no progress display)')
    .option('--no-color', 'no colours')
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // commander repeats a refused argument as typed: its control characters (an escape sequence) are shown, not
      // sent to the terminal.
      outputError: (s, write) => write(visibleControls(s)),
    });

  registerRequestCommands(program, run);
  registerStatusCommand(program, run);
  registerDecisionCommands(program, run);
  registerTokenCommands(program, run);
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
    // A CliError as it is; anything else is unexpected: its message, without the token or the URL's credentials.
    const failure = err instanceof CliError ? err : unexpectedError(err, secretsOf(program, io));
    if (wantsJson)
      io.stderr.write(
        JSON.stringify({
          error: failure.body ?? {
            code: failure instanceof ApiError ? 'API_ERROR' : 'CLI_ERROR',
            message: failure.message,
            ...(failure.hint ? { hint: failure.hint } : {}),
          },
        }) + '\n',
      );
    else io.stderr.write(formatError(failure, style(Boolean(io.stderr.isTTY) && !io.env.NO_COLOR)));
    return failure.exitCode;
  }
}

/** What no message may show: the token, and the user and password of a URL (the client refuses them). */
function secretsOf(program: Command, io: Io): (string | undefined)[] {
  const { url, token } = program.opts<Globals>();
  const secrets = [token, io.env.OSM_ONBOARDING_TOKEN];
  for (const u of [url, io.env.OSM_ONBOARDING_URL])
    if (u && URL.canParse(u)) secrets.push(new URL(u).username, new URL(u).password);
  return secrets;
}

/** Control characters other than the line ends shown as `\xNN` (what the terminal would otherwise act on). */
export function visibleControls(text: string): string {
  return text.replace(/(?!\n)\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
