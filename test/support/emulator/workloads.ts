// Simulated kube-controller-manager workload controllers: Deployment → ReplicaSet → Pod,
// StatefulSet → Pod and DaemonSet → Pod, with the labels, owner references, annotations and
// status fields the real controllers maintain. Deployments roll as kube-controller-manager 1.32 rolls them
// (maxSurge/maxUnavailable bounds, Progressing/Available conditions, the progress deadline).

import type { KubeApi } from './api.js';
import {
  controllerOf,
  controllerRef,
  EventRecorder,
  isOwnedBy,
  isTerminating,
  nsKey,
  podIsReady,
  splitKey,
  templateHash,
  WorkQueue,
} from './controller-kit.js';
import { isStatusError } from './errors.js';
import type { ResourceType } from './resources.js';
import type { StoreEvent } from './store.js';
import { asArray, asRecord, clone, jsonEqual, nowTimestamp, stringMap, type KubeObject } from './types.js';
import type { WorkTracker } from './work.js';

const DEPLOYMENTS = 'apps/deployments';
const REPLICASETS = 'apps/replicasets';
const STATEFULSETS = 'apps/statefulsets';
const DAEMONSETS = 'apps/daemonsets';
const PODS = '/pods';

type Obj = Record<string, unknown>;

interface Context {
  api: KubeApi;
  work: WorkTracker;
  recorder: EventRecorder;
  nodeName: string;
}

function rt(api: KubeApi, group: string, plural: string): ResourceType {
  const found = api.registry.byGroupResource(group, plural);
  if (!found) throw new Error(`${plural} not served`);
  return found;
}

function specOf(obj: KubeObject): Obj {
  return asRecord(obj.spec);
}

function statusOf(obj: KubeObject): Obj {
  return asRecord(obj.status);
}

function replicasOf(obj: KubeObject): number {
  const replicas = specOf(obj).replicas;
  return typeof replicas === 'number' ? replicas : 1;
}

/** Writes `status` through the status subresource; no-op writes are skipped by the registry. */
function writeStatus(api: KubeApi, type: ResourceType, obj: KubeObject, status: Obj): void {
  if (jsonEqual(statusOf(obj), status, CONDITION_TIMES)) return;
  // A shallow copy is enough: the update decodes (copies) its body before it keeps anything.
  const next = { ...obj, status };
  api.update(type, type.storageVersion, obj.metadata.namespace ?? '', obj.metadata.name ?? '', next, {
    subresource: 'status',
  });
}

/** Condition times change on every write; a status that differs only in them is not written. */
const CONDITION_TIMES: ReadonlySet<string> = new Set(['lastUpdateTime', 'lastTransitionTime']);

function podsOwnedBy(api: KubeApi, owner: KubeObject): KubeObject[] {
  return api.store.scan(PODS, owner.metadata.namespace).filter((pod) => isOwnedBy(pod, owner));
}

function newPodFromTemplate(
  owner: KubeObject,
  ownerKind: string,
  extraLabels: Record<string, string>,
  name?: string,
): KubeObject {
  const template = asRecord(specOf(owner).template);
  const meta = asRecord(template.metadata);
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: owner.metadata.namespace,
      labels: { ...stringMap(meta.labels), ...extraLabels },
      ownerReferences: [controllerRef(owner, 'apps/v1', ownerKind)],
    },
    spec: clone(asRecord(template.spec)),
  };
  if (name) pod.metadata.name = name;
  else pod.metadata.generateName = `${owner.metadata.name ?? ''}-`;
  const annotations = stringMap(meta.annotations);
  if (Object.keys(annotations).length > 0) pod.metadata.annotations = annotations;
  return pod;
}

/** Resolves "25%" or 1 against a replica count, as intstr.GetScaledValueFromIntOrPercent (rounding as asked). */
function scaled(value: unknown, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.endsWith('%')) {
    const exact = (Number(value.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  }
  return 0;
}

// ------------------------------------------------------------------ ReplicaSet

export class ReplicaSetController {
  readonly queue: WorkQueue;

  constructor(private readonly ctx: Context) {
    this.queue = new WorkQueue(ctx.work, (key) => this.reconcile(key));
  }

  onEvent(event: StoreEvent): void {
    if (event.typeKey === REPLICASETS) this.queue.add(nsKey(event.object));
    if (event.typeKey === PODS) {
      const owner = controllerOf(event.object);
      if (owner?.kind === 'ReplicaSet') this.queue.add(`${event.object.metadata.namespace ?? ''}/${owner.name}`);
    }
    // A new service account or a namespace relabel can unblock pod creation that failed before.
    if (
      (event.typeKey === '/serviceaccounts' && event.type === 'ADDED') ||
      (event.typeKey === '/namespaces' && event.type === 'MODIFIED')
    ) {
      const namespace = event.typeKey === '/namespaces' ? event.object.metadata.name : event.object.metadata.namespace;
      for (const rs of this.ctx.api.store.scan(REPLICASETS, namespace)) {
        if (podsOwnedBy(this.ctx.api, rs).filter((p) => !isTerminating(p)).length < replicasOf(rs)) {
          this.queue.forget(nsKey(rs));
          this.queue.add(nsKey(rs));
        }
      }
    }
  }

  reconcile(key: string): void {
    const { api, recorder } = this.ctx;
    const [namespace, name] = splitKey(key);
    const rs = api.store.peek(REPLICASETS, namespace, name);
    if (!rs || isTerminating(rs)) return;
    const pods = podsOwnedBy(api, rs);
    const active = pods.filter((p) => !isTerminating(p));
    const desired = replicasOf(rs);
    const podType = rt(api, '', 'pods');
    let failed = false;
    if (active.length < desired) {
      for (let i = active.length; i < desired; i++) {
        try {
          const created = api.create(podType, 'v1', namespace, newPodFromTemplate(rs, 'ReplicaSet', {}));
          recorder.record(
            rs,
            'Normal',
            'SuccessfulCreate',
            `Created pod: ${created.metadata.name ?? ''}`,
            'replicaset-controller',
          );
        } catch (err) {
          if (!isStatusError(err)) throw err;
          recorder.record(
            rs,
            'Warning',
            'FailedCreate',
            `Error creating: ${err.status.message ?? ''}`,
            'replicaset-controller',
          );
          failed = true;
          break;
        }
      }
    } else if (active.length > desired) {
      // Delete the least useful pods first: not ready, then newest.
      const victims = [...active]
        .sort(
          (a, b) =>
            Number(podIsReady(a)) - Number(podIsReady(b)) ||
            String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)),
        )
        .slice(0, active.length - desired);
      for (const pod of victims) {
        try {
          api.delete(podType, 'v1', namespace, pod.metadata.name ?? '');
          recorder.record(
            rs,
            'Normal',
            'SuccessfulDelete',
            `Deleted pod: ${pod.metadata.name ?? ''}`,
            'replicaset-controller',
          );
        } catch (err) {
          if (!isStatusError(err) || err.code !== 404) throw err;
        }
      }
    }
    const current = api.store.peek(REPLICASETS, namespace, name);
    if (!current) return;
    const live = podsOwnedBy(api, current).filter((p) => !isTerminating(p));
    const ready = live.filter(podIsReady).length;
    writeStatus(api, rt(api, 'apps', 'replicasets'), current, {
      replicas: live.length,
      fullyLabeledReplicas: live.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: current.metadata.generation,
    });
    if (failed) this.queue.retry(key);
    else this.queue.forget(key);
  }
}

// ------------------------------------------------------------------ Deployment

/** math.MaxInt32: a progressDeadlineSeconds that means "no deadline" (deploymentutil.HasProgressDeadline). */
const NO_PROGRESS_DEADLINE = 2147483647;
const TIMED_OUT = 'ProgressDeadlineExceeded';
const NEW_RS_AVAILABLE = 'NewReplicaSetAvailable';

/** The seconds of spec.progressDeadlineSeconds, or undefined when the Deployment has no progress deadline. */
function progressDeadline(deploy: KubeObject): number | undefined {
  const seconds = specOf(deploy).progressDeadlineSeconds;
  return typeof seconds === 'number' && seconds !== NO_PROGRESS_DEADLINE ? seconds : undefined;
}

/**
 * deploymentutil.MaxSurge and MaxUnavailable: ResolveFenceposts (surge rounds up, unavailable down, both 0 makes
 * unavailable 1), 0 for Recreate, unavailable at most the replicas and 0 for 0 replicas.
 */
function fenceposts(deploy: KubeObject): { surge: number; unavailable: number } {
  const strategy = asRecord(specOf(deploy).strategy);
  if (strategy.type === 'Recreate') return { surge: 0, unavailable: 0 };
  const desired = replicasOf(deploy);
  const rolling = asRecord(strategy.rollingUpdate);
  const surge = scaled(rolling.maxSurge ?? 0, desired, true);
  let unavailable = scaled(rolling.maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: desired === 0 ? 0 : Math.min(unavailable, desired) };
}

/** deploymentutil.NewRSNewReplicas (RollingUpdate): grow the new ReplicaSet while all stay ≤ replicas + maxSurge. */
function newRsReplicas(deploy: KubeObject, allReplicas: number, newReplicas: number): number {
  const desired = replicasOf(deploy);
  const maxTotal = desired + fenceposts(deploy).surge;
  if (allReplicas >= maxTotal) return newReplicas;
  return newReplicas + Math.min(maxTotal - allReplicas, desired - newReplicas);
}

/** controller.ReplicaSetsByCreationTimestamp: oldest first, then by name. */
function byCreation(a: KubeObject, b: KubeObject): number {
  const at = String(a.metadata.creationTimestamp ?? '');
  const bt = String(b.metadata.creationTimestamp ?? '');
  return at.localeCompare(bt) || String(a.metadata.name).localeCompare(String(b.metadata.name));
}

function sumOf(sets: KubeObject[], read: (rs: KubeObject) => unknown): number {
  return sets.reduce((total, rs) => total + Number(read(rs) ?? 0), 0);
}

function newCondition(type: string, status: string, reason: string, message: string): Obj {
  const now = nowTimestamp();
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

function getCondition(conditions: Obj[], type: string): Obj | undefined {
  return conditions.find((c) => c.type === type);
}

/**
 * deploymentutil.SetDeploymentCondition: nothing changes when a condition of that type has the same status and
 * reason; else it replaces it at the end of the list, keeping lastTransitionTime when the status is the same.
 */
function setCondition(conditions: Obj[], condition: Obj): Obj[] {
  const current = getCondition(conditions, String(condition.type));
  if (current && current.status === condition.status && current.reason === condition.reason) return conditions;
  const next =
    current && current.status === condition.status
      ? { ...condition, lastTransitionTime: current.lastTransitionTime }
      : condition;
  return [...conditions.filter((c) => c.type !== condition.type), next];
}

function removeCondition(conditions: Obj[], type: string): Obj[] {
  return conditions.filter((c) => c.type !== type);
}

/**
 * Deployment controller (pkg/controller/deployment): creates the new ReplicaSet of a template, rolls from the old
 * ones as rolling.go does (the new one grows while all ReplicaSets together stay within replicas + maxSurge, old ones
 * shrink while replicas − maxUnavailable pods stay available; one step per sync, the next when a ReplicaSet changes),
 * or as Recreate (old ones to 0 first), and writes the status with its Available and Progressing conditions as
 * sync.go/progress.go do, ProgressDeadlineExceeded included: a rollout without progress for
 * spec.progressDeadlineSeconds is looked at again when that deadline passes (requeueStuckDeployment).
 */
export class DeploymentController {
  readonly queue: WorkQueue;
  /** When each Deployment's pending progress check (requeueStuckDeployment) is due, epoch ms. */
  private readonly progressChecks = new Map<string, number>();

  constructor(private readonly ctx: Context) {
    this.queue = new WorkQueue(ctx.work, (key) => this.reconcile(key));
  }

  onEvent(event: StoreEvent): void {
    if (event.typeKey === DEPLOYMENTS) this.queue.add(nsKey(event.object));
    if (event.typeKey === REPLICASETS) {
      const owner = controllerOf(event.object);
      if (owner?.kind === 'Deployment') this.queue.add(`${event.object.metadata.namespace ?? ''}/${owner.name}`);
    }
  }

  private owned(deploy: KubeObject): KubeObject[] {
    return this.ctx.api.store.scan(REPLICASETS, deploy.metadata.namespace).filter((rs) => isOwnedBy(rs, deploy));
  }

  reconcile(key: string): void {
    const { api, recorder } = this.ctx;
    const [namespace, name] = splitKey(key);
    const deploy = api.store.peek(DEPLOYMENTS, namespace, name);
    if (!deploy || isTerminating(deploy)) return;
    const rsType = rt(api, 'apps', 'replicasets');
    const spec = specOf(deploy);
    const desired = replicasOf(deploy);
    const paused = spec.paused === true;
    const template = asRecord(spec.template);
    const hash = templateHash(template);
    const owned = this.owned(deploy);
    const revisionOf = (rs: KubeObject): number =>
      Number(stringMap(rs.metadata.annotations)['deployment.kubernetes.io/revision'] ?? '0');
    let newRs = owned.find((rs) => stringMap(rs.metadata.labels)['pod-template-hash'] === hash);
    const recreate = asRecord(spec.strategy).type === 'Recreate';
    const deadline = progressDeadline(deploy);
    // Conditions the sync writes before it scales anything (checkPausedConditions, getNewReplicaSet), each with
    // its own UpdateStatus as in kube; the rollout's progress is then measured against the status so written.
    this.writeConditions(key, this.pausedConditions(deploy));
    if (!newRs && !paused) {
      const revision = Math.max(0, ...owned.map(revisionOf)) + 1;
      const oldPodsRunning = owned.some((rs) => replicasOf(rs) > 0 || Number(statusOf(rs).replicas ?? 0) > 0);
      const selector = clone(asRecord(spec.selector));
      selector.matchLabels = { ...stringMap(selector.matchLabels), 'pod-template-hash': hash };
      const rsTemplate = clone(template);
      rsTemplate.metadata = {
        ...asRecord(rsTemplate.metadata),
        labels: { ...stringMap(asRecord(template.metadata).labels), 'pod-template-hash': hash },
      };
      let initial: number;
      if (recreate) initial = oldPodsRunning ? 0 : desired;
      else initial = newRsReplicas(deploy, sumOf(owned, replicasOf), 0);
      const body: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace,
          labels: { ...stringMap(asRecord(template.metadata).labels), 'pod-template-hash': hash },
          annotations: {
            'deployment.kubernetes.io/desired-replicas': String(desired),
            'deployment.kubernetes.io/max-replicas': String(desired + fenceposts(deploy).surge),
            'deployment.kubernetes.io/revision': String(revision),
          },
          ownerReferences: [controllerRef(deploy, 'apps/v1', 'Deployment')],
        },
        spec: { replicas: initial, minReadySeconds: spec.minReadySeconds ?? 0, selector, template: rsTemplate },
      };
      newRs = api.create(rsType, 'v1', namespace, body);
      const created = newRs.metadata.name ?? '';
      if (initial > 0)
        recorder.record(
          deploy,
          'Normal',
          'ScalingReplicaSet',
          `Scaled up replica set ${created} to ${initial}`,
          'deployment-controller',
        );
      this.setRevision(deploy, String(revision));
      if (deadline !== undefined) {
        const message = `Created new replica set "${created}"`;
        this.setProgressing(key, newCondition('Progressing', 'True', 'NewReplicaSetCreated', message));
      }
    } else if (newRs && deadline !== undefined && !getCondition(this.conditionsOf(key), 'Progressing')) {
      const found = `Found new replica set "${newRs.metadata.name ?? ''}"`;
      this.setProgressing(key, newCondition('Progressing', 'True', 'FoundNewReplicaSet', found));
    }

    // The ReplicaSet that should carry the desired replicas: the new one, or the newest when paused.
    const current = newRs ?? [...owned].sort((a, b) => revisionOf(b) - revisionOf(a))[0];
    const olds = this.owned(deploy).filter((rs) => rs.metadata.uid !== current?.metadata.uid);
    if (current && (paused || recreate)) {
      const oldPods = olds.reduce((sum, rs) => sum + Number(statusOf(rs).replicas ?? 0) + replicasOf(rs), 0);
      const target = recreate && oldPods > 0 && !paused ? 0 : desired;
      if (recreate && !paused) for (const rs of olds) this.scale(rs, 0, deploy);
      this.scale(current, target, deploy);
    } else if (newRs) {
      // rolloutRolling: scale the new ReplicaSet up if it may, else the old ones down if they may.
      if (!this.reconcileNewReplicaSet(deploy, newRs)) this.reconcileOldReplicaSets(deploy, newRs);
    }
    // A paused Deployment whose template changed has no new ReplicaSet: kube-controller-manager's status then
    // counts 0 updated replicas (calculateStatus over a nil newRS), so `kubectl rollout status` keeps waiting.
    this.updateStatus(key, newRs?.metadata.name, !paused);
  }

  private conditionsOf(key: string): Obj[] {
    const [namespace, name] = splitKey(key);
    const deploy = this.ctx.api.store.peek(DEPLOYMENTS, namespace, name);
    return asArray(deploy && statusOf(deploy).conditions).map(asRecord);
  }

  private setProgressing(key: string, condition: Obj): void {
    this.writeConditions(key, setCondition(this.conditionsOf(key), condition));
  }

  /** UpdateStatus of the stored Deployment with other conditions and the rest of its status as it is. */
  private writeConditions(key: string, conditions: Obj[]): void {
    const [namespace, name] = splitKey(key);
    const deploy = this.ctx.api.store.peek(DEPLOYMENTS, namespace, name);
    if (!deploy || jsonEqual(asArray(statusOf(deploy).conditions), conditions)) return;
    writeStatus(this.ctx.api, rt(this.ctx.api, 'apps', 'deployments'), deploy, { ...statusOf(deploy), conditions });
  }

  /** reconcileNewReplicaSet: whether the new ReplicaSet was scaled. */
  private reconcileNewReplicaSet(deploy: KubeObject, newRs: KubeObject): boolean {
    const desired = replicasOf(deploy);
    const fresh = this.fresh(newRs);
    if (!fresh) return false;
    const replicas = replicasOf(fresh);
    if (replicas === desired) return false;
    if (replicas > desired) return this.scale(fresh, desired, deploy);
    return this.scale(fresh, newRsReplicas(deploy, sumOf(this.owned(deploy), replicasOf), replicas), deploy);
  }

  /**
   * reconcileOldReplicaSets: scale old ReplicaSets down by at most what keeps replicas − maxUnavailable pods
   * available, counting the new ReplicaSet's unavailable pods as lost: first their unhealthy pods
   * (cleanupUnhealthyReplicas), then available ones (scaleDownOldReplicaSetsForRollingUpdate), oldest first.
   */
  private reconcileOldReplicaSets(deploy: KubeObject, newRs: KubeObject): boolean {
    const all = this.owned(deploy);
    const fresh = all.find((rs) => rs.metadata.uid === newRs.metadata.uid) ?? newRs;
    const olds = all.filter((rs) => rs.metadata.uid !== newRs.metadata.uid && replicasOf(rs) > 0).sort(byCreation);
    if (sumOf(olds, replicasOf) === 0) return false;
    const minAvailable = replicasOf(deploy) - fenceposts(deploy).unavailable;
    const newUnavailable = replicasOf(fresh) - Number(statusOf(fresh).availableReplicas ?? 0);
    const maxScaledDown = sumOf(all, replicasOf) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    let cleaned = 0;
    const sizes = new Map(olds.map((rs) => [rs.metadata.uid, replicasOf(rs)]));
    for (const rs of olds) {
      if (cleaned >= maxScaledDown) break;
      const available = Number(statusOf(rs).availableReplicas ?? 0);
      const size = replicasOf(rs);
      // No unhealthy replicas (kube refuses a "scale down" that would grow one whose status is ahead of its spec).
      if (size <= available) continue;
      const down = Math.min(maxScaledDown - cleaned, size - available);
      this.scale(rs, size - down, deploy);
      sizes.set(rs.metadata.uid, size - down);
      cleaned += down;
    }
    const available = sumOf(all, (rs) => statusOf(rs).availableReplicas);
    let scaledDown = 0;
    if (available > minAvailable) {
      const wanted = available - minAvailable;
      for (const rs of olds) {
        if (scaledDown >= wanted) break;
        const size = sizes.get(rs.metadata.uid) ?? 0;
        if (size === 0) continue;
        const down = Math.min(size, wanted - scaledDown);
        this.scale(rs, size - down, deploy);
        scaledDown += down;
      }
    }
    return cleaned + scaledDown > 0;
  }

  private fresh(rs: KubeObject): KubeObject | undefined {
    return this.ctx.api.store.peek(REPLICASETS, rs.metadata.namespace ?? '', rs.metadata.name ?? '');
  }

  /** Scales a ReplicaSet (with its desired/max-replicas annotations, as scaleReplicaSet); whether it changed. */
  private scale(rs: KubeObject, replicas: number, deploy: KubeObject): boolean {
    const { api, recorder } = this.ctx;
    const fresh = this.fresh(rs);
    if (!fresh || replicasOf(fresh) === replicas) return false;
    const before = replicasOf(fresh);
    const desired = replicasOf(deploy);
    // Shallow copies: the update decodes (copies) its body before it keeps anything, and `fresh` is not mutated.
    const next: KubeObject = {
      ...fresh,
      spec: { ...asRecord(fresh.spec), replicas },
      metadata: {
        ...fresh.metadata,
        annotations: {
          ...stringMap(fresh.metadata.annotations),
          'deployment.kubernetes.io/desired-replicas': String(desired),
          'deployment.kubernetes.io/max-replicas': String(desired + fenceposts(deploy).surge),
        },
      },
    };
    api.update(rt(api, 'apps', 'replicasets'), 'v1', fresh.metadata.namespace ?? '', fresh.metadata.name ?? '', next);
    const verb = replicas > before ? 'up' : 'down';
    recorder.record(
      deploy,
      'Normal',
      'ScalingReplicaSet',
      `Scaled ${verb} replica set ${fresh.metadata.name ?? ''} to ${replicas} from ${before}`,
      'deployment-controller',
    );
    return true;
  }

  private setRevision(deploy: KubeObject, revision: string): void {
    const { api } = this.ctx;
    const fresh = api.store.peek(DEPLOYMENTS, deploy.metadata.namespace ?? '', deploy.metadata.name ?? '');
    if (!fresh || stringMap(fresh.metadata.annotations)['deployment.kubernetes.io/revision'] === revision) return;
    const next: KubeObject = {
      ...fresh,
      metadata: {
        ...fresh.metadata,
        annotations: { ...stringMap(fresh.metadata.annotations), 'deployment.kubernetes.io/revision': revision },
      },
    };
    // The deployment controller writes the revision with UpdateStatus: no generation bump.
    api.update(rt(api, 'apps', 'deployments'), 'v1', fresh.metadata.namespace ?? '', fresh.metadata.name ?? '', next, {
      subresource: 'status',
    });
  }

  /**
   * checkPausedConditions: Progressing Unknown DeploymentPaused while paused, DeploymentResumed once resumed (so the
   * time spent paused does not count against the deadline); a ProgressDeadlineExceeded condition is kept.
   */
  private pausedConditions(deploy: KubeObject): Obj[] {
    const conditions = asArray(statusOf(deploy).conditions).map(asRecord);
    if (progressDeadline(deploy) === undefined) return conditions;
    const cond = getCondition(conditions, 'Progressing');
    if (cond?.reason === TIMED_OUT) return conditions;
    const pausedCond = cond?.reason === 'DeploymentPaused';
    if (specOf(deploy).paused === true && !pausedCond)
      return setCondition(
        conditions,
        newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused'),
      );
    if (specOf(deploy).paused !== true && pausedCond)
      return setCondition(
        conditions,
        newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed'),
      );
    return conditions;
  }

  /**
   * calculateStatus, then (`rollout`: not paused) syncRolloutStatus's progress estimate against the last written
   * status: complete → NewReplicaSetAvailable; any progress (more updated, ready or available replicas, fewer old
   * ones) → ReplicaSetUpdated with a new lastUpdateTime; no progress for progressDeadlineSeconds since that
   * lastUpdateTime → Progressing=False ProgressDeadlineExceeded.
   */
  private updateStatus(key: string, newRsName: string | undefined, rollout: boolean): void {
    const { api } = this.ctx;
    const [namespace, name] = splitKey(key);
    const deploy = api.store.peek(DEPLOYMENTS, namespace, name);
    if (!deploy) return;
    const conditions = asArray(statusOf(deploy).conditions).map(asRecord);
    const all = this.owned(deploy);
    const newRs = all.find((rs) => rs.metadata.name === newRsName);
    const desired = replicasOf(deploy);
    const available = sumOf(all, (rs) => statusOf(rs).availableReplicas);
    const status = {
      observedGeneration: deploy.metadata.generation,
      replicas: sumOf(all, (rs) => statusOf(rs).replicas),
      updatedReplicas: newRs ? Number(statusOf(newRs).replicas ?? 0) : 0,
      readyReplicas: sumOf(all, (rs) => statusOf(rs).readyReplicas),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, sumOf(all, replicasOf) - available),
    };
    let conds =
      available >= desired - fenceposts(deploy).unavailable
        ? setCondition(
            conditions,
            newCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
          )
        : setCondition(
            conditions,
            newCondition(
              'Available',
              'False',
              'MinimumReplicasUnavailable',
              'Deployment does not have minimum availability.',
            ),
          );
    const deadline = progressDeadline(deploy);
    const complete =
      status.updatedReplicas === desired && status.replicas === desired && status.availableReplicas === desired;
    if (rollout) {
      if (deadline === undefined) conds = removeCondition(conds, 'Progressing');
      const currentCond = getCondition(conditions, 'Progressing');
      const completed = status.replicas === status.updatedReplicas && currentCond?.reason === NEW_RS_AVAILABLE;
      const rsName = newRs ? `ReplicaSet "${newRs.metadata.name ?? ''}"` : `Deployment "${name}"`;
      if (deadline !== undefined && !completed) {
        const before = statusOf(deploy);
        const old = (field: string): number => Number(before[field] ?? 0);
        const progressed =
          status.updatedReplicas > old('updatedReplicas') ||
          status.replicas - status.updatedReplicas < old('replicas') - old('updatedReplicas') ||
          status.readyReplicas > old('readyReplicas') ||
          status.availableReplicas > old('availableReplicas');
        const progressing = getCondition(conds, 'Progressing');
        if (complete) {
          const done = `${rsName} has successfully progressed.`;
          conds = setCondition(conds, newCondition('Progressing', 'True', NEW_RS_AVAILABLE, done));
        } else if (progressed) {
          const cond = newCondition('Progressing', 'True', 'ReplicaSetUpdated', `${rsName} is progressing.`);
          if (currentCond?.status === 'True') cond.lastTransitionTime = currentCond.lastTransitionTime;
          conds = setCondition(removeCondition(conds, 'Progressing'), cond);
        } else if (progressing && progressing.reason !== NEW_RS_AVAILABLE && this.timedOut(progressing, deadline)) {
          const timedOut = `${rsName} has timed out progressing.`;
          conds = setCondition(conds, newCondition('Progressing', 'False', TIMED_OUT, timedOut));
        }
      }
    }
    const next: Obj = { ...status, conditions: conds };
    for (const field of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'])
      if (next[field] === 0) delete next[field];
    writeStatus(api, rt(api, 'apps', 'deployments'), deploy, next);
    if (rollout && deadline !== undefined && !complete)
      this.requeueStuck(key, getCondition(conds, 'Progressing'), deadline);
  }

  /** deploymentutil.DeploymentTimedOut: lastUpdateTime + progressDeadlineSeconds is before now. */
  private timedOut(cond: Obj, deadline: number): boolean {
    if (cond.reason === TIMED_OUT) return true;
    return Date.parse(String(cond.lastUpdateTime)) + deadline * 1000 < Date.now();
  }

  /**
   * requeueStuckDeployment: a rollout that may get stuck is looked at again when its deadline passes (kube adds a
   * second to that; the emulator looks a few milliseconds after). Untracked: idle() does not wait for deadlines.
   */
  private requeueStuck(key: string, cond: Obj | undefined, deadline: number): void {
    if (!cond || cond.reason === TIMED_OUT || cond.reason === NEW_RS_AVAILABLE) return;
    const now = Date.now();
    const after = Date.parse(String(cond.lastUpdateTime)) + deadline * 1000 - now;
    const due = now + (after >= 0 ? after + 5 : 1000);
    const pending = this.progressChecks.get(key);
    if (pending !== undefined && pending > now && pending <= due) return;
    this.progressChecks.set(key, due);
    this.ctx.work.scheduleUntracked(due - now, () => {
      if (this.progressChecks.get(key) === due) this.progressChecks.delete(key);
      this.queue.add(key);
    });
  }
}

// ------------------------------------------------------------------ StatefulSet

export class StatefulSetController {
  readonly queue: WorkQueue;

  constructor(private readonly ctx: Context) {
    this.queue = new WorkQueue(ctx.work, (key) => this.reconcile(key));
  }

  onEvent(event: StoreEvent): void {
    if (event.typeKey === STATEFULSETS) this.queue.add(nsKey(event.object));
    if (event.typeKey === PODS) {
      const owner = controllerOf(event.object);
      if (owner?.kind === 'StatefulSet') this.queue.add(`${event.object.metadata.namespace ?? ''}/${owner.name}`);
    }
    if (event.typeKey === '/namespaces' && event.type === 'MODIFIED')
      for (const sts of this.ctx.api.store.scan(STATEFULSETS, event.object.metadata.name)) this.queue.add(nsKey(sts));
  }

  reconcile(key: string): void {
    const { api, recorder } = this.ctx;
    const [namespace, name] = splitKey(key);
    const sts = api.store.peek(STATEFULSETS, namespace, name);
    if (!sts || isTerminating(sts)) return;
    const podType = rt(api, '', 'pods');
    const desired = replicasOf(sts);
    const revision = `${name}-${templateHash(asRecord(specOf(sts).template))}`;
    const pods = podsOwnedBy(api, sts);
    const byOrdinal = new Map(pods.map((p) => [Number((p.metadata.name ?? '').slice(name.length + 1)), p]));
    const parallel = specOf(sts).podManagementPolicy === 'Parallel';
    let failed = false;

    for (const [ordinal, pod] of byOrdinal) {
      if (ordinal >= desired && !isTerminating(pod)) api.delete(podType, 'v1', namespace, pod.metadata.name ?? '');
    }
    for (let i = 0; i < desired; i++) {
      const pod = byOrdinal.get(i);
      if (pod) {
        if (!podIsReady(pod) && !parallel) break;
        continue;
      }
      const podName = `${name}-${i}`;
      const body = newPodFromTemplate(
        sts,
        'StatefulSet',
        {
          'controller-revision-hash': revision,
          'statefulset.kubernetes.io/pod-name': podName,
          'apps.kubernetes.io/pod-index': String(i),
        },
        podName,
      );
      const podSpec = body.spec as Obj;
      podSpec.hostname = podName;
      if (typeof specOf(sts).serviceName === 'string' && specOf(sts).serviceName)
        podSpec.subdomain = specOf(sts).serviceName;
      try {
        api.create(podType, 'v1', namespace, body);
        recorder.record(
          sts,
          'Normal',
          'SuccessfulCreate',
          `create Pod ${podName} in StatefulSet ${name} successful`,
          'statefulset-controller',
        );
      } catch (err) {
        if (!isStatusError(err)) throw err;
        if (err.code !== 409)
          recorder.record(
            sts,
            'Warning',
            'FailedCreate',
            `create Pod ${podName} in StatefulSet ${name} failed error: ${err.status.message ?? ''}`,
            'statefulset-controller',
          );
        failed = true;
      }
      if (!parallel) break;
    }
    // Rolling update: replace the highest outdated pod once everything else is ready.
    const live = podsOwnedBy(api, sts).filter((p) => !isTerminating(p));
    if (asRecord(specOf(sts).updateStrategy).type !== 'OnDelete' && live.length === desired && live.every(podIsReady)) {
      const outdated = live
        .filter((p) => stringMap(p.metadata.labels)['controller-revision-hash'] !== revision)
        .sort((a, b) =>
          String(b.metadata.name).localeCompare(String(a.metadata.name), undefined, { numeric: true }),
        )[0];
      if (outdated) api.delete(podType, 'v1', namespace, outdated.metadata.name ?? '');
    }
    const fresh = api.store.peek(STATEFULSETS, namespace, name);
    if (!fresh) return;
    const now = podsOwnedBy(api, fresh).filter((p) => !isTerminating(p));
    const ready = now.filter(podIsReady).length;
    const updated = now.filter((p) => stringMap(p.metadata.labels)['controller-revision-hash'] === revision).length;
    writeStatus(api, rt(api, 'apps', 'statefulsets'), fresh, {
      observedGeneration: fresh.metadata.generation,
      replicas: now.length,
      readyReplicas: ready,
      currentReplicas: updated,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision: revision,
      updateRevision: revision,
      collisionCount: 0,
    });
    if (failed) this.queue.retry(key);
    else this.queue.forget(key);
  }
}

// ------------------------------------------------------------------ DaemonSet (one simulated node)

export class DaemonSetController {
  readonly queue: WorkQueue;

  constructor(private readonly ctx: Context) {
    this.queue = new WorkQueue(ctx.work, (key) => this.reconcile(key));
  }

  onEvent(event: StoreEvent): void {
    if (event.typeKey === DAEMONSETS) this.queue.add(nsKey(event.object));
    if (event.typeKey === PODS) {
      const owner = controllerOf(event.object);
      if (owner?.kind === 'DaemonSet') this.queue.add(`${event.object.metadata.namespace ?? ''}/${owner.name}`);
    }
  }

  reconcile(key: string): void {
    const { api } = this.ctx;
    const [namespace, name] = splitKey(key);
    const ds = api.store.peek(DAEMONSETS, namespace, name);
    if (!ds || isTerminating(ds)) return;
    const podType = rt(api, '', 'pods');
    const revision = templateHash(asRecord(specOf(ds).template));
    const live = podsOwnedBy(api, ds).filter((p) => !isTerminating(p));
    for (const pod of live) {
      if (stringMap(pod.metadata.labels)['controller-revision-hash'] !== revision)
        api.delete(podType, 'v1', namespace, pod.metadata.name ?? '');
    }
    const current = podsOwnedBy(api, ds).filter((p) => !isTerminating(p));
    let failed = false;
    if (current.length === 0) {
      const body = newPodFromTemplate(ds, 'DaemonSet', {
        'controller-revision-hash': revision,
        'pod-template-generation': String(ds.metadata.generation ?? 1),
      });
      try {
        api.create(podType, 'v1', namespace, body);
      } catch (err) {
        if (!isStatusError(err)) throw err;
        failed = true;
      }
    }
    const fresh = api.store.peek(DAEMONSETS, namespace, name);
    if (!fresh) return;
    const pods = podsOwnedBy(api, fresh).filter((p) => !isTerminating(p));
    const ready = pods.filter(podIsReady).length;
    writeStatus(api, rt(api, 'apps', 'daemonsets'), fresh, {
      currentNumberScheduled: pods.length,
      desiredNumberScheduled: 1,
      numberMisscheduled: 0,
      numberReady: ready,
      numberAvailable: ready,
      updatedNumberScheduled: pods.filter((p) => stringMap(p.metadata.labels)['controller-revision-hash'] === revision)
        .length,
      observedGeneration: fresh.metadata.generation,
    });
    if (failed) this.queue.retry(key);
  }
}
