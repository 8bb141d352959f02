// Shared shapes for the Kubernetes API emulator. Objects are kept as plain JSON trees,
// exactly as they travel over the wire, so every algorithm works on the same representation.

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json | undefined;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * ObjectMeta's maps and lists are `omitempty`: kube-apiserver never stores or answers an empty one, for a built-in
 * kind (its Go type) or a custom resource (metadata rebuilt through ObjectMeta, schemaobjectmeta.SetObjectMeta). So
 * removing the last annotation leaves no `annotations` at all, and a JSON patch `add /metadata/annotations/<key>`
 * then fails (its parent is missing) as it does on a cluster.
 */
export function omitEmptyMeta(obj: KubeObject): void {
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (!meta) return;
  for (const key of ['labels', 'annotations', 'finalizers', 'ownerReferences']) {
    const v = meta[key];
    if (v !== null && typeof v === 'object' && Object.keys(v).length === 0) delete meta[key];
  }
}

/** Deep copy of a JSON tree (hand-rolled: several times faster than structuredClone for API objects). */
export function clone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const n = value.length;
    const items = new Array<unknown>(n);
    for (let i = 0; i < n; i++) items[i] = clone(value[i]);
    return items as T;
  }
  // for…in over a plain JSON object is its own keys, and a fifth faster than Object.keys here.
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = clone((value as Record<string, unknown>)[key]);
  return out as T;
}

/** Reads a nested property through plain objects; undefined when any step is missing. */
export function getPath(root: unknown, path: readonly string[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Returns the object at `path`, creating empty objects along the way. */
export function ensurePath(root: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  let current = root;
  for (const key of path) {
    const next = current[key];
    if (isObject(next)) {
      current = next;
    } else {
      const created: Record<string, unknown> = {};
      current[key] = created;
      current = created;
    }
  }
  return current;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asRecord(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Deep structural equality for JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown, ignore?: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i], ignore));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ak = Object.keys(a).filter((k) => a[k] !== undefined && !ignore?.has(k));
    const bk = Object.keys(b).filter((k) => b[k] !== undefined && !ignore?.has(k));
    if (ak.length !== bk.length) return false;
    return ak.every((k) => jsonEqual(a[k], b[k], ignore));
  }
  return false;
}

const formatTimestamp = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
let stampSecond = Number.NaN;
let stamp = '';

/** RFC 3339 at second precision, as the apiserver writes times; the current second's string is reused. */
export function nowTimestamp(date?: Date): string {
  if (date) return formatTimestamp(date);
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stamp = formatTimestamp(new Date(second * 1000));
  }
  return stamp;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function joinApiVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Random suffix with the alphabet apimachinery uses for generateName and pod names. */
export function randomSuffix(length = 5): string {
  let out = '';
  for (let i = 0; i < length; i++) out += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return out;
}

/** rand.SafeEncodeString from apimachinery: maps each byte into the vowel-free alphabet. */
export function safeEncodeString(input: string): string {
  let out = '';
  for (const ch of input) out += NAME_ALPHABET[ch.charCodeAt(0) % NAME_ALPHABET.length];
  return out;
}

/** 32-bit FNV-1a, the hash family the deployment controller uses for pod-template-hash. */
export function fnv32a(input: string): number {
  let hash = 0x811c9dc5;
  const bytes = Buffer.from(input, 'utf8');
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
