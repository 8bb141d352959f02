// Following a restarted Deployment's rollout the way `kubectl rollout status deployment/<name>` does: its status
// rule (kubectl's DeploymentStatusViewer) and one watch from the restart patch's resourceVersion instead of polling.
import type { V1Deployment } from '@kubernetes/client-node';
import { DomainError } from '../../../common/domain-error.js';
import type { ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';

export interface RolloutStatus {
  done: boolean;
  /** kubectl's wording of where the rollout is. */
  message: string;
  /** Set when the rollout can no longer finish (the Deployment's progress deadline passed). */
  failed?: string;
}

/**
 * kubectl's rule for a Deployment (no `--revision`): the controller has seen the current generation, the
 * Progressing condition is not ProgressDeadlineExceeded, every wanted replica is updated, no old replica is
 * left and every updated replica is available. Missing status counters read as 0, as in Go.
 */
export function rolloutStatus(d: V1Deployment): RolloutStatus {
  const name = d.metadata?.name ?? '';
  const waiting = (what: string): RolloutStatus => ({
    done: false,
    message: `Waiting for deployment "${name}" rollout to finish: ${what}...`,
  });
  const s = d.status ?? {};
  if ((d.metadata?.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    const failed = `deployment "${name}" exceeded its progress deadline`;
    return { done: false, message: failed, failed };
  }
  const updated = s.updatedReplicas ?? 0;
  const wanted = d.spec?.replicas;
  if (wanted !== undefined && updated < wanted) {
    return waiting(`${updated} out of ${wanted} new replicas have been updated`);
  }
  if ((s.replicas ?? 0) > updated) {
    return waiting(`${(s.replicas ?? 0) - updated} old replicas are pending termination`);
  }
  if ((s.availableReplicas ?? 0) < updated) {
    return waiting(`${s.availableReplicas ?? 0} of ${updated} updated replicas are available`);
  }
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** Watches that fail in a row (connection dropped, 5xx) before the step fails; the runner retries the step. */
const WATCH_RETRIES = 3;

export interface FollowOptions {
  /** Epoch ms: the batch's ROLLOUT_TIMEOUT_MS bound. */
  deadline: number;
  timeoutMs: number;
  /** Pace of the fallback for API servers that cannot watch. */
  pollMs: number;
}

/**
 * Waits until `patched` (a restart patch's response) has rolled out and returns the Deployment as last seen.
 * One watch (`fieldSelector=metadata.name`, from the patch's resourceVersion, bookmarks on) normally carries
 * the whole rollout. A watch the server closes early is opened again from the last resourceVersion seen; a
 * 410 Gone (that version is compacted) is answered with one get and a watch from its resourceVersion; a watch
 * that fails to open or breaks (transient) is opened again, up to WATCH_RETRIES times in a row; an API server that
 * refuses to watch (405) is polled with gets every `pollMs`. The deadline bounds all of it (ROLLOUT_TIMEOUT).
 */
export async function followRollout(
  kube: ClusterClient,
  patched: V1Deployment,
  o: FollowOptions,
): Promise<V1Deployment> {
  const namespace = patched.metadata!.namespace!;
  const name = patched.metadata!.name!;
  let latest = patched;
  let resourceVersion = patched.metadata?.resourceVersion;
  let deleted = false;
  let canWatch = true;
  let failures = 0;
  for (;;) {
    const status = rolloutStatus(latest);
    if (status.failed) {
      throw new DomainError('ROLLOUT_TIMEOUT', status.failed, {
        hint: `kubectl describe deployment/${name} -n ${namespace} (its Progressing condition says why)`,
      });
    }
    if (status.done) return latest;
    if (Date.now() >= o.deadline) {
      const message = `rollout of ${name} did not finish within ${o.timeoutMs} ms: ${status.message}`;
      throw new DomainError('ROLLOUT_TIMEOUT', message, {
        hint: `kubectl rollout status deployment/${name} -n ${namespace}`,
      });
    }
    if (!canWatch) {
      await new Promise((r) => setTimeout(r, Math.min(o.pollMs, Math.max(0, o.deadline - Date.now()))));
      latest = await kube.getDeployment(namespace, name);
      continue;
    }
    try {
      const end = await kube.watchDeployment(namespace, name, {
        resourceVersion,
        deadline: o.deadline,
        onEvent: (type, d) => {
          if (type === 'BOOKMARK') return false;
          if (type === 'DELETED') return (deleted = true);
          latest = d;
          const now = rolloutStatus(d);
          return now.done || !!now.failed;
        },
      });
      if (deleted) {
        throw new DomainError('DEPLOYMENT_NOT_FOUND', `deployment ${namespace}/${name} was deleted during its rollout`);
      }
      resourceVersion = end.resourceVersion ?? resourceVersion;
      if (end.end === 'expired') {
        latest = await kube.getDeployment(namespace, name);
        resourceVersion = latest.metadata?.resourceVersion;
      }
      failures = 0;
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      // 405 MethodNotAllowed: this API server (or a proxy in front of it) does not serve watches.
      if (err.status === 405) canWatch = false;
      // A dropped connection, a 5xx or a 429: watch again, as a read would be retried (ClusterClient.call).
      else if (err.transient && failures < WATCH_RETRIES) {
        const backoff = 50 * 2 ** failures++;
        await new Promise((r) => setTimeout(r, Math.max(err.retryAfterMs ?? 0, backoff)));
      } else throw err;
    }
  }
}
