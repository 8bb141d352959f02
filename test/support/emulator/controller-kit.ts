// Small building blocks shared by the simulated controllers: a deduplicating work queue with
// bounded retries, an event recorder and owner-reference helpers.

import type { KubeApi } from './api.js';
import { isStatusError } from './errors.js';
import type { ResourceType } from './resources.js';
import {
  asRecord,
  fnv32a,
  isObject,
  nowTimestamp,
  randomSuffix,
  safeEncodeString,
  type KubeObject,
  type OwnerReference,
} from './types.js';
import type { WorkTracker } from './work.js';

const MAX_RETRIES = 3;
const SLOW_RETRY_MS = 1000;

/** A controller work queue: keys are deduplicated and handled on the next macrotask. */
export class WorkQueue {
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private scheduled = false;

  constructor(
    private readonly work: WorkTracker,
    private readonly handler: (key: string) => void,
  ) {}

  add(key: string): void {
    this.dirty.add(key);
    if (this.scheduled) return;
    this.scheduled = true;
    this.work.schedule(0, () => this.drain());
  }

  /**
   * Re-queues after a failure with exponential backoff. After a few fast attempts it keeps retrying
   * every few seconds without holding up idle(), as client-go's rate-limited queue never gives up.
   */
  retry(key: string): void {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    if (attempt > MAX_RETRIES) this.work.scheduleUntracked(SLOW_RETRY_MS, () => this.add(key));
    else this.work.schedule(Math.min(50 * 2 ** attempt, 2000), () => this.add(key));
  }

  private drain(): void {
    this.scheduled = false;
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const key of keys) {
      try {
        this.handler(key);
      } catch (err) {
        // Conflicts and transient failures are retried like client-go's rate-limited queue does.
        if (!isStatusError(err))
          process.emitWarning(`emulator controller failed on ${key}: ${(err as Error).stack ?? String(err)}`);
        this.retry(key);
      }
    }
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export function nsKey(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

export function controllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return (obj.metadata.ownerReferences ?? []).find((ref) => ref.controller === true);
}

export function isOwnedBy(obj: KubeObject, owner: KubeObject): boolean {
  return controllerOf(obj)?.uid === owner.metadata.uid;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical(value[key]);
  return out;
}

/** A pod-template-hash-like value: FNV-32a of the template, rendered with SafeEncodeString. */
export function templateHash(template: unknown): string {
  return safeEncodeString(String(fnv32a(JSON.stringify(canonical(template)))));
}

export function podIsReady(pod: KubeObject): boolean {
  const conditions = asRecord(pod.status).conditions;
  return Array.isArray(conditions) && conditions.some((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
}

export function isTerminating(obj: KubeObject): boolean {
  return !!obj.metadata.deletionTimestamp;
}

/** Records core/v1 Events the way client-go's EventRecorder does (one object per occurrence). */
export class EventRecorder {
  constructor(
    private readonly api: KubeApi,
    private readonly eventsType: () => ResourceType | undefined,
  ) {}

  record(involved: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, component: string): void {
    const rt = this.eventsType();
    const namespace = involved.metadata.namespace || 'default';
    if (!rt) return;
    const now = nowTimestamp();
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${involved.metadata.name ?? 'object'}.${Date.now().toString(16)}${randomSuffix(4)}`,
        namespace,
      },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        namespace: involved.metadata.namespace,
        uid: involved.metadata.uid,
        resourceVersion: involved.metadata.resourceVersion,
      },
      reason,
      message,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: component,
      reportingInstance: '',
    };
    try {
      this.api.create(rt, 'v1', namespace, event);
    } catch {
      // Events are best effort, exactly as in client-go.
    }
  }
}
