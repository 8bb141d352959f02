// The three patch algorithms of kube-apiserver: JSON merge patch (RFC 7386), JSON patch (RFC 6902,
// evanphx/json-patch semantics) and strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch).

import { clone, isObject, jsonEqual } from './types.js';

// ---------------------------------------------------------------- JSON merge patch

/** RFC 7386: objects merge recursively, `null` deletes, anything else (arrays included) replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = jsonMergePatch(result[key], value);
  }
  return result;
}

// ---------------------------------------------------------------- JSON patch

/** The patch document itself is malformed (apiserver: 400 BadRequest). */
export class JsonPatchFormatError extends Error {}
/** The patch is well formed but cannot be applied (apiserver: 422). */
export class JsonPatchApplyError extends Error {}

export interface JsonPatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

export function decodeJsonPatch(raw: unknown): JsonPatchOperation[] {
  if (!Array.isArray(raw))
    throw new JsonPatchFormatError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  return raw.map((entry) => {
    if (!isObject(entry))
      throw new JsonPatchFormatError('json: cannot unmarshal non-object into Go value of type jsonpatch.Operation');
    const op: JsonPatchOperation = {
      op: typeof entry.op === 'string' ? entry.op : '',
      path: typeof entry.path === 'string' ? entry.path : '',
    };
    if (typeof entry.from === 'string') op.from = entry.from;
    if ('value' in entry) op.value = entry.value;
    if (!('path' in entry) && entry.op !== undefined) op.path = '';
    return op;
  });
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchApplyError(`invalid JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, allowEnd: boolean, path: string): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token))
    throw new JsonPatchApplyError(
      `Unable to access invalid index: ${token}: doc is missing path: ${JSON.stringify(path)}`,
    );
  const index = Number(token);
  const max = allowEnd ? length : length - 1;
  if (index > max)
    throw new JsonPatchApplyError(
      `Unable to access invalid index: ${index}: doc is missing path: ${JSON.stringify(path)}`,
    );
  return index;
}

interface Location {
  parent: Record<string, unknown> | unknown[];
  key: string;
}

function locate(doc: unknown, path: string, op: string): Location {
  const tokens = parsePointer(path);
  if (tokens.length === 0)
    throw new JsonPatchApplyError(`${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
  let current: unknown = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i];
    if (Array.isArray(current)) current = current[arrayIndex(token, current.length, false, path)];
    else if (isObject(current) && token in current) current = current[token];
    else
      throw new JsonPatchApplyError(
        `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
      );
  }
  if (!Array.isArray(current) && !isObject(current))
    throw new JsonPatchApplyError(
      `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
    );
  return { parent: current, key: tokens[tokens.length - 1] };
}

function readPointer(doc: unknown, path: string, op: string): unknown {
  if (path === '') return doc;
  const { parent, key } = locate(doc, path, op);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length, false, path)];
  if (!(key in parent))
    throw new JsonPatchApplyError(`${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
  return parent[key];
}

function addAt(doc: unknown, path: string, value: unknown): unknown {
  if (path === '') return clone(value);
  const { parent, key } = locate(doc, path, 'add');
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true, path), 0, clone(value));
  else parent[key] = clone(value);
  return doc;
}

function removeAt(doc: unknown, path: string, op = 'remove'): unknown {
  const { parent, key } = locate(doc, path, op);
  if (Array.isArray(parent)) {
    const index = arrayIndex(key, parent.length, false, path);
    return parent.splice(index, 1)[0];
  }
  if (!(key in parent)) throw new JsonPatchApplyError(`Unable to remove nonexistent key: ${key}: missing value`);
  const removed = parent[key];
  delete parent[key];
  return removed;
}

/** Applies an RFC 6902 patch to a copy of `doc`. */
export function applyJsonPatch(doc: unknown, operations: readonly JsonPatchOperation[]): unknown {
  let result = clone(doc);
  for (const operation of operations) {
    switch (operation.op) {
      case 'add':
        result = addAt(result, operation.path, operation.value ?? null);
        break;
      case 'remove':
        removeAt(result, operation.path);
        break;
      case 'replace': {
        if (operation.path === '') {
          result = clone(operation.value ?? null);
          break;
        }
        const { parent, key } = locate(result, operation.path, 'replace');
        if (Array.isArray(parent))
          parent[arrayIndex(key, parent.length, false, operation.path)] = clone(operation.value ?? null);
        else if (key in parent) parent[key] = clone(operation.value ?? null);
        else
          throw new JsonPatchApplyError(
            `replace operation does not apply: doc is missing key: ${operation.path}: missing value`,
          );
        break;
      }
      case 'move': {
        const from = operation.from ?? '';
        if (operation.path.startsWith(`${from}/`))
          throw new JsonPatchApplyError(`move operation: "from" ${from} is a prefix of "path" ${operation.path}`);
        const value = readPointer(result, from, 'move');
        removeAt(result, from, 'move');
        result = addAt(result, operation.path, value);
        break;
      }
      case 'copy': {
        const value = readPointer(result, operation.from ?? '', 'copy');
        result = addAt(result, operation.path, value);
        break;
      }
      case 'test': {
        let actual: unknown;
        try {
          actual = readPointer(result, operation.path, 'test');
        } catch {
          // A missing member equals null (json-patch v4's test), but only inside a container that exists.
          const parent = operation.path.slice(0, operation.path.lastIndexOf('/'));
          try {
            if (parent) readPointer(result, parent, 'test');
          } catch {
            throw new JsonPatchApplyError(`test operation does not apply: is missing path: ${operation.path}`);
          }
          actual = undefined;
        }
        const expected = operation.value ?? null;
        const matches = actual === undefined ? expected === null : jsonEqual(actual, expected);
        if (!matches) throw new JsonPatchApplyError(`testing value ${operation.path} failed: test failed`);
        break;
      }
      default:
        throw new JsonPatchApplyError(`Unexpected kind: ${operation.op}`);
    }
  }
  return result;
}

// ---------------------------------------------------------------- strategic merge patch

export interface SmpField {
  /** `patchStrategy` struct tag: merge lists by key instead of replacing them; retainKeys for unions. */
  strategy?: 'merge' | 'retainKeys' | 'merge,retainKeys';
  /** `patchMergeKey` struct tag for lists of objects. */
  mergeKey?: string;
  /** Schema of the value (for objects) or of each list element. Lazily resolved to allow recursion. */
  schema?: () => SmpSchema;
}

export interface SmpSchema {
  fields: Record<string, SmpField>;
}

export const EMPTY_SMP_SCHEMA: SmpSchema = { fields: {} };

/** The patch violates strategic-merge rules in a way the apiserver reports verbatim (500, no reason). */
export class StrategicMergeError extends Error {}
/** Malformed directive usage: the apiserver answers 400. */
export class StrategicMergeFormatError extends Error {}

const PATCH_DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';
const SET_ORDER_PREFIX = '$setElementOrder/';

function subSchema(schema: SmpSchema, key: string): SmpSchema {
  return schema.fields[key]?.schema?.() ?? EMPTY_SMP_SCHEMA;
}

/** Removes every `$` directive so the value can be stored as-is. */
function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value
      .filter((item) => !(isObject(item) && item[PATCH_DIRECTIVE] !== undefined && Object.keys(item).length === 1))
      .map(stripDirectives);
  }
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('$')) continue;
    if (v === null) continue; // a null in a brand-new subtree has nothing to delete
    out[k] = stripDirectives(v);
  }
  return out;
}

/** Applies a strategic merge patch; `schema` carries the merge keys of the object's type. */
export function strategicMergePatch(original: unknown, patch: unknown, schema: SmpSchema = EMPTY_SMP_SCHEMA): unknown {
  if (!isObject(patch)) throw new StrategicMergeFormatError('invalid JSON document');
  const base = isObject(original) ? clone(original) : {};
  return mergeMap(base, clone(patch), schema);
}

function mergeMap(
  original: Record<string, unknown>,
  patch: Record<string, unknown>,
  schema: SmpSchema,
): Record<string, unknown> {
  const directive = patch[PATCH_DIRECTIVE];
  if (directive !== undefined) {
    delete patch[PATCH_DIRECTIVE];
    if (directive === 'replace') return stripDirectives(patch) as Record<string, unknown>;
    if (directive === 'delete') return {};
    throw new StrategicMergeFormatError(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  }

  const retainKeys = patch[RETAIN_KEYS];
  if (retainKeys !== undefined) {
    delete patch[RETAIN_KEYS];
    if (!Array.isArray(retainKeys))
      throw new StrategicMergeFormatError('invalid patch: the value of $retainKeys must be a list');
    const keep = new Set(retainKeys.map(String));
    for (const key of Object.keys(original)) if (!keep.has(key)) delete original[key];
  }

  const orders = new Map<string, unknown[]>();
  for (const key of Object.keys(patch)) {
    if (key.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const field = key.slice(DELETE_PRIMITIVE_PREFIX.length);
      const remove = patch[key];
      delete patch[key];
      if (!Array.isArray(remove))
        throw new StrategicMergeFormatError('invalid patch: $deleteFromPrimitiveList must be a list');
      const current = original[field];
      if (Array.isArray(current)) original[field] = current.filter((item) => !remove.some((r) => jsonEqual(r, item)));
    } else if (key.startsWith(SET_ORDER_PREFIX)) {
      const order = patch[key];
      delete patch[key];
      if (!Array.isArray(order)) throw new StrategicMergeFormatError('invalid patch: $setElementOrder must be a list');
      orders.set(key.slice(SET_ORDER_PREFIX.length), order);
    }
  }

  // The live lists the order directives refer to: their items that the order does not name keep their live order.
  const live = new Map<string, unknown[]>();
  for (const field of orders.keys()) {
    const list = original[field];
    if (Array.isArray(list)) live.set(field, [...list]);
  }

  for (const [key, patchValue] of Object.entries(patch)) {
    if (patchValue === null) {
      delete original[key];
      continue;
    }
    const field = schema.fields[key];
    const originalValue = original[key];
    if (!(key in original)) {
      if (Array.isArray(patchValue) && field?.strategy?.includes('merge')) {
        original[key] = mergeList([], patchValue, field, subSchema(schema, key));
      } else if (isObject(patchValue)) {
        const merged = mergeMap({}, patchValue, subSchema(schema, key));
        original[key] = merged;
      } else {
        original[key] = stripDirectives(patchValue);
      }
      continue;
    }
    if (isObject(patchValue) && isObject(originalValue)) {
      original[key] = mergeMap(originalValue, patchValue, subSchema(schema, key));
    } else if (Array.isArray(patchValue) && Array.isArray(originalValue) && field?.strategy?.includes('merge')) {
      original[key] = mergeList(originalValue, patchValue, field, subSchema(schema, key));
    } else if (Array.isArray(patchValue)) {
      original[key] = replaceList(patchValue);
    } else if (isObject(patchValue)) {
      original[key] = mergeMap({}, patchValue, subSchema(schema, key));
    } else {
      original[key] = patchValue;
    }
  }

  for (const [field, order] of orders) {
    const list = original[field];
    if (Array.isArray(list))
      original[field] = applyElementOrder(list, order, live.get(field) ?? [], schema.fields[field]?.mergeKey);
  }
  return original;
}

/** A list without merge semantics is replaced, but a `$patch: replace` marker still has to go. */
function replaceList(patch: unknown[]): unknown[] {
  return stripDirectives(patch) as unknown[];
}

function mergeList(original: unknown[], patch: unknown[], field: SmpField, elementSchema: SmpSchema): unknown[] {
  if (patch.length === 0) return original;
  const patchHasMaps = patch.some(isObject);
  if (!patchHasMaps) {
    const both = [...original, ...patch];
    const out: unknown[] = [];
    for (const item of both) if (!out.some((o) => jsonEqual(o, item))) out.push(item);
    return out;
  }

  if (patch.some((item) => isObject(item) && item[PATCH_DIRECTIVE] === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item[PATCH_DIRECTIVE] === 'replace')).map(stripDirectives);
  }

  const mergeKey = field.mergeKey;
  if (!mergeKey) throw new StrategicMergeError('merging an object in the list requires a merge key');
  const result = original.map((item) => item);
  for (const item of patch) {
    if (!isObject(item))
      throw new StrategicMergeError(`cannot merge a non-object into a list of objects: ${JSON.stringify(item)}`);
    const keyValue = item[mergeKey];
    const directive = item[PATCH_DIRECTIVE];
    if (directive === 'delete') {
      if (keyValue === undefined) throw new StrategicMergeError(`delete patch type with no merge key defined`);
      for (let i = result.length - 1; i >= 0; i--) {
        const existing = result[i];
        if (isObject(existing) && jsonEqual(existing[mergeKey], keyValue)) result.splice(i, 1);
      }
      continue;
    }
    if (keyValue === undefined)
      throw new StrategicMergeError(`map: ${goMap(item)} does not contain declared merge key: ${mergeKey}`);
    const index = result.findIndex((existing) => isObject(existing) && jsonEqual(existing[mergeKey], keyValue));
    if (index >= 0) result[index] = mergeMap(clone(result[index] as Record<string, unknown>), item, elementSchema);
    else result.push(mergeMap({}, item, elementSchema));
  }
  return result;
}

/**
 * `$setElementOrder` as apimachinery's strategicpatch applies it (mergePatchIntoOriginal, normalizeElementOrder): the
 * merged items the order names, sorted by it; the others (server-only), sorted by the live list; then the two merged
 * (mergeSortedSlice): a server-only item goes before the next ordered one when the live list has it before that one.
 */
function applyElementOrder(
  list: unknown[],
  order: unknown[],
  live: unknown[],
  mergeKey: string | undefined,
): unknown[] {
  const identity = (item: unknown): unknown => (mergeKey && isObject(item) ? item[mergeKey] : item);
  const indexIn = (items: unknown[], item: unknown): number =>
    items.findIndex((x) => jsonEqual(identity(x), identity(item)));
  const sortedBy = (items: unknown[], by: unknown[]): unknown[] =>
    items
      .map((item, index) => ({ item, index, rank: indexIn(by, item) }))
      .sort((a, b) => (a.rank >= 0 && b.rank >= 0 ? a.rank - b.rank : 0) || a.index - b.index)
      .map((p) => p.item);
  const ordered = sortedBy(
    list.filter((item) => indexIn(order, item) >= 0),
    order,
  );
  const serverOnly = sortedBy(
    list.filter((item) => indexIn(order, item) < 0),
    live,
  );
  const merged: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < ordered.length) {
    if (j >= ordered.length) merged.push(serverOnly[i++]);
    else if (i >= serverOnly.length) merged.push(ordered[j++]);
    else {
      const left = indexIn(live, serverOnly[i]);
      const right = indexIn(live, ordered[j]);
      merged.push(left >= 0 && right >= 0 && left < right ? serverOnly[i++] : ordered[j++]);
    }
  }
  return merged;
}

function goMap(value: Record<string, unknown>): string {
  const entries = Object.keys(value)
    .sort()
    .map((k) => `${k}:${typeof value[k] === 'object' ? JSON.stringify(value[k]) : String(value[k])}`);
  return `map[${entries.join(' ')}]`;
}
