// The CLI's exit codes and errors: what ends the CLI with a message, and how the client's errors (an API answer,
// an unreachable API, a lost event stream) map onto exit codes.
import { OsmApiError, OsmNetworkError, OsmStreamLostError, type OsmApiErrorBody } from '@osm-onboarding/client';

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

/** The client's errors as CLI errors; anything else unchanged. */
export function toCliError(err: unknown): unknown {
  if (err instanceof OsmApiError) return new ApiError(err.status, err.body);
  if (err instanceof OsmNetworkError || err instanceof OsmStreamLostError)
    return new CliError(err.message, EXIT.UNREACHABLE);
  return err;
}
