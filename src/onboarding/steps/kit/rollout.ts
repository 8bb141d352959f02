// Following a restarted Deployment's rollout the way `kubectl rollout status deployment/<name>` does: its status
// rule (kubectl's DeploymentStatusViewer) and one watch per batch of restarted Deployments instead of polling.
import type { V1Deployment } from '@kubernetes/client-node';
import { DomainError } from '../../../common/domain-error.js';
import { SHORT_WATCH_MS, type ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import { isTerminating, namespaceTerminating } from '../../../mesh/namespace-rules.js';
import { readNamespace } from './namespaces.js';

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
/** The longest pause before a watch that follows ones cut short. */
const SHORT_WATCH_MAX_BACKOFF_MS = 2000;

export interface FollowOptions {
  /** Epoch ms: the batch's ROLLOUT_TIMEOUT_MS bound. */
  deadline: number;
  timeoutMs: number;
  /** Pace of the fallback for API servers that cannot watch. */
  pollMs: number;
}

/**
 * Waits until every Deployment of `patched` (one namespace's restart patch responses, one batch) has rolled out and
 * returns each as last seen, in the same order. One watch carries the whole batch:
 * - one Deployment: `fieldSelector=metadata.name=<name>` from its patch's resourceVersion, as `kubectl rollout
 *   status deployment/<name>` opens it;
 * - several: the namespace's Deployments from their current state (no resourceVersion: the server first sends
 *   each as it is now, so nothing between two patches is missed without comparing resourceVersions, which are
 *   opaque); events of other Deployments are ignored.
 * An event older than a Deployment's patch (a lower `metadata.generation`) is ignored. A watch the server closes
 * early is opened again from the last resourceVersion seen; a 410 Gone (that version is compacted) opens one from
 * the current state again; a watch that fails to open or breaks (transient) is opened again, up to WATCH_RETRIES
 * times in a row; an API server that refuses to watch (405) is polled with gets every `pollMs`. The deadline
 * bounds all of it (ROLLOUT_TIMEOUT).
 */
export async function followRollouts(
  kube: ClusterClient,
  patched: V1Deployment[],
  o: FollowOptions,
): Promise<V1Deployment[]> {
  if (patched.length === 0) return [];
  const namespace = patched[0].metadata!.namespace!;
  const nameOf = (d: V1Deployment) => d.metadata!.name!;
  const latest = new Map(patched.map((d) => [nameOf(d), d]));
  const generation = new Map(patched.map((d) => [nameOf(d), d.metadata?.generation ?? 0]));
  const single = patched.length === 1 ? nameOf(patched[0]) : undefined;
  let resourceVersion = single ? patched[0].metadata?.resourceVersion : undefined;
  let deleted: string | undefined;
  let canWatch = true;
  let failures = 0;
  let shortWatches = 0;
  const settled = () =>
    [...latest.values()].every((d) => {
      const status = rolloutStatus(d);
      return status.done || !!status.failed;
    });
  for (;;) {
    const waiting: { name: string; status: RolloutStatus }[] = [];
    for (const [name, d] of latest) {
      const status = rolloutStatus(d);
      if (status.failed) {
        throw new DomainError('ROLLOUT_TIMEOUT', status.failed, {
          hint: `kubectl describe deployment/${name} -n ${namespace} (its Progressing condition says why)`,
        });
      }
      if (!status.done) waiting.push({ name, status });
    }
    if (waiting.length === 0) return patched.map((d) => latest.get(nameOf(d))!);
    if (Date.now() >= o.deadline) {
      const names = waiting.map((w) => w.name);
      const where = waiting[0].status.message;
      const message = `rollout of ${names.join(', ')} did not finish within ${o.timeoutMs} ms: ${where}`;
      throw new DomainError('ROLLOUT_TIMEOUT', message, {
        hint: names.map((n) => `kubectl rollout status deployment/${n} -n ${namespace}`).join('; '),
      });
    }
    if (!canWatch) {
      await new Promise((r) => setTimeout(r, Math.min(o.pollMs, Math.max(0, o.deadline - Date.now()))));
      const read = await Promise.all(waiting.map((w) => kube.getDeployment(namespace, w.name)));
      for (const d of read) latest.set(nameOf(d), d);
      continue;
    }
    try {
      const opened = Date.now();
      const end = await kube.watchDeployments(namespace, {
        name: single,
        resourceVersion,
        deadline: o.deadline,
        onEvent: (type, d) => {
          if (type === 'BOOKMARK') return false;
          const name = d.metadata?.name ?? '';
          if (!latest.has(name)) return false;
          if (type === 'DELETED') {
            deleted = name;
            return true;
          }
          if ((d.metadata?.generation ?? 0) < generation.get(name)!) return false;
          latest.set(name, d);
          return settled();
        },
      });
      if (deleted) {
        // Deleted with its namespace (`kubectl delete namespace`): that is the cause to report.
        if (isTerminating(await readNamespace(kube, namespace))) throw namespaceTerminating(namespace);
        throw new DomainError(
          'DEPLOYMENT_NOT_FOUND',
          `deployment ${namespace}/${deleted} was deleted during its rollout`,
        );
      }
      // Expired: that resourceVersion is compacted; the next watch starts from the current state.
      resourceVersion = end.end === 'expired' ? undefined : (end.resourceVersion ?? resourceVersion);
      failures = 0;
      // A watch closed as soon as it opened (a proxy that cuts streams) is opened again after a pause that doubles,
      // up to SHORT_WATCH_MAX_BACKOFF_MS: else this loop would open watches as fast as the call budget allows.
      if (end.end === 'closed' && Date.now() - opened < SHORT_WATCH_MS) {
        const pause = Math.min(SHORT_WATCH_MAX_BACKOFF_MS, 50 * 2 ** shortWatches++);
        await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(0, o.deadline - Date.now()))));
      } else shortWatches = 0;
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
