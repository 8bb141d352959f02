// Simulated kube-controller-manager workload controllers: Deployment → ReplicaSet → Pod,
// StatefulSet → Pod and DaemonSet → Pod, with the labels, owner references, annotations and
// status fields the real controllers maintain. Rollouts are simplified (surge everything, then
// scale the old ReplicaSets down once the new pods are ready).

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

function condition(previous: unknown, type: string, status: string, reason: string, message: string): Obj {
  const now = nowTimestamp();
  const old = asArray(previous)
    .map(asRecord)
    .find((c) => c.type === type);
  const unchanged = old && old.status === status;
  return {
    type,
    status,
    lastUpdateTime: old && unchanged && old.reason === reason ? old.lastUpdateTime : now,
    lastTransitionTime: unchanged ? old.lastTransitionTime : now,
    reason,
    message,
  };
}

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

/** Resolves "25%" or 1 against a replica count, as intstr.GetScaledValueFromIntOrPercent (rounding down). */
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

export class DeploymentController {
  readonly queue: WorkQueue;

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
    const owned = api.store.scan(REPLICASETS, namespace).filter((rs) => isOwnedBy(rs, deploy));
    const revisionOf = (rs: KubeObject): number =>
      Number(stringMap(rs.metadata.annotations)['deployment.kubernetes.io/revision'] ?? '0');
    let newRs = owned.find((rs) => stringMap(rs.metadata.labels)['pod-template-hash'] === hash);
    const maxSurge = scaled(asRecord(asRecord(spec.strategy).rollingUpdate).maxSurge, desired, true);
    const recreate = asRecord(spec.strategy).type === 'Recreate';

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
      const initial = recreate && oldPodsRunning ? 0 : desired;
      const body: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace,
          labels: { ...stringMap(asRecord(template.metadata).labels), 'pod-template-hash': hash },
          annotations: {
            'deployment.kubernetes.io/desired-replicas': String(desired),
            'deployment.kubernetes.io/max-replicas': String(desired + (recreate ? 0 : maxSurge)),
            'deployment.kubernetes.io/revision': String(revision),
          },
          ownerReferences: [controllerRef(deploy, 'apps/v1', 'Deployment')],
        },
        spec: { replicas: initial, minReadySeconds: spec.minReadySeconds ?? 0, selector, template: rsTemplate },
      };
      newRs = api.create(rsType, 'v1', namespace, body);
      recorder.record(
        deploy,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${newRs.metadata.name ?? ''} to ${initial}`,
        'deployment-controller',
      );
      this.setRevision(deploy, String(revision));
    }

    // The ReplicaSet that should carry the desired replicas: the new one, or the newest when paused.
    const current = newRs ?? [...owned].sort((a, b) => revisionOf(b) - revisionOf(a))[0];
    const olds = api.store
      .scan(REPLICASETS, namespace)
      .filter((rs) => isOwnedBy(rs, deploy) && rs.metadata.uid !== current?.metadata.uid);
    if (current) {
      const oldPods = olds.reduce((sum, rs) => sum + Number(statusOf(rs).replicas ?? 0) + replicasOf(rs), 0);
      const target = recreate && oldPods > 0 && !paused ? 0 : desired;
      if (recreate && !paused) for (const rs of olds) this.scale(rs, 0, deploy);
      this.scale(current, target, deploy);
      const fresh = api.store.peek(REPLICASETS, namespace, current.metadata.name ?? '');
      const readyNew = Number(statusOf(fresh ?? current).availableReplicas ?? 0);
      if (!paused && !recreate && readyNew >= desired) for (const rs of olds) this.scale(rs, 0, deploy);
    }
    // A paused Deployment whose template changed has no new ReplicaSet: kube-controller-manager's status then
    // counts 0 updated replicas (calculateStatus over a nil newRS), so `kubectl rollout status` keeps waiting.
    this.updateStatus(namespace, name, newRs?.metadata.name);
  }

  private scale(rs: KubeObject, replicas: number, deploy: KubeObject): void {
    const { api, recorder } = this.ctx;
    const fresh = api.store.peek(REPLICASETS, rs.metadata.namespace ?? '', rs.metadata.name ?? '');
    if (!fresh || replicasOf(fresh) === replicas) return;
    const before = replicasOf(fresh);
    // Shallow copies: the update decodes (copies) its body before it keeps anything, and `fresh` is not mutated.
    const next: KubeObject = {
      ...fresh,
      spec: { ...asRecord(fresh.spec), replicas },
      metadata: {
        ...fresh.metadata,
        annotations: {
          ...stringMap(fresh.metadata.annotations),
          'deployment.kubernetes.io/desired-replicas': String(replicasOf(deploy)),
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

  private updateStatus(namespace: string, name: string, newRsName: string | undefined): void {
    const { api } = this.ctx;
    const deploy = api.store.peek(DEPLOYMENTS, namespace, name);
    if (!deploy) return;
    const all = api.store.scan(REPLICASETS, namespace).filter((rs) => isOwnedBy(rs, deploy));
    const newRs = all.find((rs) => rs.metadata.name === newRsName);
    const sum = (field: string): number => all.reduce((total, rs) => total + Number(statusOf(rs)[field] ?? 0), 0);
    const desired = replicasOf(deploy);
    const replicas = sum('replicas');
    const ready = sum('readyReplicas');
    const available = sum('availableReplicas');
    const updated = newRs ? Number(statusOf(newRs).replicas ?? 0) : 0;
    const spec = specOf(deploy);
    const maxUnavailable =
      asRecord(spec.strategy).type === 'Recreate'
        ? 0
        : scaled(asRecord(asRecord(spec.strategy).rollingUpdate).maxUnavailable, desired, false);
    const previous = statusOf(deploy).conditions;
    const availableCond =
      available >= desired - maxUnavailable
        ? condition(previous, 'Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
        : condition(
            previous,
            'Available',
            'False',
            'MinimumReplicasUnavailable',
            'Deployment does not have minimum availability.',
          );
    let progressing: Obj;
    if (spec.paused === true)
      progressing = condition(previous, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    else if (newRs && updated === desired && available === desired && replicas === desired)
      progressing = condition(
        previous,
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${newRs.metadata.name ?? ''}" has successfully progressed.`,
      );
    else
      progressing = condition(
        previous,
        'Progressing',
        'True',
        'ReplicaSetUpdated',
        `ReplicaSet "${newRsName ?? ''}" is progressing.`,
      );
    const status: Obj = {
      observedGeneration: deploy.metadata.generation,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      conditions: [availableCond, progressing],
    };
    if (desired - available > 0 || replicas - available > 0)
      status.unavailableReplicas = Math.max(replicas, desired) - available;
    for (const key of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'])
      if (status[key] === 0) delete status[key];
    writeStatus(api, rt(api, 'apps', 'deployments'), deploy, status);
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
