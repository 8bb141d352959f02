// Owns the fence around the Kubernetes client a step's work calls through. The runner gives a step up when its
// deadline passes (STEP_TIMEOUT) or when its worker lost the request's claim to another worker (a stale heartbeat);
// the step's work may still be running then (a rollout being followed, a batch of patches to come), and a promise
// cannot be cancelled from outside. Behind the fence the call in flight is cut and every later call of that work fails
// at once (ClusterClient.until), with the reason the step was given up, so a step nobody follows any more cannot write
// behind a newer request's back. A write also waits for `beforeWrite` (the runner's claim check after a stall).
import type { ClusterClient } from './cluster-client.js';

/** The client's methods that change the cluster. */
const WRITES = /^(create|patch|replace|update|delete)/;

export interface Fence {
  /** Aborted when the step is given up; its reason is the error every later call fails with. */
  signal: AbortSignal;
  /** Runs before each write; throws to refuse it. */
  beforeWrite?: () => Promise<void>;
}

/** `kube` behind `fence`: the same client, each call refused (or cut in flight) once the fence is shut. */
export function fencedClient(kube: ClusterClient, fence: Fence): ClusterClient {
  const why = () => (fence.signal.reason instanceof Error ? fence.signal.reason : new Error('the step was given up'));
  const guard = (out: unknown) =>
    out instanceof Promise
      ? out.catch((err: unknown) => {
          throw fence.signal.aborted ? why() : err;
        })
      : out;
  return new Proxy(kube.until(fence.signal), {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (typeof prop === 'string' && WRITES.test(prop)) {
        return async (...args: unknown[]) => {
          if (fence.signal.aborted) throw why();
          await fence.beforeWrite?.();
          if (fence.signal.aborted) throw why();
          return guard(method.apply(target, args));
        };
      }
      return (...args: unknown[]) => {
        if (fence.signal.aborted) throw why();
        return guard(method.apply(target, args));
      };
    },
  });
}
