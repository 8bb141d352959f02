// The typed client: openapi-fetch over the generated `paths`, with bearer auth, a per-call deadline and the
// service's error body turned into OsmApiError by `unwrap`; a base URL or token that cannot make a request is refused
// with OsmConfigError. Hand-written helpers build on it (events, wait).
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { OsmApiError, OsmConfigError, OsmNetworkError } from './errors.js';
import type { paths } from './generated/openapi.js';

export type OsmApi = Client<paths>;

export interface OsmClientOptions {
  /**
   * The service's base URL, e.g. `https://osm-onboarding.example.com`: an absolute http(s) URL without credentials,
   * query or fragment (else OsmConfigError).
   */
  baseUrl: string;
  /**
   * Bearer token (an API token or an OIDC access token); a function is asked before every call. Visible ASCII only
   * (no spaces, line breaks or other control characters), else OsmConfigError; empty: no Authorization header.
   */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Deadline of one ordinary call in ms (not of event streams); default 30 000. */
  timeoutMs?: number;
  userAgent?: string;
  /** Another fetch (a proxy agent, a test double); default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

export interface OsmClient {
  readonly baseUrl: string;
  /** The generated, typed calls: `api.GET('/v1/onboardings/{id}', { params: { path: { id } } })`. */
  readonly api: OsmApi;
}

/** The base URL without its trailing slashes; OsmConfigError when no request can be made to it. */
function checkBaseUrl(baseUrl: unknown): string {
  const refuse = (rule: string) => new OsmConfigError('baseUrl', rule);
  if (typeof baseUrl !== 'string' || !URL.canParse(baseUrl))
    throw refuse('must be an absolute http:// or https:// URL, e.g. https://osm-onboarding.example.com');
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('must start with http:// or https://');
  if (url.username || url.password) throw refuse('must not carry credentials (user:password@); pass a token instead');
  if (url.search || url.hash || baseUrl.includes('?') || baseUrl.includes('#'))
    throw refuse('must not have a query or fragment (the API paths are appended to it)');
  return baseUrl.replace(/\/+$/, '');
}

/**
 * The token, when it can be sent as `Authorization: Bearer <token>`: visible ASCII (what a header value and the
 * bearer syntax allow; an API token, a JWT). OsmConfigError otherwise; its message never repeats the token.
 */
function checkToken(token: unknown): string | undefined {
  if (token === undefined || token === '') return undefined;
  if (typeof token !== 'string') throw new OsmConfigError('token', `must be a string, not ${typeof token}`);
  const bad = /[^\x21-\x7e]/.exec(token);
  if (!bad) return token;
  const c = bad[0];
  const what =
    c === '\n' || c === '\r'
      ? 'a line break'
      : c === ' ' || c === '\t'
        ? 'white space'
        : c < ' ' || c === '\x7f'
          ? 'a control character'
          : 'a non-ASCII character';
  throw new OsmConfigError(
    'token',
    `contains ${what} (at character ${bad.index + 1}); a token is visible ASCII characters only`,
  );
}

export function createOsmClient(options: OsmClientOptions): OsmClient {
  const baseUrl = checkBaseUrl(options.baseUrl);
  if (typeof options.token !== 'function') checkToken(options.token);
  const api = createClient<paths>({ baseUrl, fetch: options.fetch });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const middleware: Middleware = {
    async onRequest({ request, options: call }) {
      const token = checkToken(typeof options.token === 'function' ? await options.token() : options.token);
      if (token) request.headers.set('authorization', `Bearer ${token}`);
      request.headers.set('user-agent', options.userAgent ?? 'osm-onboarding-client');
      if (!request.headers.has('accept')) request.headers.set('accept', 'application/json');
      if (call.parseAs === 'stream') return request;
      // Node's Request keeps the body when rebuilt from another Request.
      return new Request(request, { signal: AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]) });
    },
    onError({ error }) {
      if (error instanceof Error && error.name === 'AbortError') return error;
      return new OsmNetworkError(baseUrl, error);
    },
  };
  api.use(middleware);
  return { baseUrl, api };
}

/** The `data` of a 2xx answer; any other answer becomes an OsmApiError carrying the service's error body. */
export async function unwrap<D, E>(call: Promise<{ data?: D; error?: E; response: Response }>): Promise<D> {
  const { data, error, response } = await call;
  if (!response.ok) throw OsmApiError.from(response.status, error, response.headers);
  return data as D;
}
