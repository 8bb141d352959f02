// The edge's reading of a request path, the same on both HTTP platforms (src/http/platform.ts): every segment must be
// percent-encoded UTF-8 (else 400) and at most MAX_PATH_SEGMENT characters once decoded (else 414: Fastify's router
// refuses a longer path parameter itself, Express's has no limit). Both are MALFORMED_REQUEST in the API's error
// shape, and neither repeats the path (a URL a router cannot read, or kilobytes of it). Path parameters holding a NUL
// are refused by StorablePathParams (./storable-path-params.pipe.ts), which knows their names.
import { HTTP_STATUS } from './http-status.js';

/** Fastify's `maxParamLength` default, the longest path parameter its router takes: so on both platforms. */
export const MAX_PATH_SEGMENT = 100;

export interface PathRefusal {
  status: number;
  body: { error: { code: 'MALFORMED_REQUEST'; message: string } };
}

const refusal = (status: number, message: string): PathRefusal => ({
  status,
  body: { error: { code: 'MALFORMED_REQUEST', message: `malformed request: ${message}` } },
});

export const BAD_PATH = refusal(HTTP_STATUS.MALFORMED_REQUEST, 'the path is not valid percent-encoded UTF-8');
export const LONG_PATH_SEGMENT = refusal(414, `a path segment is longer than ${MAX_PATH_SEGMENT} characters`);

/** A path as both routers match it: any case, a trailing slash ignored (`/V1/Onboardings/` → `/v1/onboardings`). */
export const routerPath = (path: string): string => path.toLowerCase().replace(/(.)\/+$/, '$1');

/** The answer to a call whose path (without the query string) no router should read, or undefined. */
export function pathRefusal(path: string): PathRefusal | undefined {
  for (const segment of path.split('/')) {
    if (segment.length <= MAX_PATH_SEGMENT && !segment.includes('%')) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return BAD_PATH;
    }
    if (decoded.length > MAX_PATH_SEGMENT) return LONG_PATH_SEGMENT;
  }
  return undefined;
}
