// Raw object storage in the role etcd plays for kube-apiserver: one global revision counter that
// becomes every object's resourceVersion, an event history for watch resumption, and in-order
// fan-out of change events to watchers.

import { clone, omitEmptyMeta, type KubeObject } from './types.js';

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: StoreEventType;
  /** `<group>/<plural>` of the object. */
  typeKey: string;
  /** The object after the change (for DELETED: the last state, carrying the deletion revision). */
  object: KubeObject;
  /** The object before the change (MODIFIED and DELETED). */
  previous?: KubeObject;
  revision: number;
}

export type StoreListener = (event: StoreEvent) => void;

export class ObjectStore {
  private revision: number;
  private readonly buckets = new Map<string, Map<string, Map<string, KubeObject>>>();
  /** A bucket's names in key order, kept until a name is added or removed (a paginated list sorts once). */
  private readonly sortedNames = new WeakMap<Map<string, KubeObject>, string[]>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly pending: StoreEvent[] = [];
  private delivering = false;
  private trimmed = false;
  private compacted = 0;

  /**
   * Deep-freezes every object as it is stored. A stored object is never mutated: each write stores a new one, which
   * may share unchanged fields with the last (KubeApi.present's views, the controllers' direct writes rely on it).
   * Frozen, a change in place throws instead of corrupting the stored history. On in the test suites; off in the
   * benchmarks' emulator, where it only costs CPU.
   */
  freezeStored = false;

  constructor(
    private readonly historyLimit = 100_000,
    initialRevision = 1000,
  ) {
    this.revision = initialRevision;
  }

  currentRevision(): number {
    return this.revision;
  }

  /** Oldest revision a watch can resume from; older ones get 410 Expired. */
  oldestResumableRevision(): number {
    const kept = this.trimmed && this.history.length > 0 ? this.history[0].revision : 0;
    return Math.max(kept, this.compacted);
  }

  /**
   * etcd's compaction (kube-apiserver asks for one every 5 minutes): the history up to the current revision is
   * dropped, so a watch from an older resourceVersion gets 410 Expired; one from the current revision still works.
   */
  compact(): void {
    this.history.length = 0;
    this.compacted = this.revision;
  }

  // typeKey -> namespace ('' for cluster-scoped) -> name -> object
  private bucket(typeKey: string, namespace: string): Map<string, KubeObject> {
    let byNamespace = this.buckets.get(typeKey);
    if (!byNamespace) {
      byNamespace = new Map();
      this.buckets.set(typeKey, byNamespace);
    }
    let bucket = byNamespace.get(namespace);
    if (!bucket) {
      bucket = new Map();
      byNamespace.set(namespace, bucket);
    }
    return bucket;
  }

  /** The stored object itself: callers must not mutate it. */
  peek(typeKey: string, namespace: string, name: string): KubeObject | undefined {
    return this.buckets.get(typeKey)?.get(namespace)?.get(name);
  }

  get(typeKey: string, namespace: string, name: string): KubeObject | undefined {
    const found = this.peek(typeKey, namespace, name);
    return found ? clone(found) : undefined;
  }

  /** Stored objects in etcd key order (namespace, then name); callers must not mutate them. */
  scan(typeKey: string, namespace?: string): KubeObject[] {
    const byNamespace = this.buckets.get(typeKey);
    if (!byNamespace) return [];
    // etcd orders by the whole key (`<namespace>/<name>`): namespaces compare with their `/` ("a-b/" < "a/").
    const namespaces =
      namespace !== undefined ? [namespace] : [...byNamespace.keys()].sort((a, b) => compare(`${a}/`, `${b}/`));
    const out: KubeObject[] = [];
    for (const ns of namespaces) {
      const bucket = byNamespace.get(ns);
      if (!bucket) continue;
      let names = this.sortedNames.get(bucket);
      if (!names) this.sortedNames.set(bucket, (names = [...bucket.keys()].sort(compare)));
      for (const name of names) out.push(bucket.get(name) as KubeObject);
    }
    return out;
  }

  /**
   * The objects of one type (and namespace) as they were at `revision`, in key order, as etcd's range read at a
   * revision returns them (a paginated list reads every page at its first page's revision); 'expired' when the
   * revision is older than the last compaction or the kept history. Built by undoing the later events.
   */
  scanAt(typeKey: string, namespace: string | undefined, revision: number): KubeObject[] | 'expired' {
    if (revision >= this.revision) return this.scan(typeKey, namespace);
    const events = this.eventsSince(typeKey, revision);
    if (events === 'expired') return 'expired';
    const key = (obj: KubeObject) => `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    // The earliest event after `revision` tells what the object was at `revision`: absent before an ADDED,
    // its `previous` before a MODIFIED or DELETED.
    const then = new Map<string, KubeObject | undefined>();
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      then.set(key(e.object), e.type === 'ADDED' ? undefined : e.previous);
    }
    const out = this.scan(typeKey, namespace).filter((obj) => !then.has(key(obj)));
    for (const obj of then.values()) {
      if (obj && (namespace === undefined || (obj.metadata.namespace ?? '') === namespace)) out.push(obj);
    }
    return out.sort((a, b) => compare(key(a), key(b)));
  }

  count(typeKey: string): number {
    let total = 0;
    for (const bucket of this.buckets.get(typeKey)?.values() ?? []) total += bucket.size;
    return total;
  }

  typeKeys(): string[] {
    return [...this.buckets.keys()];
  }

  /** Stores `obj` (the store takes ownership: callers pass a fresh copy) and returns the stored object. */
  create(typeKey: string, obj: KubeObject): KubeObject {
    const stored = this.stamp(obj);
    const bucket = this.bucket(typeKey, stored.metadata.namespace ?? '');
    bucket.set(stored.metadata.name ?? '', stored);
    this.sortedNames.delete(bucket);
    this.emit({ type: 'ADDED', typeKey, object: stored, revision: this.revision });
    return stored;
  }

  /** Replaces the object (ownership as for create) and returns the stored object. */
  update(typeKey: string, obj: KubeObject): KubeObject {
    const bucket = this.bucket(typeKey, obj.metadata.namespace ?? '');
    const previous = bucket.get(obj.metadata.name ?? '');
    const stored = this.stamp(obj);
    bucket.set(stored.metadata.name ?? '', stored);
    if (!previous) this.sortedNames.delete(bucket);
    this.emit({ type: 'MODIFIED', typeKey, object: stored, previous, revision: this.revision });
    return stored;
  }

  remove(typeKey: string, namespace: string, name: string): KubeObject | undefined {
    const bucket = this.buckets.get(typeKey)?.get(namespace);
    const previous = bucket?.get(name);
    if (!bucket || !previous) return undefined;
    bucket.delete(name);
    this.sortedNames.delete(bucket);
    if (bucket.size === 0) this.buckets.get(typeKey)?.delete(namespace);
    // etcd reports a delete at a new revision; watchers see that revision on the DELETED object.
    this.revision++;
    const last = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(this.revision) } };
    this.emit({ type: 'DELETED', typeKey, object: last, previous, revision: this.revision });
    return last;
  }

  /** Drops a whole resource type (its CRD went away); no events, like etcd range deletes of unserved data. */
  dropType(typeKey: string): void {
    this.buckets.delete(typeKey);
  }

  /** Events after `revision` for one type, or 'expired' when history no longer reaches back that far. */
  eventsSince(typeKey: string, revision: number): StoreEvent[] | 'expired' {
    if (revision < this.compacted) return 'expired';
    const oldest = this.oldestResumableRevision();
    if (oldest > 0 && revision < oldest - 1) return 'expired';
    const out: StoreEvent[] = [];
    for (let i = this.history.length - 1; i >= 0; i--) {
      const event = this.history[i];
      if (event.revision <= revision) break;
      if (event.typeKey === typeKey) out.push(event);
    }
    return out.reverse();
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private stamp(obj: KubeObject): KubeObject {
    omitEmptyMeta(obj);
    this.revision++;
    obj.metadata.resourceVersion = String(this.revision);
    if (this.freezeStored) deepFreeze(obj);
    return obj;
  }

  // Writes made by listeners while an event is being delivered are queued, so every listener
  // sees events in revision order even when controllers react synchronously.
  private emit(event: StoreEvent): void {
    this.history.push(event);
    // Trim in chunks so a full history does not cost an O(n) shift on every write.
    if (this.history.length > this.historyLimit + 1024) {
      this.history.splice(0, this.history.length - this.historyLimit);
      this.trimmed = true;
    }
    this.pending.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.pending.length > 0) {
        const next = this.pending.shift() as StoreEvent;
        for (const listener of [...this.listeners]) {
          try {
            listener(next);
          } catch (err) {
            // A failing watcher must not break the write that triggered it.
            process.emitWarning(`emulator store listener failed: ${(err as Error).message}`);
          }
        }
      }
    } finally {
      this.delivering = false;
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Freezes a JSON tree; a frozen subtree (shared with an earlier stored version) is already done. */
function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
}
