// The REST client of the CLI: Node's fetch, bearer auth, and the API's error body mapped to exit codes.

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

export interface FieldIssue {
  field: string;
  message: string;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  fields?: FieldIssue[];
  hint?: string;
  details?: Record<string, unknown>;
}

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

export interface ClientOptions {
  url: string;
  token?: string;
  /** Deadline of one ordinary call (not of event streams). */
  timeoutMs?: number;
}

export class ApiClient {
  readonly base: string;

  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  private headers(extra: Record<string, string | undefined> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'osm-onboarding-cli' };
    if (this.options.token) h.authorization = `Bearer ${this.options.token}`;
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) h[k] = v;
    return h;
  }

  async call<T = any>(
    method: string,
    path: string,
    opts: {
      body?: unknown;
      query?: Record<string, string | number | undefined>;
      headers?: Record<string, string | undefined>;
    } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: this.headers({
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        }),
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw unreachable(this.base, err);
    }
    const text = await res.text().catch((err: unknown) => {
      throw unreachable(this.base, err);
    });
    const body = parseJson(text);
    if (!res.ok) throw apiError(res.status, body, text);
    return { status: res.status, body: body as T, headers: res.headers };
  }

  /** Opens an event stream; API errors (404, 401, …) are thrown, network failures become UNREACHABLE. */
  async stream(path: string, headers: Record<string, string | undefined>, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        headers: this.headers({ accept: 'text/event-stream', ...headers }),
        signal,
      });
    } catch (err) {
      throw unreachable(this.base, err);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw apiError(res.status, parseJson(text), text);
    }
    return res;
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function apiError(status: number, body: unknown, text: string): ApiError {
  const error = (body as { error?: ApiErrorBody } | undefined)?.error;
  if (error && typeof error.code === 'string') return new ApiError(status, error);
  return new ApiError(status, { code: `HTTP_${status}`, message: text.slice(0, 200) || `the API answered ${status}` });
}

export function unreachable(base: string, err: unknown): CliError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const why =
    e?.name === 'TimeoutError' ? 'timed out' : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err));
  return new CliError(`cannot reach the API at ${base}: ${why}`, EXIT.UNREACHABLE);
}
