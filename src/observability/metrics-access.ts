// Owns who may read /metrics (API and worker): anyone, or, with METRICS_TOKEN set, a scraper that sends it as a
// bearer token. The metrics name the kubeconfig's clusters and count their namespaces, which only admins are told
// otherwise; the API serves /metrics on the port its callers use.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether `authorization` (the request's header) may read the metrics; compared in constant time. */
export function metricsAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const match = /^Bearer (.+)$/i.exec(authorization ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), digest(token));
}
