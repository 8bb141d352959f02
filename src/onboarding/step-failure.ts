// How the runner judges a step's failure and paces its retries: classify an error (retryable or not, its
// code and hint), the per-step deadline, the backoff, and whether a fresh plan drifted from a stored one.
import { DomainError, type ErrorCode } from '../common/domain-error.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { jsonEqual } from '../mesh/ownership.js';

export interface StepFailure {
  code: ErrorCode;
  message: string;
  hint?: string;
  /** e.g. the prerequisites' diagnostics that blocked the step. */
  details?: Record<string, unknown>;
  retryable: boolean;
  retryAfterMs?: number;
}

/**
 * Every step has a deadline on top of each Kubernetes call's own. A step past it fails
 * (STEP_TIMEOUT); its calls still end by their own deadlines, and a retry re-plans.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, step: string, giveUp?: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DomainError('STEP_TIMEOUT', `step ${step} did not finish within ${ms} ms`, {
        hint: "retry the request; see the step's events for where it stalled",
      });
      // The work goes on (a promise cannot be cancelled); its later Kubernetes calls are refused (fenced-client.ts).
      giveUp?.abort(err);
      reject(err);
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export function backoff(base: number, attempt: number): number {
  const exp = base * 2 ** (attempt - 1);
  return Math.round(exp / 2 + Math.random() * (exp / 2)); // "equal jitter"
}

const KUBE_CODES: Record<string, ErrorCode> = {
  FORBIDDEN: 'KUBE_FORBIDDEN',
  UNAUTHORIZED: 'KUBE_FORBIDDEN',
  INVALID: 'KUBE_INVALID',
  BAD_REQUEST: 'KUBE_INVALID',
  NOT_FOUND: 'KUBE_INVALID',
  NOT_SERVED: 'KUBE_RESOURCE_NOT_SERVED',
  TLS: 'KUBE_UNAVAILABLE',
  ALREADY_EXISTS: 'KUBE_CONFLICT',
  CONFLICT: 'KUBE_CONFLICT',
  TRANSIENT: 'KUBE_UNAVAILABLE',
};

/**
 * What to do about a Kubernetes refusal: RBAC's 403 (its message says the user "cannot <verb> resource"; other
 * 403s, a namespace being deleted or a quota exceeded, say their own reason), a resource the cluster does not serve.
 */
export function kubeHint(err: KubeError): string | undefined {
  if (err.reason === 'FORBIDDEN' && /\bcannot \w+ resource\b/.test(err.message))
    return "grant the service's ServiceAccount the verbs listed in deploy/rbac.yaml";
  if (err.reason === 'NOT_SERVED')
    return "install osm-edge v1.3.9's CRDs in the versions docs/osm-edge.md lists (kubectl api-resources shows them)";
  if (err.reason === 'TLS') return "check the kubeconfig's certificate-authority data and client certificate";
  return undefined;
}

/** Transient Kubernetes failures are retried; preconditions and permanent API errors are not. */
export function classify(err: unknown): StepFailure {
  if (err instanceof DomainError) {
    return {
      code: err.code,
      message: err.message,
      hint: err.options.hint,
      details: err.options.details,
      retryable: false,
    };
  }
  if (err instanceof KubeError) {
    return {
      code: KUBE_CODES[err.reason] ?? 'KUBE_UNAVAILABLE',
      message: err.message,
      retryable: err.reason === 'TRANSIENT' || err.reason === 'CONFLICT',
      retryAfterMs: err.retryAfterMs,
      hint: kubeHint(err),
    };
  }
  return { code: 'INTERNAL', message: `unexpected error: ${(err as Error)?.message ?? String(err)}`, retryable: false };
}

/**
 * Whether a step's fresh changes differ from the ones a dry run stored. The stored plan went through
 * Postgres JSONB, which reorders object keys and drops `undefined` members, so the comparison is
 * semantic (canonical JSON: keys sorted); list order still matters (a JSON patch's ops, the ports).
 */
export function plannedChangesDiffer(planned: unknown, fresh: unknown): boolean {
  return !jsonEqual(planned, fresh);
}
