// The client's errors: an API answer that is not 2xx (OsmApiError, with the service's error body or a synthetic
// one), an API that cannot be reached (OsmNetworkError), a bad base URL or token (OsmConfigError), an event stream
// lost for good, and a wait that ran out of time.
import type { components } from './generated/openapi.js';

/** The service's error codes (its OpenAPI document's `ErrorCode`). */
export type ServiceErrorCode = components['schemas']['ErrorCode'];

/** The code the client gives an answer that carries no service error body (a proxy's 502 page): `HTTP_<status>`. */
export type SyntheticErrorCode = `HTTP_${number}`;

/** The code of an OsmApiError: the service's, or the client's synthetic `HTTP_<status>`. */
export type OsmErrorCode = ServiceErrorCode | SyntheticErrorCode;

/** The `error` member of the service's error body (`{ error: { code, message, fields?, hint?, details? } }`). */
export type ApiErrorBody = components['schemas']['Error']['error'];

/** The body of an OsmApiError: the service's, or a synthetic one (`HTTP_<status>` and the answer's text). */
export type OsmApiErrorBody = Omit<ApiErrorBody, 'code'> & { code: OsmErrorCode };

export class OsmApiError extends Error {
  override readonly name = 'OsmApiError';

  constructor(
    readonly status: number,
    readonly body: OsmApiErrorBody,
    /** The answer's `Retry-After` in seconds, when it had one (429 and 503 answers do). */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${body.code}: ${body.message}`);
  }

  get code(): OsmErrorCode {
    return this.body.code;
  }

  /**
   * From a non-2xx answer: the service's error body, or a synthetic `HTTP_<status>` one for anything else;
   * `headers`, when given, for its Retry-After (a number of seconds).
   */
  static from(status: number, body: unknown, headers?: Headers): OsmApiError {
    const seconds = Number(headers?.get('retry-after') ?? NaN);
    const retryAfter = Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
    const error = (body as { error?: ApiErrorBody } | undefined)?.error;
    if (error && typeof error.code === 'string') return new OsmApiError(status, error, retryAfter);
    const text = typeof body === 'string' ? body.slice(0, 200) : '';
    const code: SyntheticErrorCode = `HTTP_${status}`;
    return new OsmApiError(status, { code, message: text || `the API answered ${status}` }, retryAfter);
  }
}

/** The API could not be reached (connection refused, DNS, TLS, timeout). */
export class OsmNetworkError extends Error {
  override readonly name = 'OsmNetworkError';

  constructor(
    readonly baseUrl: string,
    cause: unknown,
  ) {
    super(`cannot reach the API at ${baseUrl}: ${describe(cause)}`, { cause });
  }
}

/** Which option of `createOsmClient` an OsmConfigError is about. */
export type OsmConfigOption = 'baseUrl' | 'token';

/**
 * `createOsmClient` was given a base URL that is not an absolute http(s) URL or that carries credentials, or a token
 * that cannot be sent in a header. The message names the option and the rule (`token contains a line break …`), never
 * the token or the credentials.
 */
export class OsmConfigError extends Error {
  override readonly name = 'OsmConfigError';

  constructor(
    readonly option: OsmConfigOption,
    /** What is wrong with it, e.g. `must start with http:// or https://`. */
    readonly rule: string,
  ) {
    super(`${option} ${rule}`);
  }
}

/** A request's event stream could not be resumed after the allowed reconnections. */
export class OsmStreamLostError extends Error {
  override readonly name = 'OsmStreamLostError';
}

/** `waitForEnd` gave up; the request goes on (its last known state is attached). */
export class OsmTimeoutError extends Error {
  override readonly name = 'OsmTimeoutError';

  constructor(
    message: string,
    readonly request: components['schemas']['Request'] | undefined,
  ) {
    super(message);
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (e?.name === 'TimeoutError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
