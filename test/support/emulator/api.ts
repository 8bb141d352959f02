// The generic registry of kube-apiserver: create/update/patch/delete/list semantics on top of the
// object store (defaulting, admission, validation, optimistic concurrency, generation, no-op writes).
// HTTP handlers, controllers and the test-facing EmulatorStore all go through this class.

import { randomUUID } from 'node:crypto';
import { AdmissionChain, type AdmissionRequest, type Operation } from './admission.js';
import { applyBuiltinDefaults } from './defaults.js';
import {
  alreadyExists,
  badRequest,
  goQuote,
  conflict,
  fieldErr,
  generateNameConflict,
  genericUnprocessable,
  goJsonError,
  invalid,
  isStatusError,
  methodNotSupported,
  notFound,
  resourceExpired,
  unknownError,
  unsupportedMediaType,
  type FieldError,
  type StatusBody,
} from './errors.js';
import {
  applyJsonPatch,
  decodeJsonPatch,
  jsonMergePatch,
  JsonPatchApplyError,
  JsonPatchFormatError,
  strategicMergePatch,
  StrategicMergeError,
  StrategicMergeFormatError,
} from './patch.js';
import {
  apiVersionOf,
  groupResource,
  resourceTypeFromCrd,
  typeKey,
  type ResourceRegistry,
  type ResourceType,
} from './resources.js';
import { applyDefaults, pruneNonNullableNulls, pruneUnknownFields } from './schema.js';
import {
  decodeBuiltinJson,
  decodeBuiltinUnstructured,
  goFormat,
  undeclaredApplyFields,
  type DecodeResult,
} from './builtin-types.js';
import { FIELD_MANAGER_MAX_LENGTH, isPrintable, managerFromUserAgent, updateManagedFields } from './managed-fields.js';
import {
  FieldSelector,
  LabelSelector,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
} from './selectors.js';
import type { ObjectStore } from './store.js';
import {
  asArray,
  asRecord,
  clone,
  isObject,
  nowTimestamp,
  omitEmptyMeta,
  randomSuffix,
  type KubeObject,
} from './types.js';
import { fieldsOf, supportedFields } from './fields.js';
import {
  completeCrd,
  nextClusterIp,
  prepareForCreate,
  preserveAllocatedValues,
  sameIgnoringVersion,
  scaleOf,
  shouldDeleteDuringUpdate,
  specChanged,
} from './strategy.js';
import {
  goStringSlice,
  validateBuiltin,
  validateCustomResource,
  validateNoNewFinalizers,
  validateObjectMeta,
} from './validation.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export const PATCH_CONTENT_TYPES: Readonly<Record<string, PatchType>> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

const BUILTIN_PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];
const CUSTOM_PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
];

export function acceptedPatchTypes(rt: ResourceType): string[] {
  return rt.custom ? CUSTOM_PATCH_TYPES : BUILTIN_PATCH_TYPES;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** The request's `dryRun` values as sent: only `All` is supported (ValidateDryRun). */
  dryRunValues?: string[];
  fieldManager?: string;
  force?: boolean;
  subresource?: string;
  /** `Strict`, `Warn` (kube's default when absent) or `Ignore`: what unknown fields do. */
  fieldValidation?: string;
  /** The request's User-Agent: the manager of a write that names none. */
  userAgent?: string;
  /** Collects the warnings the server sends back in `Warning` headers. */
  warnings?: string[];
  /** Set by patch for server-side apply: managedFields record an `Apply` operation. */
  apply?: boolean;
  /** The caller only serializes the returned object (the HTTP server): it may share the stored object's fields. */
  view?: boolean;
  /**
   * Answers an access review's spec for the caller (the HTTP server asks its authorizer); without it the caller is
   * the emulator's admin (system:masters), whom every review allows.
   */
  review?: (spec: unknown) => Record<string, unknown>;
}

const FIELD_VALIDATION = ['', 'Ignore', 'Strict', 'Warn'];

// ObjectMeta's JSON fields: a custom resource's metadata is decoded into ObjectMeta, which drops the rest.
const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

export interface DeleteOptions {
  dryRun?: boolean;
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult {
  /** The object as last seen (deleted) or as marked for deletion (pending). */
  object: KubeObject;
  /** What the apiserver answers: the object, or a Status Success for kinds that do not return it. */
  body: KubeObject | Omit<StatusBody, 'code'>;
  /** False when the object still exists (finalizers, graceful pod termination, namespace teardown). */
  removed: boolean;
}

/** Hooks that let controllers observe API-level effects without going through the store. */
export interface ApiHooks {
  onCrdChanged?(): void;
}

const SYSTEM_META_FIELDS = [
  'uid',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'managedFields',
  'selfLink',
];

export class KubeApi {
  readonly admission = new AdmissionChain();
  hooks: ApiHooks = {};

  constructor(
    readonly registry: ResourceRegistry,
    readonly store: ObjectStore,
  ) {}

  // ------------------------------------------------------------------ reads

  /** `view`: the caller only serializes the result (see present). */
  get(rt: ResourceType, version: string, namespace: string, name: string, subresource = '', view = false): KubeObject {
    this.requireVerb(rt, 'get');
    const current = this.require(rt, namespace, name);
    if (subresource === 'scale') return scaleOf(current);
    return this.present(rt, version, current, view);
  }

  /** `view`: the caller only serializes the result (see present). */
  list(rt: ResourceType, version: string, namespace: string, opts: ListOptions = {}, view = false): ListResult {
    this.requireVerb(rt, 'list');
    const { labels, fields } = this.selectors(rt, opts);
    // storage.ValidateListOptions / etcd3 GetList: a continue token carries the revision of the first page, and
    // every later page is read at it (a consistent snapshot); -1 (after a compaction) means the latest revision.
    let start = '';
    let revision = this.store.currentRevision();
    let all: KubeObject[];
    if (opts.continue) {
      const token = decodeContinue(opts.continue);
      if (opts.resourceVersion && opts.resourceVersion !== '0')
        throw badRequest('specifying resource version is not allowed when using continue');
      start = token.start;
      const at = token.rv > 0 ? this.store.scanAt(typeKey(rt), namespace || undefined, token.rv) : undefined;
      if (at === 'expired') throw resourceExpired(INCONSISTENT_CONTINUE, encodeContinue(-1, token.start));
      if (at) revision = token.rv;
      all = at ?? this.store.scan(typeKey(rt), namespace || undefined);
    } else {
      all = this.store.scan(typeKey(rt), namespace || undefined); // in key order
    }
    // The first key at or after `start` (binary search), then matches only until the page is full, as etcd's
    // range read with a limit does: a page of a long list costs its page, not the whole list.
    let from = 0;
    for (let hi = all.length; start && from < hi;) {
      const mid = (from + hi) >>> 1;
      if (keyOf(all[mid]) < start) from = mid + 1;
      else hi = mid;
    }
    // kube-apiserver 1.32 serves a list at resourceVersion "0" from its watch cache, whole: the limit is ignored
    // (cacher.go shouldDelegateList: `hasLimit := pred.Limit > 0 && resourceVersion != "0"`).
    const fromCache = opts.resourceVersion === '0' && !opts.continue;
    const limit = opts.limit && opts.limit > 0 && !fromCache ? opts.limit : undefined;
    let items: KubeObject[] = [];
    for (let i = from; i < all.length && (limit === undefined || items.length <= limit); i++) {
      if (this.matches(rt, all[i], labels, fields)) items.push(all[i]);
    }

    const result: ListResult = {
      apiVersion: apiVersionOf(rt, version),
      kind: rt.listKind,
      metadata: { resourceVersion: String(revision) },
      items: [],
    };
    if (limit !== undefined && items.length > limit) {
      const page = items.slice(0, limit);
      result.metadata.continue = encodeContinue(revision, `${keyOf(page[page.length - 1])}\u0000`);
      // Without selectors every remaining object matches: what is left after this page.
      if (labels.isEmpty() && fields.isEmpty()) result.metadata.remainingItemCount = all.length - from - limit;
      items = page;
    }
    result.items = items.map((obj) => this.present(rt, version, obj, view));
    return result;
  }

  selectors(
    rt: ResourceType,
    opts: Pick<ListOptions, 'labelSelector' | 'fieldSelector'>,
  ): { labels: LabelSelector; fields: FieldSelector } {
    let labels: LabelSelector;
    let fields: FieldSelector;
    try {
      labels = parseLabelSelector(opts.labelSelector);
    } catch (err) {
      if (err instanceof SelectorParseError) throw badRequest(`unable to parse requirement: ${err.message}`);
      throw err;
    }
    try {
      fields = parseFieldSelector(opts.fieldSelector);
    } catch (err) {
      if (err instanceof SelectorParseError) throw badRequest(err.message);
      throw err;
    }
    const supported = supportedFields(rt);
    for (const r of fields.requirements)
      if (!supported.has(r.field)) throw badRequest(`field label not supported: ${r.field}`);
    return { labels, fields };
  }

  matches(rt: ResourceType, obj: KubeObject, labels: LabelSelector, fields: FieldSelector): boolean {
    return labels.matches(obj.metadata.labels) && (fields.isEmpty() || fields.matches(fieldsOf(rt, obj)));
  }

  // ------------------------------------------------------------------ create

  create(rt: ResourceType, version: string, namespace: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    this.requireVerb(rt, 'create');
    this.validateOptions('CreateOptions', opts);
    const obj = this.decodeRequest(rt, version, body, opts, 'create');
    if (rt.virtual) return this.review(rt, version, obj, opts.review);
    this.bindNamespace(rt, namespace, obj);
    if (obj.metadata.resourceVersion) throw unknownError('resourceVersion should not be set on objects to be created');
    for (const field of SYSTEM_META_FIELDS) delete obj.metadata[field];
    this.applyDefaults(rt, version, obj);
    prepareForCreate(rt, obj);

    const req = this.admissionRequest('CREATE', rt, version, namespace, obj.metadata.name ?? '', obj, undefined, opts);
    this.admission.mutate(req);
    if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = generateName(obj.metadata.generateName);

    const errs = [...validateObjectMeta(rt, obj, true), ...this.validateBody(rt, version, obj)];
    if (errs.length > 0) throw invalid(rt.kind, rt.group, obj.metadata.name ?? '', errs);
    this.admission.validate(req);

    const generated = !req.name && !!obj.metadata.generateName;
    for (
      let attempt = 0;
      this.store.peek(typeKey(rt), obj.metadata.namespace ?? '', obj.metadata.name ?? '');
      attempt++
    ) {
      if (!generated) throw alreadyExists(groupResource(rt), obj.metadata.name ?? '');
      if (attempt >= 5) throw generateNameConflict(groupResource(rt), obj.metadata.name ?? '');
      obj.metadata.name = generateName(obj.metadata.generateName ?? '');
    }

    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowTimestamp();
    if (rt.tracksGeneration) obj.metadata.generation = 1;
    this.allocate(rt, obj);
    if (isCrd(rt)) completeCrd(obj);
    obj.metadata.managedFields = updateManagedFields(undefined, obj, this.fieldWrite(rt, version, opts, ''));
    if (opts.dryRun) return this.present(rt, version, obj);

    const stored = this.store.create(typeKey(rt), this.toStorage(rt, obj));
    if (isCrd(rt)) this.syncCrd(stored);
    return this.present(rt, version, stored, opts.view);
  }

  // ------------------------------------------------------------------ update

  update(
    rt: ResourceType,
    version: string,
    namespace: string,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    this.requireVerb(rt, 'update');
    this.validateOptions('UpdateOptions', opts);
    const current = this.require(rt, namespace, name);
    if (opts.subresource === 'scale') return this.updateScale(rt, version, current, body, opts, false);
    const incoming = this.decodeRequest(rt, version, body, opts, 'update');
    return this.commitUpdate(rt, version, current, incoming, opts, false);
  }

  // ------------------------------------------------------------------ patch

  patch(
    rt: ResourceType,
    version: string,
    namespace: string,
    name: string,
    patchType: PatchType,
    patchBody: unknown,
    opts: WriteOptions = {},
  ): { object: KubeObject; created: boolean } {
    this.requireVerb(rt, 'patch');
    this.validateOptions('PatchOptions', opts);
    if (patchType === 'strategic' && rt.custom) throw unsupportedMediaType(acceptedPatchTypes(rt));
    if (patchType === 'apply' && !opts.fieldManager) {
      throw invalid('PatchOptions', 'meta.k8s.io', '', [
        fieldErr.required('fieldManager', 'is required for apply patch'),
      ]);
    }
    if (patchType !== 'apply' && opts.force !== undefined) {
      throw invalid('PatchOptions', 'meta.k8s.io', '', [
        fieldErr.forbidden('force', 'may not be specified for non-apply patch'),
      ]);
    }
    opts = { ...opts, apply: patchType === 'apply' };
    if (patchType === 'apply' && !rt.custom) this.checkAppliedFields(rt, version, namespace, name, patchBody);
    const current = this.store.peek(typeKey(rt), rt.namespaced ? namespace : '', name);
    if (!current) {
      if (patchType !== 'apply' || opts.subresource) throw notFound(groupResource(rt), name);
      const applied = this.decode(rt, version, patchBody);
      if (applied.metadata.name !== name)
        throw badRequest(
          `the name of the object (${applied.metadata.name ?? ''}) does not match the name on the URL (${name})`,
        );
      return { object: this.create(rt, version, namespace, applied, opts), created: true };
    }
    const base = opts.subresource === 'scale' ? scaleOf(current) : this.present(rt, version, current);
    const patched = applyPatch(rt, patchType, base, patchBody);
    if (opts.subresource === 'scale')
      return { object: this.updateScale(rt, version, current, patched, opts, true), created: false };
    const incoming = this.decodeRequest(rt, version, patched, opts, 'patch', { type: patchType, body: patchBody });
    return { object: this.commitUpdate(rt, version, current, incoming, opts, true), created: false };
  }

  private updateScale(
    rt: ResourceType,
    version: string,
    current: KubeObject,
    body: unknown,
    opts: WriteOptions,
    isPatch: boolean,
  ): KubeObject {
    if (!rt.subresources.includes('scale')) throw notFound(groupResource(rt), current.metadata.name ?? '');
    const scale = asRecord(body);
    const replicas = asRecord(scale.spec).replicas;
    const rv = asRecord(scale.metadata).resourceVersion;
    if (typeof rv === 'string' && rv && rv !== current.metadata.resourceVersion)
      throw conflict(groupResource(rt), current.metadata.name ?? '');
    if (typeof replicas !== 'number' || replicas < 0)
      throw invalid('Scale', 'autoscaling', current.metadata.name ?? '', [
        fieldErr.invalid('spec.replicas', replicas ?? null, 'must be greater than or equal to 0'),
      ]);
    const next = this.present(rt, version, current);
    (next.spec as Record<string, unknown>).replicas = replicas;
    const updated = this.commitUpdate(rt, version, current, next, { ...opts, subresource: '' }, isPatch);
    return scaleOf(updated);
  }

  private commitUpdate(
    rt: ResourceType,
    version: string,
    current: KubeObject,
    incoming: KubeObject,
    opts: WriteOptions,
    isPatch: boolean,
  ): KubeObject {
    const name = current.metadata.name ?? '';
    const namespace = current.metadata.namespace ?? '';
    const gr = groupResource(rt);
    if (incoming.metadata.name !== name)
      throw badRequest(
        `the name of the object (${incoming.metadata.name ?? ''}) does not match the name on the URL (${name})`,
      );
    if (rt.namespaced && incoming.metadata.namespace && incoming.metadata.namespace !== namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');

    if (incoming.metadata.uid && incoming.metadata.uid !== current.metadata.uid)
      throw conflict(
        gr,
        name,
        `Precondition failed: UID in precondition: ${incoming.metadata.uid}, UID in object meta: ` +
          `${current.metadata.uid ?? ''}`,
      );
    const requestedVersion = incoming.metadata.resourceVersion;
    if (requestedVersion) {
      if (requestedVersion !== current.metadata.resourceVersion) throw conflict(gr, name);
    } else if (rt.custom && !isPatch) {
      throw invalid(rt.kind, rt.group, name, [
        fieldErr.invalidRaw('metadata.resourceVersion', '0x0', 'must be specified for an update'),
      ]);
    }

    const next = this.buildUpdated(rt, version, current, incoming, opts.subresource ?? '');
    const req = this.admissionRequest('UPDATE', rt, version, namespace, name, next, current, opts);
    this.admission.mutate(req);
    const errs = [
      ...validateObjectMeta(rt, next, false),
      ...validateNoNewFinalizers(current, next),
      ...this.validateBody(rt, version, next, current),
    ];
    if (errs.length > 0) throw invalid(rt.kind, rt.group, name, errs);
    this.admission.validate(req);

    if (rt.tracksGeneration && specChanged(rt, current, next, opts.subresource ?? ''))
      next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    const write = this.fieldWrite(rt, version, opts, opts.subresource ?? '');
    next.metadata.managedFields = updateManagedFields(current, next, write);
    const storageNext = this.toStorage(rt, next);

    if (shouldDeleteDuringUpdate(storageNext)) {
      if (opts.dryRun) return this.present(rt, version, storageNext);
      const removed = this.store.remove(typeKey(rt), namespace, name);
      return this.present(rt, version, removed ?? storageNext);
    }
    // kube-apiserver skips writes that change nothing, so resourceVersion stays put.
    if (sameIgnoringVersion(storageNext, current)) return this.present(rt, version, current, opts.view);
    if (opts.dryRun) return this.present(rt, version, storageNext);
    const stored = this.store.update(typeKey(rt), storageNext);
    if (isCrd(rt)) this.syncCrd(stored);
    return this.present(rt, version, stored, opts.view);
  }

  private buildUpdated(
    rt: ResourceType,
    version: string,
    current: KubeObject,
    incoming: KubeObject,
    subresource: string,
  ): KubeObject {
    let next: KubeObject;
    if (subresource === 'status') {
      next = this.present(rt, version, current);
      if (incoming.status === undefined) delete next.status;
      else next.status = clone(incoming.status);
      // deploymentStatusStrategy resets only spec and labels: annotations written with the status are kept.
      if (rt.group === 'apps' && rt.plural === 'deployments') {
        if (incoming.metadata.annotations === undefined) delete next.metadata.annotations;
        else next.metadata.annotations = clone(incoming.metadata.annotations);
      }
      return next;
    }
    // `incoming` is this write's own decoded object (decodeRequest, or a presented copy for a scale): it becomes the
    // new version, and no caller reads it afterwards.
    next = incoming;
    next.apiVersion = apiVersionOf(rt, version);
    next.kind = rt.kind;
    next.metadata.namespace = current.metadata.namespace;
    if (!rt.namespaced) delete next.metadata.namespace;
    for (const field of SYSTEM_META_FIELDS) {
      if (current.metadata[field] === undefined) delete next.metadata[field];
      else next.metadata[field] = clone(current.metadata[field]);
    }
    if (rt.hasStatusSubresource) {
      if (current.status === undefined) delete next.status;
      else next.status = clone(current.status);
    }
    if (rt.group === '' && rt.plural === 'namespaces') {
      next.spec = clone(current.spec);
    }
    if (rt.group === '' && rt.plural === 'services') preserveAllocatedValues(next, current);
    this.applyDefaults(rt, version, next);
    return next;
  }

  // ------------------------------------------------------------------ delete

  delete(rt: ResourceType, version: string, namespace: string, name: string, opts: DeleteOptions = {}): DeleteResult {
    this.requireVerb(rt, 'delete');
    const current = this.require(rt, namespace, name);
    const gr = groupResource(rt);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== current.metadata.uid)
      throw conflict(
        gr,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid ?? ''}`,
      );
    if (pre.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
      throw conflict(
        gr,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object ` +
          `meta: ${current.metadata.resourceVersion ?? ''}`,
      );
    const req = this.admissionRequest('DELETE', rt, version, namespace, name, undefined, current, opts);
    this.admission.mutate(req);
    this.admission.validate(req);

    if (rt.group === '' && rt.plural === 'namespaces') return this.deleteNamespace(rt, version, current, opts);

    const pending = this.pendingDeletion(rt, current, opts);
    if (pending) {
      if (opts.dryRun)
        return { object: this.present(rt, version, pending), body: this.present(rt, version, pending), removed: false };
      const stored = sameIgnoringVersion(pending, current) ? current : this.store.update(typeKey(rt), pending);
      const shown = this.present(rt, version, stored);
      return { object: shown, body: shown, removed: false };
    }
    if (opts.dryRun) return this.deletedResult(rt, version, current);

    if (opts.propagationPolicy === 'Orphan') this.orphanDependents(current);
    if (isCrd(rt)) this.removeCrdContents(current);
    const removed = this.store.remove(typeKey(rt), rt.namespaced ? namespace : '', name) ?? current;
    if (isCrd(rt)) this.syncCrdRemoval(removed);
    return this.deletedResult(rt, version, removed);
  }

  /** Removes an object unconditionally (graceful termination finished, namespace teardown, GC). */
  forceRemove(rt: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const current = this.store.peek(typeKey(rt), namespace, name);
    if (!current) return undefined;
    if (isCrd(rt)) this.removeCrdContents(current);
    const removed = this.store.remove(typeKey(rt), namespace, name);
    if (removed && isCrd(rt)) this.syncCrdRemoval(removed);
    return removed;
  }

  deleteCollection(
    rt: ResourceType,
    version: string,
    namespace: string,
    listOpts: ListOptions,
    opts: DeleteOptions = {},
  ): ListResult {
    this.requireVerb(rt, 'deletecollection');
    const listed = this.list(rt, version, namespace, {
      labelSelector: listOpts.labelSelector,
      fieldSelector: listOpts.fieldSelector,
    });
    const deleted: KubeObject[] = [];
    for (const item of listed.items) {
      try {
        deleted.push(this.delete(rt, version, item.metadata.namespace ?? '', item.metadata.name ?? '', opts).object);
      } catch (err) {
        if (!(isStatusError(err) && err.code === 404)) throw err;
      }
    }
    return { ...listed, items: deleted };
  }

  private deletedResult(rt: ResourceType, version: string, obj: KubeObject): DeleteResult {
    const shown = this.present(rt, version, obj);
    const body = rt.returnDeletedObject
      ? shown
      : {
          kind: 'Status' as const,
          apiVersion: 'v1' as const,
          metadata: {},
          status: 'Success' as const,
          details: { name: obj.metadata.name, group: rt.group || undefined, kind: rt.plural, uid: obj.metadata.uid },
        };
    return { object: shown, body, removed: true };
  }

  /** The marked-for-deletion object when deletion must wait (finalizers, graceful pod shutdown). */
  private pendingDeletion(rt: ResourceType, current: KubeObject, opts: DeleteOptions): KubeObject | undefined {
    const finalizers = current.metadata.finalizers ?? [];
    if (finalizers.length > 0) {
      const next = clone(current);
      next.metadata.deletionTimestamp ??= nowTimestamp();
      next.metadata.deletionGracePeriodSeconds ??= 0;
      return next;
    }
    if (rt.group === '' && rt.plural === 'pods') {
      const spec = asRecord(current.spec);
      const scheduled = typeof spec.nodeName === 'string' && spec.nodeName !== '';
      const grace =
        opts.gracePeriodSeconds ??
        (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
      if (!scheduled || grace <= 0) return undefined;
      const previousGrace = current.metadata.deletionGracePeriodSeconds;
      if (previousGrace !== undefined && previousGrace <= grace) return clone(current);
      const next = clone(current);
      next.metadata.deletionTimestamp = nowTimestamp(new Date(Date.now() + grace * 1000));
      next.metadata.deletionGracePeriodSeconds = grace;
      return next;
    }
    return undefined;
  }

  private deleteNamespace(rt: ResourceType, version: string, current: KubeObject, opts: DeleteOptions): DeleteResult {
    if (current.metadata.deletionTimestamp) {
      // pkg/registry/core/namespace/storage: a terminating namespace goes only once its finalizers are done.
      if (asArray(asRecord(current.spec).finalizers).length > 0)
        throw conflict(
          groupResource(rt),
          current.metadata.name ?? '',
          'The system is ensuring all content is removed from this namespace.  Upon completion, this namespace ' +
            'will automatically be purged by the system.',
        );
      const shown = this.present(rt, version, current);
      return { object: shown, body: shown, removed: false };
    }
    const next = clone(current);
    next.metadata.deletionTimestamp = nowTimestamp();
    next.status = { ...asRecord(next.status), phase: 'Terminating' };
    if (opts.dryRun) {
      const shown = this.present(rt, version, next);
      return { object: shown, body: shown, removed: false };
    }
    const shown = this.present(rt, version, this.store.update(typeKey(rt), next));
    return { object: shown, body: shown, removed: false };
  }

  private orphanDependents(owner: KubeObject): void {
    const uid = owner.metadata.uid;
    for (const rt of this.registry.all()) {
      for (const obj of this.store.scan(typeKey(rt))) {
        const refs = obj.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === uid)) continue;
        const next = clone(obj);
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.store.update(typeKey(rt), next);
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  requireVerb(rt: ResourceType, verb: string): void {
    if (!rt.verbs.includes(verb)) throw methodNotSupported(groupResource(rt), verb);
  }

  private require(rt: ResourceType, namespace: string, name: string): KubeObject {
    const found = this.store.peek(typeKey(rt), rt.namespaced ? namespace : '', name);
    if (!found) throw notFound(groupResource(rt), name);
    return found;
  }

  /**
   * The object as served at `version` (custom resources use conversion strategy None): a copy the caller may change,
   * or with `view` a new top level that shares every field with `obj`, for a caller that only serializes it. A stored
   * object is never mutated (each write stores a new one), so a view of it stays as it was when it was taken.
   */
  present(rt: ResourceType, version: string, obj: KubeObject, view = false): KubeObject {
    const out = view ? obj : clone(obj);
    const ordered: KubeObject = { apiVersion: apiVersionOf(rt, version), kind: rt.kind, metadata: out.metadata };
    for (const [key, value] of Object.entries(out))
      if (key !== 'apiVersion' && key !== 'kind' && key !== 'metadata') ordered[key] = value;
    return ordered;
  }

  /**
   * The object as stored: `obj` itself, at the storage version. The caller hands it over (a decoded request or an
   * object built for this write, never a stored one) and must not use it afterwards: the store takes ownership.
   */
  private toStorage(rt: ResourceType, obj: KubeObject): KubeObject {
    obj.apiVersion = apiVersionOf(rt, rt.storageVersion);
    obj.kind = rt.kind;
    omitEmptyMeta(obj); // before an update is compared with the stored object: `{}` is no change from none
    return obj;
  }

  /**
   * The request body as an object of the kind: apiVersion and kind checked (runtime.Interpret), then `typed` (the Go
   * decoding of a built-in kind) runs on the raw copy before metadata is normalized.
   */
  private decode(rt: ResourceType, version: string, body: unknown, typed?: (obj: KubeObject) => void): KubeObject {
    if (!isObject(body)) throw badRequest(`the object provided is unrecognized (must be of type ${rt.kind})`);
    const obj = clone(body) as KubeObject;
    const expected = apiVersionOf(rt, version);
    if (rt.custom && (typeof obj.kind !== 'string' || obj.kind === ''))
      throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    if (obj.apiVersion !== undefined && obj.apiVersion !== expected)
      throw badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${expected})`,
      );
    if (obj.kind !== undefined && obj.kind !== rt.kind)
      throw badRequest(
        `${String(obj.kind)} in version "${version}" cannot be handled as a ${rt.kind}: no kind ` +
          `"${String(obj.kind)}" is registered for version "${expected}"`,
      );
    typed?.(obj);
    obj.apiVersion = expected;
    obj.kind = rt.kind;
    obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
    return obj;
  }

  private bindNamespace(rt: ResourceType, namespace: string, obj: KubeObject): void {
    if (!rt.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && obj.metadata.namespace !== namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    obj.metadata.namespace = namespace;
  }

  private applyDefaults(rt: ResourceType, version: string, obj: KubeObject): void {
    if (rt.custom) {
      const defaulted = applyDefaults(obj, rt.crd?.schemas.get(version)) as KubeObject;
      for (const key of Object.keys(obj)) delete obj[key];
      Object.assign(obj, defaulted);
      return;
    }
    applyBuiltinDefaults(rt, obj);
  }

  /**
   * Decodes a request body (or a patched object) the way the apiserver's decoder does. A built-in kind is decoded
   * into its Go type (builtin-types.ts): JSON decoding for bodies and JSON/merge-patched objects, the unstructured
   * converter for strategic-merge-patched ones; a type error fails the request, unknown fields are dropped. A custom
   * resource's metadata becomes ObjectMeta (unknown keys dropped), and it is pruned to its schema and loses its
   * non-nullable nulls. The dropped fields are then an error (`Strict`), a warning (`Warn`, the default) or
   * nothing (`Ignore`).
   */
  private decodeRequest(
    rt: ResourceType,
    version: string,
    body: unknown,
    opts: WriteOptions,
    how: 'create' | 'update' | 'patch',
    patch?: { type: PatchType; body: unknown },
  ): KubeObject {
    const unknown: string[] = [];
    // handlers/patch.go shows the strategic merge patch itself (`%+v` of the patch map), other patches the result.
    const patchValue = () => goQuote(patch?.type === 'strategic' ? goFormat(patch.body) : JSON.stringify(body));
    const typed = (raw: KubeObject) => {
      const decoded: DecodeResult =
        patch?.type === 'strategic'
          ? decodeBuiltinUnstructured(rt.group, version, rt.kind, raw)
          : decodeBuiltinJson(rt.group, version, rt.kind, raw);
      if (decoded.error !== undefined) {
        if (how === 'patch') throw invalid('', '', '', [fieldErr.invalidRaw('patch', patchValue(), decoded.error)]);
        throw badRequest(`${rt.kind} in version "${version}" cannot be handled as a ${rt.kind}: ${decoded.error}`);
      }
      unknown.push(...decoded.unknown);
    };
    const obj = this.decode(rt, version, body, rt.custom || patch?.type === 'apply' ? undefined : typed);
    if (rt.custom) {
      for (const key of Object.keys(obj.metadata)) {
        if (OBJECT_META_FIELDS.has(key)) continue;
        delete obj.metadata[key];
        unknown.push(`metadata.${key}`);
      }
      const schema = rt.crd?.schemas.get(version);
      unknown.push(...pruneUnknownFields(obj, schema, true));
      pruneNonNullableNulls(obj, schema);
    }
    if (unknown.length === 0 || opts.fieldValidation === 'Ignore') return obj;
    const errors = unknown.map((path) => `unknown field ${JSON.stringify(path)}`);
    if (opts.fieldValidation === 'Strict') {
      const reason = `strict decoding error: ${errors.join(', ')}`;
      if (how !== 'patch') {
        throw badRequest(`${rt.kind} in version "${version}" cannot be handled as a ${rt.kind}: ${reason}`);
      }
      throw invalid('', '', '', [fieldErr.invalidRaw('patch', patchValue(), reason)]);
    }
    opts.warnings?.push(...errors);
    return obj;
  }

  /**
   * Server-side apply converts the applied configuration to a typed value first (structured-merge-diff): a field
   * the schema does not declare fails the request with a plain error, a 500 whatever fieldValidation says
   * (managedfields/internal/structuredmerge.go; kubernetes/kubernetes#122480).
   */
  private checkAppliedFields(rt: ResourceType, version: string, namespace: string, name: string, body: unknown): void {
    const undeclared = undeclaredApplyFields(rt.group, version, rt.kind, body);
    if (!undeclared) return;
    const ns = rt.namespaced ? namespace : '';
    throw unknownError(
      `failed to create typed patch object (${ns}/${name}; ${rt.group}/${version}, Kind=${rt.kind}): ${undeclared}`,
    );
  }

  /** CreateOptions/UpdateOptions/PatchOptions validation (apimachinery's ValidateFieldManager & co). */
  private validateOptions(kind: string, opts: WriteOptions): void {
    const errs: FieldError[] = [];
    const manager = opts.fieldManager ?? '';
    // Go's len(): bytes of the UTF-8 encoding, not characters.
    if (Buffer.byteLength(manager, 'utf8') > FIELD_MANAGER_MAX_LENGTH) {
      errs.push(fieldErr.tooLong('fieldManager', FIELD_MANAGER_MAX_LENGTH));
    }
    [...manager].forEach((ch, i) => {
      if (isPrintable(ch)) return;
      const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      errs.push(fieldErr.invalid('fieldManager', manager, `invalid character ${code} (at position ${i})`));
    });
    const dryRun = opts.dryRunValues ?? [];
    if (dryRun.some((v) => v !== 'All')) errs.push(dryRunNotSupported(dryRun));
    const validation = opts.fieldValidation ?? '';
    if (!FIELD_VALIDATION.includes(validation)) {
      errs.push(fieldErr.notSupported('fieldValidation', validation, FIELD_VALIDATION));
    }
    if (errs.length > 0) throw invalid(kind, 'meta.k8s.io', '', errs);
  }

  /** Who a write is recorded for in managedFields: its fieldManager, else its User-Agent prefix. */
  private fieldWrite(rt: ResourceType, version: string, opts: WriteOptions, subresource: string) {
    // Writes from inside the emulator (controllers, seeds, tests' store) have no User-Agent.
    const internal = opts.userAgent === undefined ? 'emulator' : '';
    const manager = opts.fieldManager || managerFromUserAgent(opts.userAgent ?? '') || internal;
    return {
      manager,
      operation: opts.apply ? ('Apply' as const) : ('Update' as const),
      apiVersion: apiVersionOf(rt, version),
      subresource,
      hasStatusSubresource: rt.hasStatusSubresource,
      smp: rt.custom ? undefined : rt.smp,
    };
  }

  private validateBody(rt: ResourceType, version: string, obj: KubeObject, old?: KubeObject): FieldError[] {
    return rt.custom ? validateCustomResource(rt, version, obj) : validateBuiltin(rt, obj, old);
  }

  private admissionRequest(
    operation: Operation,
    rt: ResourceType,
    version: string,
    namespace: string,
    name: string,
    object: KubeObject | undefined,
    oldObject: KubeObject | undefined,
    opts: { dryRun?: boolean; subresource?: string },
  ): AdmissionRequest {
    return {
      operation,
      rt,
      version,
      namespace: rt.namespaced ? namespace : '',
      name,
      subresource: opts.subresource ?? '',
      object,
      oldObject,
      dryRun: opts.dryRun === true,
    };
  }

  private review(
    rt: ResourceType,
    version: string,
    obj: KubeObject,
    answer?: (spec: unknown) => Record<string, unknown>,
  ): KubeObject {
    const out = this.present(rt, version, obj);
    out.metadata = {};
    // The privileged-group authorizer allows system:masters without a reason.
    out.status = answer ? answer(out.spec) : { allowed: true };
    return out;
  }

  private allocate(rt: ResourceType, obj: KubeObject): void {
    if (rt.group !== '' || rt.plural !== 'services') return;
    const spec = asRecord(obj.spec);
    if (spec.type === 'ExternalName') return;
    const used = new Set(this.store.scan('/services').map((svc) => asRecord(svc.spec).clusterIP));
    if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '') {
      if (spec.clusterIP !== 'None' && used.has(spec.clusterIP))
        throw invalid(rt.kind, rt.group, obj.metadata.name ?? '', [
          fieldErr.invalidRaw(
            'spec.clusterIPs',
            `[]string{${JSON.stringify(spec.clusterIP)}}`,
            `failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
          ),
        ]);
    } else {
      spec.clusterIP = nextClusterIp(used);
    }
    spec.clusterIPs = [spec.clusterIP];
  }

  private syncCrd(crd: KubeObject): void {
    const rt = resourceTypeFromCrd(crd);
    if (rt) this.registry.register(rt);
    this.hooks.onCrdChanged?.();
  }

  private removeCrdContents(crd: KubeObject): void {
    const rt = resourceTypeFromCrd(crd);
    if (!rt) return;
    for (const obj of this.store.scan(typeKey(rt)))
      this.store.remove(typeKey(rt), obj.metadata.namespace ?? '', obj.metadata.name ?? '');
  }

  private syncCrdRemoval(crd: KubeObject): void {
    const rt = resourceTypeFromCrd(crd);
    if (rt) {
      this.registry.unregister(rt.group, rt.plural);
      this.store.dropType(typeKey(rt));
    }
    this.hooks.onCrdChanged?.();
  }
}

// ------------------------------------------------------------------ free helpers

/** ValidateDryRun: `dryRun: Unsupported value: []string{"foo"}: supported values: "All"`. */
export function dryRunNotSupported(values: readonly string[]): FieldError {
  return {
    type: 'FieldValueNotSupported',
    field: 'dryRun',
    value: goStringSlice(values),
    detail: 'supported values: "All"',
  };
}

function isCrd(rt: ResourceType): boolean {
  return rt.group === 'apiextensions.k8s.io' && rt.plural === 'customresourcedefinitions';
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
}

function generateName(prefix: string): string {
  const base = prefix.length > 58 ? prefix.slice(0, 58) : prefix;
  return `${base}${randomSuffix(5)}`;
}

// etcd3/errors.go: the answer to a continue token whose revision was compacted away.
const INCONSISTENT_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list ' +
  'without the continue parameter, or use the continue token in this response to retrieve the remainder of the ' +
  'results. Continuing with the provided token results in an inconsistent list - objects that were created, ' +
  'modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** storage.EncodeContinue: base64url (unpadded) JSON of the version, the revision and the next key. */
function encodeContinue(revision: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start })).toString('base64url');
}

/** storage.DecodeContinue, with the etcd3 store's `invalid continue token` wrapping of its errors. */
function decodeContinue(token: string): { start: string; rv: number } {
  const invalid = (why: string) => badRequest(`invalid continue token: continue key is not valid${why}`);
  // base64.RawURLEncoding: the first byte outside the alphabet, or a lone last character, is corrupt input.
  const bad = /[^A-Za-z0-9_-]/.exec(token)?.index ?? (token.length % 4 === 1 ? token.length - 1 : -1);
  if (bad >= 0) throw invalid(`: illegal base64 data at input byte ${bad}`);
  let parsed: unknown;
  const json = Buffer.from(token, 'base64url').toString('utf8');
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw invalid(`: ${goJsonError(err, json)}`);
  }
  const c = isObject(parsed) ? parsed : {};
  if (c.v !== 'meta.k8s.io/v1') {
    throw invalid(`: server does not recognize this encoded version ${JSON.stringify(String(c.v ?? ''))}`);
  }
  const rv = typeof c.rv === 'number' ? c.rv : 0;
  if (rv === 0) throw invalid(': incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  if (typeof c.start !== 'string' || c.start === '') {
    throw invalid(': encoded start key empty (version meta.k8s.io/v1)');
  }
  return { start: c.start, rv };
}

function applyPatch(rt: ResourceType, patchType: PatchType, base: KubeObject, patchBody: unknown): unknown {
  switch (patchType) {
    case 'merge':
      if (!isObject(patchBody)) throw badRequest('Invalid JSON Patch');
      return jsonMergePatch(base, patchBody);
    case 'json':
      try {
        return applyJsonPatch(base, decodeJsonPatch(patchBody));
      } catch (err) {
        if (err instanceof JsonPatchFormatError) throw badRequest(err.message);
        if (err instanceof JsonPatchApplyError) throw genericUnprocessable();
        throw err;
      }
    case 'strategic':
    case 'apply':
      try {
        if (!isObject(patchBody)) throw new StrategicMergeFormatError('invalid JSON document');
        if (patchType === 'apply' && rt.custom) return jsonMergePatch(base, patchBody);
        return strategicMergePatch(base, patchBody, rt.smp);
      } catch (err) {
        if (err instanceof StrategicMergeFormatError) throw badRequest(err.message);
        if (err instanceof StrategicMergeError) throw unknownError(err.message);
        throw err;
      }
  }
}
