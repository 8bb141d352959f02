// The simulated control plane: kube-controller-manager (workloads, namespace lifecycle, service
// accounts, garbage collection), the scheduler and a kubelet for one node. Everything reacts to store
// events and runs as tracked background work, so `idle()` means "the cluster has settled".

import { randomUUID } from 'node:crypto';
import type { KubeApi } from './api.js';
import { EventRecorder, isTerminating, nsKey, WorkQueue } from './controller-kit.js';
import { isStatusError } from './errors.js';
import { typeKey, type ResourceType } from './resources.js';
import { parseLabelSelector, type LabelSelector } from './selectors.js';
import type { StoreEvent } from './store.js';
import { asArray, asRecord, clone, isObject, jsonEqual, nowTimestamp, type KubeObject } from './types.js';
import type { WorkTracker } from './work.js';
import { DaemonSetController, DeploymentController, ReplicaSetController, StatefulSetController } from './workloads.js';

/**
 * A new version of a stored object for a direct store write: its own metadata (the store stamps the
 * resourceVersion on it), every other field shared with the stored version until the caller replaces it.
 */
function nextVersion(found: KubeObject): KubeObject {
  return { ...found, metadata: { ...found.metadata } };
}

export interface ControllerOptions {
  /** Delay before a scheduled pod reports Running/Ready (and before a terminating pod disappears). */
  podStartMs: () => number;
  nodeName: string;
}

const NAMESPACE_TEARDOWN_DELAY_MS = 100;

const ROOT_CA = `-----BEGIN CERTIFICATE-----\nZW11bGF0b3Itcm9vdC1jYQ==\n-----END CERTIFICATE-----\n`;

/** Which pods a readiness hold keeps unready: those of a namespace (all if unset) matching a label selector. */
export interface PodHold {
  namespace?: string;
  /** A `?labelSelector=` string, e.g. `app=app-0`; unset matches every pod. */
  labelSelector?: string;
}

/**
 * The kubelet's readiness, as a test controls it: pods a hold matches start and run, but their readiness probe never
 * passes (Running, Ready=False ContainersNotReady), until the hold is released.
 */
export interface PodReadiness {
  /** Holds pods that start from now on unready; returns the hold's id. */
  holdUnready(hold: PodHold): string;
  /** Ends one hold (all without an id); held pods no other hold matches turn Ready. False for an unknown id. */
  release(id?: string): boolean;
  holds(): (PodHold & { id: string })[];
}

export class ControllerManager {
  private readonly recorder: EventRecorder;
  private readonly replicaSets: ReplicaSetController;
  private readonly deployments: DeploymentController;
  private readonly statefulSets: StatefulSetController;
  private readonly daemonSets: DaemonSetController;
  private readonly kubelet: Kubelet;
  private readonly namespaces: WorkQueue;
  private readonly gc: GarbageCollector;
  private unsubscribe?: () => void;
  private readonly finalizing = new Set<string>();
  /** Readiness holds on the simulated kubelet. */
  readonly pods: PodReadiness;

  constructor(
    private readonly api: KubeApi,
    private readonly work: WorkTracker,
    options: ControllerOptions,
  ) {
    this.recorder = new EventRecorder(api, () => api.registry.byGroupResource('', 'events'));
    const ctx = { api, work, recorder: this.recorder, nodeName: options.nodeName };
    this.replicaSets = new ReplicaSetController(ctx);
    this.deployments = new DeploymentController(ctx);
    this.statefulSets = new StatefulSetController(ctx);
    this.daemonSets = new DaemonSetController(ctx);
    this.kubelet = new Kubelet(api, work, options);
    this.pods = this.kubelet;
    this.namespaces = new WorkQueue(work, (key) => this.finalizeNamespace(key.slice(1)));
    this.gc = new GarbageCollector(api, work);
  }

  start(): void {
    this.unsubscribe = this.api.store.subscribe((event) => this.dispatch(event));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private dispatch(event: StoreEvent): void {
    if (event.typeKey === 'events.k8s.io/events' || event.typeKey === '/events') return;
    this.gc.onEvent(event);
    // The ReplicaSet controller looks first: a Deployment scaling one ReplicaSet down then sees its pods gone
    // before it scales another one up (kube's controllers race there; the rollout bounds are what kube documents).
    this.replicaSets.onEvent(event);
    this.deployments.onEvent(event);
    this.statefulSets.onEvent(event);
    this.daemonSets.onEvent(event);
    this.kubelet.onEvent(event);
    if (event.typeKey === '/namespaces') this.onNamespace(event);
    else if (event.type !== 'ADDED' && event.object.metadata.namespace) this.onNamespacedContent(event);
  }

  /** Content of a terminating namespace changed (a finalizer went, a pod finished): the deleter looks again. */
  private onNamespacedContent(event: StoreEvent): void {
    const name = event.object.metadata.namespace ?? '';
    const ns = this.api.store.peek('/namespaces', '', name);
    if (ns && isTerminating(ns) && !this.finalizing.has(name)) this.namespaces.add(`/${name}`);
  }

  private type(group: string, plural: string): ResourceType {
    const rt = this.api.registry.byGroupResource(group, plural);
    if (!rt) throw new Error(`${plural} not served`);
    return rt;
  }

  private onNamespace(event: StoreEvent): void {
    const ns = event.object;
    const name = ns.metadata.name ?? '';
    if (event.type === 'ADDED') {
      // The serviceaccount and root-ca publisher controllers; done synchronously so a pod created right
      // after its namespace finds the "default" account (the real race exists but is rarely hit).
      this.ensure(this.type('', 'serviceaccounts'), name, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default', namespace: name },
      });
      this.ensure(this.type('', 'configmaps'), name, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'kube-root-ca.crt',
          namespace: name,
          annotations: {
            'kubernetes.io/description':
              'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints ' +
              'such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across ' +
              'distributions of Kubernetes clusters.',
          },
        },
        data: { 'ca.crt': ROOT_CA },
      });
    }
    // A real namespace stays Terminating for seconds; a short pause keeps that phase observable.
    if (event.type !== 'DELETED' && isTerminating(ns) && !this.finalizing.has(name)) {
      this.finalizing.add(name);
      this.work.schedule(NAMESPACE_TEARDOWN_DELAY_MS, () => {
        this.finalizing.delete(name);
        this.namespaces.add(`/${name}`);
      });
    }
  }

  private ensure(rt: ResourceType, namespace: string, obj: KubeObject): void {
    if (this.api.store.peek(typeKey(rt), namespace, obj.metadata.name ?? '')) return;
    try {
      this.api.create(rt, 'v1', namespace, obj);
    } catch (err) {
      if (!isStatusError(err)) throw err;
    }
  }

  /**
   * Namespace controller (pkg/controller/namespace/deletion): deletes the content with background propagation (an
   * object with finalizers only gets its deletionTimestamp, a scheduled pod terminates gracefully), reports what
   * remains in the namespace's conditions, and once nothing remains drops the "kubernetes" finalizer and the
   * namespace. It runs again whenever content of a terminating namespace changes.
   */
  private finalizeNamespace(name: string): void {
    const ns = this.api.store.peek('/namespaces', '', name);
    if (!ns || !isTerminating(ns)) return;
    const remaining = new Map<string, number>();
    const finalizers = new Map<string, number>();
    for (const rt of this.api.registry.all()) {
      if (!rt.namespaced || rt.virtual) continue;
      for (const obj of this.api.store.scan(typeKey(rt), name)) {
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.api.delete(rt, rt.storageVersion, name, obj.metadata.name ?? '', { propagationPolicy: 'Background' });
        } catch (err) {
          if (!isStatusError(err)) throw err;
        }
      }
      for (const obj of this.api.store.scan(typeKey(rt), name)) {
        const gr = rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
        remaining.set(gr, (remaining.get(gr) ?? 0) + 1);
        for (const f of obj.metadata.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
      }
    }
    const current = this.setNamespaceConditions(ns, remaining, finalizers);
    if (remaining.size > 0) return;
    const spec = asRecord(current.spec);
    const next = clone(current);
    next.spec = { ...spec, finalizers: asArray(spec.finalizers).filter((f) => f !== 'kubernetes') };
    if ((next.metadata.finalizers ?? []).length === 0) {
      this.api.forceRemove(this.type('', 'namespaces'), '', name);
      return;
    }
    this.api.store.update('/namespaces', next);
  }

  /** The deleter's status conditions (namespaced_resources_deleter.go), written when they change. */
  private setNamespaceConditions(
    ns: KubeObject,
    remaining: Map<string, number>,
    finalizers: Map<string, number>,
  ): KubeObject {
    const list = (m: Map<string, number>, verb: string) =>
      [...m.keys()]
        .sort()
        .map((k) => `${k} ${verb} ${m.get(k)} resource instances`)
        .join(', ');
    const wanted: [string, string, string, string][] = [
      ['NamespaceDeletionDiscoveryFailure', 'False', 'ResourcesDiscovered', 'All resources successfully discovered'],
      [
        'NamespaceDeletionGroupVersionParsingFailure',
        'False',
        'ParsedGroupVersions',
        'All legacy kube types successfully parsed',
      ],
      [
        'NamespaceDeletionContentFailure',
        'False',
        'ContentDeleted',
        'All content successfully deleted, may be waiting on finalization',
      ],
      remaining.size > 0
        ? [
            'NamespaceContentRemaining',
            'True',
            'SomeResourcesRemain',
            `Some resources are remaining: ${list(remaining, 'has')}`,
          ]
        : ['NamespaceContentRemaining', 'False', 'ContentRemoved', 'All content successfully removed'],
      finalizers.size > 0
        ? [
            'NamespaceFinalizersRemaining',
            'True',
            'SomeFinalizersRemain',
            `Some content in the namespace has finalizers remaining: ${list(finalizers, 'in')}`,
          ]
        : [
            'NamespaceFinalizersRemaining',
            'False',
            'ContentHasNoFinalizers',
            'All content-preserving finalizers finished',
          ],
    ];
    const status = asRecord(ns.status);
    const before = asArray(status.conditions).filter(isObject);
    const now = nowTimestamp();
    const conditions = wanted.map(([type, state, reason, message]) => {
      const old = before.find((c) => c.type === type);
      const since = old && old.status === state ? old.lastTransitionTime : now;
      return { type, status: state, lastTransitionTime: since, reason, message };
    });
    if (jsonEqual(conditions, before)) return ns;
    const next = clone(ns);
    next.status = { ...status, conditions };
    return this.api.store.update('/namespaces', next);
  }
}

// ------------------------------------------------------------------ scheduler + kubelet

class Kubelet implements PodReadiness {
  private nextIp = 2;
  private readonly starting = new Set<string>();
  private readonly stopping = new Set<string>();
  private readonly readinessHolds = new Map<string, { hold: PodHold; selector: LabelSelector }>();
  /** Pods running unready because of a hold (key → uid). */
  private readonly held = new Map<string, string>();

  constructor(
    private readonly api: KubeApi,
    private readonly work: WorkTracker,
    private readonly options: ControllerOptions,
  ) {}

  holdUnready(hold: PodHold): string {
    if (typeof hold !== 'object' || hold === null) throw new TypeError('a pod hold must be an object');
    for (const key of ['namespace', 'labelSelector'] as const)
      if (hold[key] !== undefined && typeof hold[key] !== 'string')
        throw new TypeError(`pod hold field ${key} must be a string`);
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(hold.labelSelector);
    } catch (err) {
      throw new TypeError(`pod hold labelSelector: ${(err as Error).message}`, { cause: err });
    }
    const id = randomUUID();
    this.readinessHolds.set(id, { hold: { namespace: hold.namespace, labelSelector: hold.labelSelector }, selector });
    return id;
  }

  release(id?: string): boolean {
    const found = id === undefined ? this.readinessHolds.size > 0 : this.readinessHolds.delete(id);
    if (id === undefined) this.readinessHolds.clear();
    for (const [key, uid] of this.held) {
      const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      const pod = this.api.store.peek('/pods', namespace, name);
      if (!pod || pod.metadata.uid !== uid || isTerminating(pod)) this.held.delete(key);
      else if (!this.isHeld(pod)) {
        this.held.delete(key);
        // The readiness probe passes at its next period.
        this.work.schedule(0, () => this.ready(pod));
      }
    }
    return found;
  }

  holds(): (PodHold & { id: string })[] {
    return [...this.readinessHolds].map(([id, { hold }]) => ({ id, ...hold }));
  }

  private isHeld(pod: KubeObject): boolean {
    for (const { hold, selector } of this.readinessHolds.values()) {
      if (hold.namespace !== undefined && hold.namespace !== pod.metadata.namespace) continue;
      if (selector.matches(pod.metadata.labels ?? {})) return true;
    }
    return false;
  }

  onEvent(event: StoreEvent): void {
    if (event.typeKey !== '/pods' || event.type === 'DELETED') return;
    const pod = event.object;
    const key = nsKey(pod);
    if (isTerminating(pod)) {
      if (this.stopping.has(key)) return;
      this.stopping.add(key);
      this.work.schedule(this.options.podStartMs(), () => {
        this.stopping.delete(key);
        const current = this.api.store.peek('/pods', pod.metadata.namespace ?? '', pod.metadata.name ?? '');
        if (current && current.metadata.uid === pod.metadata.uid)
          this.api.forceRemove(this.podType(), current.metadata.namespace ?? '', current.metadata.name ?? '');
      });
      return;
    }
    const phase = asRecord(pod.status).phase;
    if (event.type !== 'ADDED' || phase !== 'Pending' || this.starting.has(key)) return;
    this.starting.add(key);
    const delay = this.options.podStartMs();
    this.work.schedule(0, () => {
      this.bind(pod);
      if (delay > 0) this.work.schedule(delay, () => this.run(pod));
      else this.run(pod);
    });
  }

  private podType(): ResourceType {
    const rt = this.api.registry.byGroupResource('', 'pods');
    if (!rt) throw new Error('pods not served');
    return rt;
  }

  private current(pod: KubeObject): KubeObject | undefined {
    const found = this.api.store.peek('/pods', pod.metadata.namespace ?? '', pod.metadata.name ?? '');
    return found && found.metadata.uid === pod.metadata.uid && !isTerminating(found) ? found : undefined;
  }

  /** The scheduler's binding plus the kubelet's first status report. */
  private bind(pod: KubeObject): void {
    const found = this.current(pod);
    if (!found) return;
    // Stored objects are never mutated, so the new version shares what it does not change with the stored one.
    const next = nextVersion(found);
    const spec: Record<string, unknown> = { ...asRecord(found.spec), nodeName: this.options.nodeName };
    next.spec = spec;
    const now = nowTimestamp();
    next.status = {
      ...asRecord(next.status),
      phase: 'Pending',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'False', lastProbeTime: null, lastTransitionTime: now },
        {
          type: 'Initialized',
          status: asArray(spec.initContainers).length ? 'False' : 'True',
          lastProbeTime: null,
          lastTransitionTime: now,
        },
        {
          type: 'Ready',
          status: 'False',
          lastProbeTime: null,
          lastTransitionTime: now,
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${containerNames(spec).join(' ')}]`,
        },
        {
          type: 'ContainersReady',
          status: 'False',
          lastProbeTime: null,
          lastTransitionTime: now,
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${containerNames(spec).join(' ')}]`,
        },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      ],
      hostIP: '172.18.0.2',
      hostIPs: [{ ip: '172.18.0.2' }],
      startTime: now,
      containerStatuses: asArray(spec.containers)
        .filter(isObject)
        .map((c) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          started: false,
          state: { waiting: { reason: 'ContainerCreating' } },
          lastState: {},
        })),
    };
    this.api.store.update('/pods', next);
  }

  /** The containers start; they turn Ready unless a hold keeps them unready (a readiness probe that fails). */
  private run(pod: KubeObject): void {
    this.starting.delete(nsKey(pod));
    const found = this.current(pod);
    if (!found) return;
    const ready = !this.isHeld(found);
    const next = nextVersion(found);
    const spec = asRecord(found.spec);
    const now = nowTimestamp();
    const ip = spec.hostNetwork === true ? '172.18.0.2' : this.allocateIp();
    const status = asRecord(next.status);
    const since = transitionTimes(status, now);
    const unready = `containers with unready status: [${containerNames(spec).join(' ')}]`;
    const readiness = (type: string) =>
      ready
        ? { type, status: 'True', lastProbeTime: null, lastTransitionTime: since(type, 'True') }
        : {
            type,
            status: 'False',
            lastProbeTime: null,
            lastTransitionTime: since(type, 'False'),
            reason: 'ContainersNotReady',
            message: unready,
          };
    next.status = {
      ...status,
      phase: 'Running',
      conditions: [
        {
          type: 'PodReadyToStartContainers',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: since('PodReadyToStartContainers', 'True'),
        },
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: since('Initialized', 'True') },
        readiness('Ready'),
        readiness('ContainersReady'),
        {
          type: 'PodScheduled',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: since('PodScheduled', 'True'),
        },
      ],
      podIP: ip,
      podIPs: [{ ip }],
      initContainerStatuses: asArray(spec.initContainers)
        .filter(isObject)
        .map((c) => ({
          name: c.name,
          image: c.image,
          imageID: imageId(c.image),
          containerID: containerId(),
          ready: true,
          restartCount: 0,
          started: false,
          state: {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              startedAt: now,
              finishedAt: now,
              containerID: containerId(),
            },
          },
          lastState: {},
        })),
      containerStatuses: asArray(spec.containers)
        .filter(isObject)
        .map((c) => ({
          name: c.name,
          image: c.image,
          imageID: imageId(c.image),
          containerID: containerId(),
          ready,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: now } },
          lastState: {},
        })),
    };
    if (asArray(spec.initContainers).length === 0)
      delete (next.status as Record<string, unknown>).initContainerStatuses;
    if (!ready) this.held.set(nsKey(found), found.metadata.uid ?? '');
    this.api.store.update('/pods', next);
  }

  /** A held pod's readiness probe passes: Ready and ContainersReady turn True, every container ready. */
  private ready(pod: KubeObject): void {
    const found = this.current(pod);
    if (!found || this.isHeld(found)) return;
    const status = asRecord(found.status);
    const now = nowTimestamp();
    const next = nextVersion(found);
    next.status = {
      ...status,
      conditions: asArray(status.conditions)
        .map(asRecord)
        .map((c) =>
          c.type === 'Ready' || c.type === 'ContainersReady'
            ? { type: c.type, status: 'True', lastProbeTime: null, lastTransitionTime: now }
            : c,
        ),
      containerStatuses: asArray(status.containerStatuses)
        .map(asRecord)
        .map((c) => ({ ...c, ready: true })),
    };
    this.api.store.update('/pods', next);
  }

  private allocateIp(): string {
    const n = this.nextIp++;
    return `10.244.${(n >> 8) & 255}.${n & 255}`;
  }
}

/** A condition keeps its lastTransitionTime while its status stays the same (the kubelet's status manager). */
function transitionTimes(status: Record<string, unknown>, now: string): (type: string, state: string) => unknown {
  const before = asArray(status.conditions).map(asRecord);
  return (type, state) => {
    const old = before.find((c) => c.type === type);
    return old && old.status === state ? old.lastTransitionTime : now;
  };
}

function containerNames(spec: Record<string, unknown>): string[] {
  return asArray(spec.containers)
    .filter(isObject)
    .map((c) => String(c.name));
}

function containerId(): string {
  let hex = '';
  for (let i = 0; i < 4; i++) hex += Math.random().toString(16).slice(2, 18).padEnd(16, '0');
  return `containerd://${hex}`;
}

function imageId(image: unknown): string {
  const name = String(image ?? '').split(':')[0];
  const qualified = name.includes('/') ? name : `library/${name}`;
  return `docker.io/${qualified}@sha256:${Buffer.from(String(image)).toString('hex').padEnd(64, '0').slice(0, 64)}`;
}

// ------------------------------------------------------------------ garbage collector

interface ObjectLocator {
  typeKey: string;
  namespace: string;
  name: string;
}

/** Background cascading deletion: dependents whose owners are all gone are deleted. */
class GarbageCollector {
  private readonly owners = new Map<string, Set<string>>();
  private readonly located = new Map<string, ObjectLocator>();
  private readonly liveUids = new Set<string>();
  private readonly queue: WorkQueue;

  constructor(
    private readonly api: KubeApi,
    work: WorkTracker,
  ) {
    this.queue = new WorkQueue(work, (uid) => this.collect(uid));
    for (const rt of api.registry.all()) for (const obj of api.store.scan(typeKey(rt))) this.track(typeKey(rt), obj);
  }

  onEvent(event: StoreEvent): void {
    const uid = event.object.metadata.uid;
    if (!uid) return;
    if (event.type === 'DELETED') {
      this.untrack(uid, event.previous ?? event.object);
      this.located.delete(uid);
      for (const dependent of this.owners.get(uid) ?? []) this.queue.add(dependent);
      this.owners.delete(uid);
      return;
    }
    if (event.previous) this.untrack(uid, event.previous);
    this.track(event.typeKey, event.object);
  }

  private track(key: string, obj: KubeObject): void {
    const uid = obj.metadata.uid;
    if (!uid) return;
    this.liveUids.add(uid);
    this.located.set(uid, { typeKey: key, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '' });
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let dependents = this.owners.get(ref.uid);
      if (!dependents) this.owners.set(ref.uid, (dependents = new Set()));
      dependents.add(uid);
    }
  }

  private untrack(uid: string, obj: KubeObject): void {
    this.liveUids.delete(uid);
    for (const ref of obj.metadata.ownerReferences ?? []) this.owners.get(ref.uid)?.delete(uid);
  }

  private collect(uid: string): void {
    const where = this.located.get(uid);
    if (!where || !this.liveUids.has(uid)) return;
    const obj = this.api.store.peek(where.typeKey, where.namespace, where.name);
    if (!obj || obj.metadata.uid !== uid) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0 || refs.some((ref) => this.liveUids.has(ref.uid))) return;
    const [group, plural] = [
      where.typeKey.slice(0, where.typeKey.indexOf('/')),
      where.typeKey.slice(where.typeKey.indexOf('/') + 1),
    ];
    const rt = this.api.registry.byGroupResource(group, plural);
    if (!rt) return;
    try {
      this.api.delete(rt, rt.storageVersion, where.namespace, where.name, { propagationPolicy: 'Background' });
    } catch (err) {
      if (!isStatusError(err)) throw err;
    }
  }
}
