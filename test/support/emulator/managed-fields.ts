// metadata.managedFields: which manager (the write's `fieldManager`, else its User-Agent prefix) set
// which fields, kept on every create/update/patch as kube-apiserver's field manager keeps them for
// `Update` operations: the writer gains the fields it added or changed, every other manager loses
// them, removed fields leave every set, managers left with nothing are dropped. Field sets use the
// FieldsV1 encoding (`f:<field>`, `k:<keys>` for keyed list items, `v:<value>` for sets, `.` for the
// item itself). Lists are keyed by their strategic-merge keys; the others are atomic (one leaf).
// Server-side apply conflicts are not modelled: an apply is recorded like an update.

import type { SmpSchema } from './patch.js';
import { isObject, jsonEqual, nowTimestamp, type KubeObject } from './types.js';

export interface ManagedFieldsEntry {
  manager?: string;
  operation: 'Update' | 'Apply';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldSet;
  subresource?: string;
}

export interface FieldSet {
  [element: string]: FieldSet;
}

/** Maximum length of a manager name (apimachinery's FieldManagerMaxLength). */
export const FIELD_MANAGER_MAX_LENGTH = 128;

/** The manager kube-apiserver derives when a write names none: the User-Agent up to its first `/`. */
export function managerFromUserAgent(userAgent: string): string {
  let out = '';
  for (const ch of userAgent.split('/')[0]) {
    if (!isPrintable(ch)) continue;
    if (Buffer.byteLength(out + ch) > FIELD_MANAGER_MAX_LENGTH) break;
    out += ch;
  }
  return out;
}

export function isPrintable(ch: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch);
}

// Meta fields the field manager never tracks (its stripMeta list).
const UNTRACKED_META = [
  'name',
  'namespace',
  'creationTimestamp',
  'selfLink',
  'uid',
  'generation',
  'managedFields',
  'resourceVersion',
];

/** The part of an object a write through `subresource` may own. */
function tracked(obj: KubeObject, hasStatusSubresource: boolean, subresource: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  delete out.apiVersion;
  delete out.kind;
  const meta: Record<string, unknown> = { ...(obj.metadata ?? {}) };
  for (const key of UNTRACKED_META) delete meta[key];
  if (Object.keys(meta).length > 0) out.metadata = meta;
  else delete out.metadata;
  if (subresource === 'status') return obj.status === undefined ? {} : { status: obj.status };
  if (hasStatusSubresource) delete out.status;
  return out;
}

type Path = string[];

function smpChild(schema: SmpSchema | undefined, key: string): SmpSchema | undefined {
  return schema?.fields[key]?.schema?.();
}

function listKey(schema: SmpSchema | undefined, key: string): { keyed: boolean; mergeKey?: string } {
  const field = schema?.fields[key];
  return { keyed: !!field?.strategy?.includes('merge'), mergeKey: field?.mergeKey };
}

function itemElement(item: unknown, mergeKey: string | undefined): string | undefined {
  if (mergeKey && isObject(item) && item[mergeKey] !== undefined) {
    return `k:${JSON.stringify({ [mergeKey]: item[mergeKey] })}`;
  }
  if (!mergeKey && !isObject(item) && !Array.isArray(item)) return `v:${JSON.stringify(item)}`;
  return undefined;
}

/** Every leaf path of `value` (a scalar, an atomic list, an empty map; keyed list items with `.`). */
function leaves(value: unknown, schema: SmpSchema | undefined, prefix: Path, out: Path[]): void {
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && prefix.length > 0) out.push(prefix);
    for (const key of keys) leafField(value, key, schema, prefix, out);
    return;
  }
  out.push(prefix);
}

function leafField(
  parent: Record<string, unknown>,
  key: string,
  schema: SmpSchema | undefined,
  prefix: Path,
  out: Path[],
): void {
  const value = parent[key];
  const path = [...prefix, `f:${key}`];
  const list = listKey(schema, key);
  if (Array.isArray(value) && list.keyed && value.every((item) => itemElement(item, list.mergeKey))) {
    for (const item of value) listItemLeaves(item, list.mergeKey, smpChild(schema, key), path, out);
    if (value.length === 0) out.push(path);
    return;
  }
  leaves(value, smpChild(schema, key), path, out);
}

function listItemLeaves(
  item: unknown,
  mergeKey: string | undefined,
  schema: SmpSchema | undefined,
  prefix: Path,
  out: Path[],
): void {
  const path = [...prefix, itemElement(item, mergeKey) ?? ''];
  if (!isObject(item)) {
    out.push(path);
    return;
  }
  out.push([...path, '.']);
  for (const key of Object.keys(item)) leafField(item, key, schema, path, out);
}

/** Leaf paths added or changed (`set`) and removed between two versions of a map. */
function diffMaps(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  schema: SmpSchema | undefined,
  prefix: Path,
  set: Path[],
  removed: Path[],
): void {
  for (const key of Object.keys(after)) {
    if (!(key in before)) leafField(after, key, schema, prefix, set);
    else diffField(before, after, key, schema, prefix, set, removed);
  }
  for (const key of Object.keys(before)) if (!(key in after)) leafField(before, key, schema, prefix, removed);
}

function diffField(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  key: string,
  schema: SmpSchema | undefined,
  prefix: Path,
  set: Path[],
  removed: Path[],
): void {
  const a = before[key];
  const b = after[key];
  const path = [...prefix, `f:${key}`];
  const child = smpChild(schema, key);
  if (isObject(a) && isObject(b) && Object.keys(a).length > 0 === Object.keys(b).length > 0) {
    diffMaps(a, b, child, path, set, removed);
    return;
  }
  const list = listKey(schema, key);
  const keyedList = (v: unknown): v is unknown[] =>
    Array.isArray(v) && list.keyed && v.every((i) => itemElement(i, list.mergeKey));
  if (keyedList(a) && keyedList(b) && a.length > 0 && b.length > 0) {
    const old = new Map(a.map((item) => [itemElement(item, list.mergeKey), item]));
    const next = new Map(b.map((item) => [itemElement(item, list.mergeKey), item]));
    for (const [element, item] of next) {
      const prior = old.get(element);
      if (prior === undefined) listItemLeaves(item, list.mergeKey, child, path, set);
      else if (isObject(prior) && isObject(item)) diffMaps(prior, item, child, [...path, element ?? ''], set, removed);
    }
    for (const [element, item] of old) {
      if (!next.has(element)) listItemLeaves(item, list.mergeKey, child, path, removed);
    }
    return;
  }
  if (jsonEqual(a, b)) return;
  leafField(before, key, schema, prefix, removed);
  leafField(after, key, schema, prefix, set);
}

function toPaths(set: FieldSet, prefix: Path = [], out: Path[] = []): Path[] {
  for (const [element, child] of Object.entries(set)) {
    const path = [...prefix, element];
    if (Object.keys(child).length === 0) out.push(path);
    else toPaths(child, path, out);
  }
  return out;
}

function toSet(paths: Path[]): FieldSet {
  const root: FieldSet = {};
  for (const path of paths) {
    let node = root;
    for (const element of path) node = node[element] ??= {};
  }
  return root;
}

/** Paths as a trie: `end` marks a node that is itself one of the paths. */
interface PathTrie {
  end?: true;
  next?: Map<string, PathTrie>;
}

function trieOf(paths: Path[]): PathTrie {
  const root: PathTrie = {};
  for (const path of paths) {
    let node = root;
    for (const element of path) {
      node.next ??= new Map();
      let child = node.next.get(element);
      if (!child) node.next.set(element, (child = {}));
      node = child;
    }
    node.end = true;
  }
  return root;
}

/** Whether `path` or one of its ancestors is one of the trie's paths. */
function covered(path: Path, paths: PathTrie): boolean {
  let node: PathTrie | undefined = paths;
  for (const element of path) {
    node = node.next?.get(element);
    if (!node) return false;
    if (node.end) return true;
  }
  return false;
}

/** Whether `set` already holds `path` (as a leaf or above other fields). */
function holds(set: FieldSet, path: Path): boolean {
  let node: FieldSet | undefined = set;
  for (const element of path) {
    node = node[element];
    if (!node) return false;
  }
  return true;
}

export interface FieldManagerWrite {
  manager: string;
  operation: 'Update' | 'Apply';
  apiVersion: string;
  subresource: string;
  hasStatusSubresource: boolean;
  smp?: SmpSchema;
}

/**
 * The managedFields of `next` after `write` turned `current` (undefined on create) into it.
 * The write's own entry gains what it set, other entries lose what it set or removed.
 */
export function updateManagedFields(
  current: KubeObject | undefined,
  next: KubeObject,
  write: FieldManagerWrite,
): ManagedFieldsEntry[] {
  const set: Path[] = [];
  const removed: Path[] = [];
  const before = current ? tracked(current, write.hasStatusSubresource, write.subresource) : {};
  diffMaps(before, tracked(next, write.hasStatusSubresource, write.subresource), write.smp, [], set, removed);
  const entries = ((current?.metadata.managedFields ?? []) as ManagedFieldsEntry[]).filter((e) => isObject(e.fieldsV1));
  if (set.length === 0 && removed.length === 0) return entries;

  const touched = trieOf([...set, ...removed]);
  const gone = trieOf(removed);
  const same = (e: ManagedFieldsEntry): boolean =>
    e.manager === write.manager &&
    e.operation === write.operation &&
    e.apiVersion === write.apiVersion &&
    (e.subresource ?? '') === write.subresource;
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const entry of entries) {
    if (same(entry)) {
      // The usual case, a manager writing the fields it wrote before: its set stays as it is.
      const fieldsV1 =
        removed.length === 0 && set.every((p) => holds(entry.fieldsV1, p))
          ? entry.fieldsV1
          : toSet([...toPaths(entry.fieldsV1).filter((p) => !covered(p, gone)), ...set]);
      mine = { ...entry, time: nowTimestamp(), fieldsV1 };
      out.push(mine);
      continue;
    }
    const paths = toPaths(entry.fieldsV1);
    const kept = paths.filter((p) => !covered(p, touched));
    // An entry this write did not touch is kept as it is (entries are never mutated in place).
    if (kept.length === paths.length) out.push(entry);
    else if (kept.length > 0) out.push({ ...entry, fieldsV1: toSet(kept) });
  }
  if (!mine && set.length > 0) {
    out.push({
      manager: write.manager || undefined,
      operation: write.operation,
      apiVersion: write.apiVersion,
      time: nowTimestamp(),
      fieldsType: 'FieldsV1',
      fieldsV1: toSet(set),
      ...(write.subresource ? { subresource: write.subresource } : {}),
    });
  }
  return out.filter((e) => Object.keys(e.fieldsV1).length > 0).map((e) => (e.manager ? e : withoutManager(e)));
}

function withoutManager(e: ManagedFieldsEntry): ManagedFieldsEntry {
  const { manager: _drop, ...rest } = e;
  return rest;
}

/** Exported for tests: the leaf paths of a FieldsV1 set, joined with `.`. */
export function fieldPaths(set: FieldSet): string[] {
  return toPaths(set).map((p) => p.join('.'));
}
