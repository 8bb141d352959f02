// What every command gets: the typed API client (a bad --url or --token refused before any call, exit 2), the global
// options, the I/O streams and the output styles; and `call`, which runs one client call and turns its failure into
// a CLI error (an exit code).
import type { Command } from 'commander';
import { createOsmClient, OsmConfigError, unwrap, type OsmClient, type OsmRequest } from '@osm-onboarding/client';
import { configError, toCliError } from './errors.js';
import { style, type Out, type Style } from './render.js';

export interface Io {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  /** SIGINT while following: stop following (the request goes on). */
  onInterrupt?: (stop: () => void) => () => void;
}

export interface Globals {
  url: string;
  token?: string;
  cluster?: string;
  mesh?: string;
  json?: boolean;
  color?: boolean;
}

export interface Ctx {
  client: OsmClient;
  g: Globals;
  io: Io;
  json: boolean;
  /** stdout is a terminal: live progress view and colours. */
  tty: boolean;
  st: Style;
  est: Style;
}

/** A request as the API returns it. */
export type Request = OsmRequest;

/** Parsed options of a command (commander's `opts()`): the union of every command's options. */
export interface Opts {
  file?: string;
  dryRun?: boolean;
  idempotencyKey?: string;
  wait?: boolean;
  timeout?: number;
  disableSidecarInjection?: boolean;
  restart?: string;
  deployment?: string[];
  maxConcurrent?: number;
  metrics?: boolean;
  apiServerAccess?: string;
  serviceAccount?: string[];
  trafficPolicy?: string;
  smiFile?: string;
  appProtocol?: unknown[];
  verifyTimeout?: number;
  skipPrerequisites?: boolean;
  acceptError?: string[];
  deleteOwnedPolicies?: boolean;
  removeApiServerExclusion?: boolean;
  offboard?: boolean;
  follow?: boolean;
  namespace?: string;
  status?: string;
  kind?: string;
  requestedBy?: string;
  limit?: number;
  after?: string;
  comment?: string;
  reason?: string;
  role?: string[];
  scope?: string[];
  expiresInDays?: number;
}

/** Wraps a command's action: builds its context, runs it, records its exit code. */
export type Runner = <A extends unknown[]>(
  fn: (ctx: Ctx, ...args: A) => Promise<number>,
) => (...args: unknown[]) => Promise<void>;

/**
 * The client of --url and --token. A value the client refuses (not an http(s) URL, credentials in it, a line break
 * in the token) is a usage error (exit 2) naming the option or the variable it came from, before any call.
 */
function clientOf(cmd: Command, g: Globals): OsmClient {
  try {
    return createOsmClient({ baseUrl: g.url, token: g.token, userAgent: 'osm-onboarding-cli' });
  } catch (err) {
    if (!(err instanceof OsmConfigError)) throw err;
    throw configError(err, cmd.getOptionValueSourceWithGlobals(err.option === 'baseUrl' ? 'url' : 'token'));
  }
}

export function contextOf(cmd: Command, io: Io): Ctx {
  const g = cmd.optsWithGlobals<Globals>();
  const tty = Boolean(io.stdout.isTTY) && !g.json;
  const color = g.color !== false && !io.env.NO_COLOR;
  return {
    client: clientOf(cmd, g),
    g,
    io,
    json: Boolean(g.json),
    tty,
    st: style(tty && color),
    est: style(Boolean(io.stderr.isTTY) && color),
  };
}

/** The data of a client call; its failure as a CliError (an API answer or an unreachable API). */
export async function call<D, E>(request: Promise<{ data?: D; error?: E; response: Response }>): Promise<D> {
  try {
    return await unwrap(request);
  } catch (err) {
    throw toCliError(err);
  }
}

/** Like `call`, with the response too (its headers). */
export async function callWithResponse<D, E>(
  request: Promise<{ data?: D; error?: E; response: Response }>,
): Promise<{ data: D; response: Response }> {
  let response: Response | undefined;
  const data = await call(request.then((r) => ((response = r.response), r)));
  return { data, response: response! };
}

export function printJson(ctx: Ctx, value: unknown): void {
  ctx.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
