// The typed client: openapi-fetch over the generated `paths`, with bearer auth, a per-call deadline and the
// service's error body turned into OsmApiError by `unwrap`. Hand-written helpers build on it (events, wait).
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { OsmApiError, OsmNetworkError } from './errors.js';
import type { paths } from './generated/openapi.js';

export type OsmApi = Client<paths>;

export interface OsmClientOptions {
  /** The service's base URL, e.g. `https://osm-onboarding.example.com`. */
  baseUrl: string;
  /** Bearer token (an API token or an OIDC access token); a function is asked before every call. */
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

export function createOsmClient(options: OsmClientOptions): OsmClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const api = createClient<paths>({ baseUrl, fetch: options.fetch });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const middleware: Middleware = {
    async onRequest({ request, options: call }) {
      const token = typeof options.token === 'function' ? await options.token() : options.token;
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
