import { ApiException } from '@kubernetes/client-node';

// Kubernetes failures as a closed set of reasons; callers branch on `reason`, never on HTTP codes.
// NOT_FOUND: the object does not exist. NOT_SERVED: the API server serves no such resource at all (a CRD that is not
// installed, or not in that version), which is not the object's absence. TLS: the connection's certificates were
// refused (a wrong CA, an expired or mismatched certificate), a configuration error that trying again won't fix.
export type KubeErrorReason =
  | 'NOT_FOUND'
  | 'NOT_SERVED'
  | 'CONFLICT'
  | 'ALREADY_EXISTS'
  | 'FORBIDDEN'
  | 'UNAUTHORIZED'
  | 'INVALID'
  | 'BAD_REQUEST'
  | 'TLS'
  | 'TRANSIENT';

export class KubeError extends Error {
  constructor(
    readonly reason: KubeErrorReason,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /**
     * A list's 410 Expired (etcd compacted past its continue token) carries a fresh token in its Status's
     * `metadata.continue`: the rest of the list from the same key, at the latest revision (no longer consistent).
     */
    readonly continueToken?: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }

  get transient(): boolean {
    return this.reason === 'TRANSIENT';
  }

  /**
   * When a caller refused because of this failure may try again, in whole seconds: the API server's own Retry-After
   * if it sent one, else 1 s; undefined when trying again would not help (a refusal, not an outage).
   */
  get retryAfterSeconds(): number | undefined {
    if (!this.transient) return undefined;
    return Math.max(1, Math.ceil((this.retryAfterMs ?? 1000) / 1000));
  }
}

/**
 * A call its caller gave up on (ClusterClient.until: a plan past its deadline), cut in flight or never sent: no
 * answer of the cluster's, and neither a KubeError nor a DomainError, so no step reports it as the cluster's failure.
 */
export class CallAbandoned extends Error {
  constructor(what: string) {
    super(`${what}: abandoned by its caller`);
    this.name = 'CallAbandoned';
  }
}

interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { name?: string };
  metadata?: { continue?: string };
}

/**
 * kube-apiserver's 404 for a path where it serves no resource at all (an API group, version or resource it does
 * not know, such as a CRD not installed or not served in that version) is one of two bodies:
 * - under a group no one serves, or a custom resource's group (apiextensions' crdHandler hands such paths to the
 *   notfoundhandler, k8s.io/apiserver/pkg/util/notfoundhandler): `404 page not found` as text/plain, no Status;
 * - a resource unknown inside a built-in group/version (go-restful): a Status with this message and no object
 *   named in `details`.
 * A missing object's 404 is always a Status that names the object (`details.name`: `<resource> "<name>" not
 * found`). So a 404 that is not a Status, or is this Status naming nothing, is NOT_SERVED. (client-go does the
 * same: a 404 without a Status body becomes NewGenericServerResponse's "could not find the requested resource".)
 */
const NOT_SERVED_MESSAGE = 'the server could not find the requested resource';

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
    } catch {
      // not JSON (a proxy's page, or kube-apiserver's plain-text 404): kept as the message, no kind
    }
    return { message: body.slice(0, 300).trim() || undefined };
  }
  return body ?? {};
}

function reasonFor(code: number, status: StatusBody): KubeErrorReason {
  if (code === 404) {
    const servesNothing = status.kind !== 'Status' || (status.message === NOT_SERVED_MESSAGE && !status.details?.name);
    return servesNothing ? 'NOT_SERVED' : 'NOT_FOUND';
  }
  if (code === 409) return status.reason === 'AlreadyExists' ? 'ALREADY_EXISTS' : 'CONFLICT';
  if (code === 403) return 'FORBIDDEN';
  if (code === 401) return 'UNAUTHORIZED';
  if (code === 422) return 'INVALID';
  if (code === 429 || code >= 500) return 'TRANSIENT';
  // 408 Request Timeout and 410 Gone (watch expiry) are worth another attempt.
  if (code === 408 || code === 410) return 'TRANSIENT';
  return 'BAD_REQUEST';
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/**
 * Node's codes for a TLS handshake that failed on a certificate: ours refused by the server (an `ERR_SSL_…` alert)
 * or the server's not trusted by us (OpenSSL's verify errors, a host name the certificate does not name).
 */
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$)/;

/** Turns whatever @kubernetes/client-node threw into a KubeError. Messages carry no credentials. */
export function toKubeError(err: unknown, what: string): KubeError {
  if (err instanceof KubeError) return err;
  if (err instanceof ApiException) {
    const status = parseStatus(err.body);
    const retryAfter = Number(err.headers?.['retry-after']);
    return new KubeError(
      reasonFor(err.code, status),
      `${what}: ${status.message ?? `HTTP ${err.code}`}`,
      err.code,
      Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
      (err.code === 410 && status.metadata?.continue) || undefined,
    );
  }
  const e = err as { name?: string; code?: string; type?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.type === 'aborted') {
    return new KubeError('TRANSIENT', `${what}: request timed out`);
  }
  const code = e?.code ?? e?.cause?.code;
  if (code && TLS_CODE.test(code)) {
    return new KubeError('TLS', `${what}: TLS handshake refused (${code}); check the kubeconfig's CA and certificates`);
  }
  if ((code && NETWORK_CODES.has(code)) || e?.type === 'system' || e?.name === 'FetchError') {
    return new KubeError('TRANSIENT', `${what}: connection failed (${code ?? 'network error'})`);
  }
  return new KubeError('TRANSIENT', `${what}: ${e?.message ?? 'unknown error'}`);
}
