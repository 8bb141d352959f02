// EmulatorStore: direct, synchronous access to the emulated cluster for tests and seeding. It skips
// HTTP but not the apiserver: defaulting, admission (sidecar injection included), validation,
// resourceVersion bumps and watch events all happen exactly as for API requests.

import type { DeleteOptions, KubeApi, PatchType } from './api.js';
import { badRequest, isStatusError, notFound } from './errors.js';
import type { ResourceType } from './resources.js';
import type { StoreEvent } from './store.js';
import { splitApiVersion, type KubeObject, type ObjectRef } from './types.js';
import type { WorkTracker } from './work.js';

export interface ListFilter {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface EmulatorStore {
  /** The object, or undefined when it does not exist. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined;
  list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, filter?: ListFilter): T[];
  /** POST semantics: 409 AlreadyExists, 404 for a missing namespace, 422 Invalid... (thrown as StatusError). */
  create<T extends KubeObject = KubeObject>(obj: KubeObject, opts?: { dryRun?: boolean }): T;
  /** PUT semantics when the object exists (stale metadata.resourceVersion → 409), create otherwise. */
  put<T extends KubeObject = KubeObject>(obj: KubeObject): T;
  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    type: PatchType,
    patch: unknown,
    opts?: { fieldManager?: string },
  ): T;
  /** DELETE semantics; returns the deleted (or marked-for-deletion) object, undefined when absent. */
  delete<T extends KubeObject = KubeObject>(ref: ObjectRef, opts?: DeleteOptions): T | undefined;
  /** Raw store events for one kind (ADDED/MODIFIED/DELETED with the previous object). */
  watch(apiVersion: string, kind: string, listener: (event: StoreEvent) => void): () => void;
  /** The cluster's current resourceVersion (global revision counter). */
  resourceVersion(): string;
  /** Resolves when the simulated controllers have no pending work (rollouts settled, pods started). */
  idle(): Promise<void>;
}

export class StoreFacade implements EmulatorStore {
  constructor(
    private readonly api: KubeApi,
    private readonly work: WorkTracker,
  ) {}

  private resolve(apiVersion: string, kind: string): { rt: ResourceType; version: string } {
    const { group, version } = splitApiVersion(apiVersion);
    const rt = this.api.registry.byKind(group, kind);
    if (!rt || !rt.versions.includes(version))
      throw notFound({ group, resource: kind.toLowerCase() }, `${apiVersion}, Kind=${kind}`);
    return { rt, version };
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined {
    const { rt, version } = this.resolve(ref.apiVersion, ref.kind);
    try {
      return this.api.get(rt, version, ref.namespace ?? '', ref.name) as T;
    } catch (err) {
      if (isStatusError(err) && err.code === 404) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, filter: ListFilter = {}): T[] {
    const { rt, version } = this.resolve(apiVersion, kind);
    return this.api.list(rt, version, filter.namespace ?? '', filter).items as T[];
  }

  create<T extends KubeObject = KubeObject>(obj: KubeObject, opts: { dryRun?: boolean } = {}): T {
    const { rt, version } = this.resolveObject(obj);
    return this.api.create(rt, version, obj.metadata?.namespace ?? '', obj, opts) as T;
  }

  put<T extends KubeObject = KubeObject>(obj: KubeObject): T {
    const { rt, version } = this.resolveObject(obj);
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    if (!name) throw badRequest('put requires metadata.name');
    const exists = this.api.store.peek(`${rt.group}/${rt.plural}`, rt.namespaced ? namespace : '', name);
    if (!exists) return this.api.create(rt, version, namespace, obj) as T;
    return this.api.update(rt, version, namespace, name, obj) as T;
  }

  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    type: PatchType,
    patch: unknown,
    opts: { fieldManager?: string } = {},
  ): T {
    const { rt, version } = this.resolve(ref.apiVersion, ref.kind);
    return this.api.patch(rt, version, ref.namespace ?? '', ref.name, type, patch, opts).object as T;
  }

  delete<T extends KubeObject = KubeObject>(ref: ObjectRef, opts: DeleteOptions = {}): T | undefined {
    const { rt, version } = this.resolve(ref.apiVersion, ref.kind);
    try {
      return this.api.delete(rt, version, ref.namespace ?? '', ref.name, opts).object as T;
    } catch (err) {
      if (isStatusError(err) && err.code === 404) return undefined;
      throw err;
    }
  }

  watch(apiVersion: string, kind: string, listener: (event: StoreEvent) => void): () => void {
    const { rt } = this.resolve(apiVersion, kind);
    const key = `${rt.group}/${rt.plural}`;
    return this.api.store.subscribe((event) => {
      if (event.typeKey === key) listener(event);
    });
  }

  resourceVersion(): string {
    return String(this.api.store.currentRevision());
  }

  idle(): Promise<void> {
    return this.work.idle();
  }

  private resolveObject(obj: KubeObject): { rt: ResourceType; version: string } {
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string')
      throw badRequest('objects need apiVersion and kind');
    return this.resolve(obj.apiVersion, obj.kind);
  }
}
