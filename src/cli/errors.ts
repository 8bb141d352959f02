// The CLI's exit codes and errors: what ends the CLI with a message, how the client's errors (an API answer, an
// unreachable API, a lost event stream, a bad --url or --token) map onto exit codes, and what an unexpected error
// may print (its message, without the token or the URL's credentials; never its stack).
import {
  OsmApiError,
  OsmConfigError,
  OsmNetworkError,
  OsmStreamLostError,
  type OsmApiErrorBody,
  type OsmConfigOption,
} from '@osm-onboarding/client';

/** Process exit codes (documented in `--help`). */
export const EXIT = {
  OK: 0,
  /** A request failed (or was cancelled/rejected), or the API refused the operation. */
  FAILED: 1,
  /** Bad usage or input: unknown option or value, missing argument, an API answer about the input (400/422). */
  USAGE: 2,
  /** 401/403: no, bad or insufficient credentials. */
  AUTH: 3,
  /** The API could not be reached (connection refused, DNS, timeout). */
  UNREACHABLE: 4,
} as const;

export type ApiErrorBody = OsmApiErrorBody;

/** Anything that ends the CLI with a message and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly body?: ApiErrorBody,
    readonly status?: number,
    /** The next step, printed under the message (`  hint: …`) when the error is not the API's own. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class ApiError extends CliError {
  constructor(status: number, body: ApiErrorBody) {
    super(`${body.code}: ${body.message}`, exitCodeFor(status, body.code), body, status);
    this.name = 'ApiError';
  }
}

/**
 * 401/403 → AUTH. An answer about the input (400 malformed, 413 too large, 415 not JSON, 422: a bad field, an
 * unknown cluster or mesh, a reserved namespace, a reused idempotency key) → USAGE. Anything else → FAILED.
 */
export function exitCodeFor(status: number, code: string): number {
  if (status === 401 || status === 403 || code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') return EXIT.AUTH;
  if ([400, 413, 415, 422].includes(status)) return EXIT.USAGE;
  if (code === 'VALIDATION_FAILED' || code === 'MALFORMED_REQUEST') return EXIT.USAGE;
  return EXIT.FAILED;
}

/** The global option and environment variable behind each option of the client. */
const CONFIG_OPTIONS: Record<OsmConfigOption, { flag: string; env: string }> = {
  baseUrl: { flag: '--url', env: 'OSM_ONBOARDING_URL' },
  token: { flag: '--token', env: 'OSM_ONBOARDING_TOKEN' },
};

/**
 * A --url or --token the client refused, as a usage error naming where it came from (`source`: commander's value
 * source, `cli` or `env`; otherwise both are named). The client's message never holds the token or credentials.
 */
export function configError(err: OsmConfigError, source?: string): CliError {
  const { flag, env } = CONFIG_OPTIONS[err.option];
  const name = source === 'cli' ? flag : source === 'env' ? env : `${flag} (${env})`;
  return new CliError(`${name} ${err.rule}`, EXIT.USAGE);
}

/**
 * An error the CLI does not expect (a bug, a broken answer), as a CliError: its message without `secrets` (the
 * token, the URL's credentials), and no stack.
 */
export function unexpectedError(err: unknown, secrets: (string | undefined)[]): CliError {
  let message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  for (const secret of secrets) if (secret) message = message.replaceAll(secret, '***');
  return new CliError(message, EXIT.FAILED);
}

/** What to do when nothing answers at the API's URL. */
export const UNREACHABLE_HINT =
  'start the service (at the repository root: npm run demo, or npm start), ' +
  'or point the CLI at a running one with --url or OSM_ONBOARDING_URL';

/** The client's errors as CLI errors; anything else unchanged. */
export function toCliError(err: unknown): unknown {
  if (err instanceof OsmApiError) return new ApiError(err.status, err.body);
  if (err instanceof OsmConfigError) return configError(err);
  if (err instanceof OsmNetworkError)
    return new CliError(err.message, EXIT.UNREACHABLE, undefined, undefined, UNREACHABLE_HINT);
  if (err instanceof OsmStreamLostError) return new CliError(err.message, EXIT.UNREACHABLE);
  return err;
}
