// Decoding of built-in kinds into their Go types, as kube-apiserver does it: the shapes come from Kubernetes 1.32's
// published OpenAPI v3 documents (builtin-schemas/, reduced), the semantics from the two decoders a request meets:
// - create, update, JSON and merge patches: sigs.k8s.io/json (encoding/json, case-sensitive, strict): unknown fields
//   are collected in document order (`unknown field "spec.ports[0].appProtocl"`), the first type error wins
//   (`json: cannot unmarshal number into Go struct field ConfigMap.data of type string`), nulls leave zero values;
// - strategic merge patches: runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation (converter.go):
//   sorted unknown fields, `cannot restore slice from map`, `unrecognized type: string` and the like;
// - server-side apply: structured-merge-diff's typed conversion of the applied configuration
//   (`.spec.foo: field not declared in schema`).
// Types with their own UnmarshalJSON (Time, Quantity, IntOrString; RawExtension, FieldsV1, apiextensions JSON) are
// checked the way those methods check. Go type names come from the schema names; named string and map types
// (v1.Protocol, v1.ResourceList) are shown as their underlying types, which the documents do not name.

import { readFileSync } from 'node:fs';
import { isObject } from './types.js';

interface Shape {
  type?: string;
  format?: string;
  $ref?: string;
  oneOf?: string[];
  properties?: Record<string, Shape>;
  items?: Shape;
  additionalProperties?: Shape;
  gvk?: string[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const SHAPES = JSON.parse(
  readFileSync(new URL('./builtin-schemas/kubernetes-1.32.json', import.meta.url), 'utf8'),
) as Record<string, Shape>;

const ROOTS = new Map<string, string>();
for (const [name, shape] of Object.entries(SHAPES)) for (const gvk of shape.gvk ?? []) ROOTS.set(gvk, name);

type Custom = 'time' | 'quantity' | 'intorstring';

type GoType =
  | { k: 'struct'; name: string; pkg: string; shape: Shape }
  | { k: 'slice'; elem: GoType; shape: Shape }
  | { k: 'map'; elem: GoType }
  | { k: 'string' | 'bool' | 'int32' | 'int64' | 'float64' | 'bytes' | 'any' }
  | { k: 'custom'; which: Custom };

const CUSTOM: Record<string, Custom | 'any'> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': 'time',
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': 'time',
  'io.k8s.apimachinery.pkg.api.resource.Quantity': 'quantity',
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': 'intorstring',
  'io.k8s.apimachinery.pkg.runtime.RawExtension': 'any',
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': 'any',
};

const resolved = new Map<Shape, GoType>();

function goType(shape: Shape): GoType {
  let t = resolved.get(shape);
  if (t) return t;
  t = computeType(shape);
  resolved.set(shape, t);
  return t;
}

function computeType(shape: Shape): GoType {
  if (shape.$ref) {
    const custom = CUSTOM[shape.$ref];
    if (custom === 'any') return { k: 'any' };
    if (custom) return { k: 'custom', which: custom };
    const target = SHAPES[shape.$ref];
    if (!target || (!target.type && !target.properties)) return { k: 'any' };
    if (target.type === 'object' && !target.additionalProperties) {
      const parts = shape.$ref.split('.');
      return { k: 'struct', name: parts[parts.length - 1], pkg: parts[parts.length - 2], shape: target };
    }
    return goType(target);
  }
  if (shape['x-kubernetes-preserve-unknown-fields']) return { k: 'any' };
  switch (shape.type) {
    case 'string':
      return { k: shape.format === 'byte' ? 'bytes' : 'string' };
    case 'boolean':
      return { k: 'bool' };
    case 'integer':
      return { k: shape.format === 'int32' ? 'int32' : 'int64' };
    case 'number':
      return { k: 'float64' };
    case 'array':
      return { k: 'slice', elem: shape.items ? goType(shape.items) : { k: 'any' }, shape };
    case 'object':
      if (shape.additionalProperties) return { k: 'map', elem: goType(shape.additionalProperties) };
      return { k: 'struct', name: '', pkg: '', shape };
    default:
      return { k: 'any' };
  }
}

/** reflect.Type.String() of the Go type. */
function typeString(t: GoType): string {
  switch (t.k) {
    case 'struct':
      return `${t.pkg}.${t.name}`;
    case 'slice':
      return `[]${typeString(t.elem)}`;
    case 'map':
      return `map[string]${typeString(t.elem)}`;
    case 'bytes':
      return '[]uint8';
    case 'any':
      return 'interface {}';
    case 'custom':
      return t.which === 'time' ? 'v1.Time' : t.which === 'quantity' ? 'resource.Quantity' : 'intstr.IntOrString';
    default:
      return t.k;
  }
}

/** The Go type of a served built-in kind, or undefined when the documents do not describe it. */
function rootType(group: string, version: string, kind: string): GoType | undefined {
  const name = ROOTS.get(`${group}/${version}/${kind}`);
  return name ? goType({ $ref: name }) : undefined;
}

export function hasBuiltinSchema(group: string, version: string, kind: string): boolean {
  return rootType(group, version, kind) !== undefined;
}

export interface DecodeResult {
  /** Paths of unknown fields (`spec.ports[0].appProtocl`), in the decoder's order; the fields are removed. */
  unknown: string[];
  /** The decode error that makes the request fail whatever fieldValidation says. */
  error?: string;
}

// ------------------------------------------------------------------ custom unmarshalers

const RFC3339_LAYOUT: [string, RegExp, string?, number?, number?][] = [
  ['2006', /^\d{4}/],
  ['-', /^-/],
  ['01', /^\d{2}/, 'month', 1, 12],
  ['-', /^-/],
  ['02', /^\d{2}/, 'day', 1, 31],
  ['T', /^T/],
  ['15', /^\d{2}/, 'hour', 0, 23],
  [':', /^:/],
  ['04', /^\d{2}/, 'minute', 0, 59],
  [':', /^:/],
  ['05', /^\d{2}(\.\d+)?/, 'second', 0, 59],
  ['Z07:00', /^(Z|[+-]\d{2}:\d{2})/],
];

/** time.Parse(time.RFC3339, v)'s error, or undefined when it parses. */
function timeParseError(v: string): string | undefined {
  const layout = '"2006-01-02T15:04:05Z07:00"';
  let rest = v;
  for (const [elem, pattern, what, min, max] of RFC3339_LAYOUT) {
    const m = pattern.exec(rest);
    if (!m) return `parsing time ${JSON.stringify(v)} as ${layout}: cannot parse ${JSON.stringify(rest)} as "${elem}"`;
    const n = Number.parseInt(m[0], 10);
    if (what && (n < (min as number) || n > (max as number)))
      return `parsing time ${JSON.stringify(v)}: ${what} out of range`;
    rest = rest.slice(m[0].length);
  }
  return rest ? `parsing time ${JSON.stringify(v)}: extra text: ${JSON.stringify(rest)}` : undefined;
}
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_SUFFIX = /^(|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?\d+)$/;

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** What a custom UnmarshalJSON answers: a plain message, or a type error that encoding/json may give context. */
function customError(which: Custom, v: unknown): { typeError?: { value: string; type: string }; message?: string } {
  if (v === null) return {};
  switch (which) {
    case 'time':
      // metav1.Time: json.Unmarshal into a string, then time.Parse(time.RFC3339, …).
      if (typeof v !== 'string') return { typeError: { value: jsonKind(v), type: 'string' } };
      return { message: timeParseError(v) };
    case 'quantity': {
      // resource.Quantity: the JSON text without its quotes goes to ParseQuantity.
      const text = typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : JSON.stringify(v);
      const m = QUANTITY.exec(text);
      if (!m || text === '') {
        return {
          message: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        };
      }
      if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(m[1])) return { message: 'unable to parse numeric part of quantity' };
      if (!QUANTITY_SUFFIX.test(m[2])) return { message: "unable to parse quantity's suffix" };
      return {};
    }
    case 'intorstring':
      // intstr.IntOrString: a JSON string is the string, anything else goes to json.Unmarshal into an int32.
      if (typeof v === 'string') return {};
      if (typeof v === 'number') {
        return Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31
          ? {}
          : { typeError: { value: `number ${String(v)}`, type: 'int32' } };
      }
      return { typeError: { value: jsonKind(v), type: 'int32' } };
  }
}

// ------------------------------------------------------------------ encoding/json (sigs.k8s.io/json)

class Abort extends Error {}

interface JsonState {
  unknown: string[];
  error?: string;
  /** errorContext: the struct whose field is being decoded and the JSON field names from the root. */
  struct: string;
  fields: string[];
}

function typeErrorText(st: JsonState, value: string, type: string): string {
  if (st.struct || st.fields.length > 0) {
    return `json: cannot unmarshal ${value} into Go struct field ${st.struct}.${st.fields.join('.')} of type ${type}`;
  }
  return `json: cannot unmarshal ${value} into Go value of type ${type}`;
}

function saveTypeError(st: JsonState, value: string, t: GoType | string): void {
  st.error ??= typeErrorText(st, value, typeof t === 'string' ? t : typeString(t));
}

function strictKey(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function decodeJsonValue(t: GoType, v: unknown, st: JsonState, path: string): void {
  if (v === null) return;
  switch (t.k) {
    case 'any':
      return;
    case 'custom': {
      const err = customError(t.which, v);
      if (err.typeError) {
        st.error = typeErrorText(st, err.typeError.value, err.typeError.type);
        throw new Abort();
      }
      if (err.message) {
        st.error = err.message;
        throw new Abort();
      }
      return;
    }
    case 'string':
      if (typeof v !== 'string') saveTypeError(st, jsonKind(v), t);
      return;
    case 'bool':
      if (typeof v !== 'boolean') saveTypeError(st, jsonKind(v), t);
      return;
    case 'float64':
      if (typeof v !== 'number') saveTypeError(st, jsonKind(v), t);
      return;
    case 'int32':
    case 'int64': {
      if (typeof v !== 'number') return saveTypeError(st, jsonKind(v), t);
      const bits = t.k === 'int32' ? 31 : 63;
      if (!Number.isInteger(v) || v < -(2 ** bits) || v >= 2 ** bits) saveTypeError(st, `number ${String(v)}`, t);
      return;
    }
    case 'bytes':
      if (typeof v === 'string') {
        const bad = base64Error(v);
        if (bad !== undefined) st.error ??= `illegal base64 data at input byte ${bad}`;
      } else if (!Array.isArray(v)) saveTypeError(st, jsonKind(v), t);
      return;
    case 'slice':
      if (!Array.isArray(v)) return saveTypeError(st, jsonKind(v), t);
      v.forEach((item, i) => decodeJsonValue(t.elem, item, st, `${path}[${i}]`));
      return;
    case 'map':
      if (!isObject(v)) return saveTypeError(st, jsonKind(v), t);
      for (const [key, item] of Object.entries(v)) {
        // encoding/json stores a null element as its type's zero value: `{"k": null}` in a map[string]string is
        // `{"k": ""}` (a pointer, slice or map element stays nil, which encodes as null).
        if (item === null) {
          const zero = zeroValue(t.elem);
          if (zero !== undefined) v[key] = zero;
          continue;
        }
        decodeJsonValue(t.elem, item, st, strictKey(path, key));
      }
      return;
    case 'struct': {
      if (!isObject(v)) return saveTypeError(st, jsonKind(v), t);
      const props = t.shape.properties ?? {};
      for (const key of Object.keys(v)) {
        const prop = Object.hasOwn(props, key) ? props[key] : undefined;
        if (!prop) {
          const unknown = strictKey(path, key);
          if (!st.unknown.includes(unknown) && st.unknown.length < 100) st.unknown.push(unknown);
          delete v[key];
          continue;
        }
        const fieldType = goType(prop);
        if (v[key] === null && fieldType.k !== 'any') {
          delete v[key];
          continue;
        }
        const saved = { struct: st.struct, depth: st.fields.length };
        st.fields.push(key);
        st.struct = t.name;
        decodeJsonValue(fieldType, v[key], st, strictKey(path, key));
        st.fields.length = saved.depth;
        st.struct = saved.struct;
      }
      return;
    }
  }
}

/** The JSON of a Go type's zero value where it is not null (nil): "", false, 0, an empty struct. */
function zeroValue(t: GoType): unknown {
  switch (t.k) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'float64':
    case 'int32':
    case 'int64':
      return 0;
    case 'struct':
      return {};
    default:
      return undefined;
  }
}

/** base64.StdEncoding's first bad byte, or undefined when `text` decodes. */
function base64Error(text: string): number | undefined {
  const m = /^[A-Za-z0-9+/]*/.exec(text) as RegExpExecArray;
  const i = m[0].length;
  const rest = text.slice(i);
  if (rest === '' && i % 4 === 0) return undefined;
  if (rest === '=' && i % 4 === 3) return undefined;
  if (rest === '==' && i % 4 === 2) return undefined;
  if (rest === '' || rest.startsWith('=')) {
    // Padding in the wrong place, or a truncated quantum: Go reports where the quantum started or the padding sits.
    if (rest === '') return i - (i % 4);
    return rest.length > 2 || i % 4 < 2 ? i : i + rest.length;
  }
  // An illegal character: Go reports its offset.
  return i;
}

/**
 * Decodes `obj` (the parsed JSON body, or a JSON/merge-patched object) into the kind's Go type as
 * `kjson.UnmarshalStrict` does, in place: unknown fields and null fields are removed.
 */
export function decodeBuiltinJson(group: string, version: string, kind: string, obj: unknown): DecodeResult {
  const t = rootType(group, version, kind);
  const st: JsonState = { unknown: [], struct: '', fields: [] };
  if (!t) return { unknown: [] };
  try {
    decodeJsonValue(t, obj, st, '');
  } catch (err) {
    if (!(err instanceof Abort)) throw err;
  }
  return st.error ? { unknown: [], error: st.error } : { unknown: st.unknown };
}

// ------------------------------------------------------------------ runtime.DefaultUnstructuredConverter

/** reflect.Kind of a value in an unstructured map (numbers: int64 when integral, as PreserveInts decodes them). */
function unstructuredKind(v: unknown): string {
  if (Array.isArray(v)) return 'slice';
  if (isObject(v)) return 'map';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  return 'string';
}

function convertError(t: GoType, v: unknown): string | undefined {
  const from = unstructuredKind(v);
  const to = t.k;
  const isInt = (k: string) => k === 'int32' || k === 'int64';
  if (from === to || (from === 'int64' && (isInt(to) || to === 'float64'))) return undefined;
  if (from === 'float64' && isInt(to)) return `cannot convert float64 to ${to}`;
  if (from === 'int64' && to === 'string') return 'cannot convert int64 to string';
  return `unrecognized type: ${to}`;
}

interface UnstructuredState {
  unknown: string[];
}

function fromUnstructured(t: GoType, v: unknown, st: UnstructuredState, path: string): void {
  if (v === null || v === undefined) return;
  switch (t.k) {
    case 'any':
      return;
    case 'custom': {
      const err = customError(t.which, v);
      if (err.typeError) {
        throw new Error(`json: cannot unmarshal ${err.typeError.value} into Go value of type ${err.typeError.type}`);
      }
      if (err.message) throw new Error(err.message);
      return;
    }
    case 'string':
    case 'bool':
    case 'int32':
    case 'int64':
    case 'float64': {
      const err = convertError(t, v);
      if (err) throw new Error(err);
      return;
    }
    case 'bytes':
      if (typeof v === 'string') {
        const bad = v ? base64Error(v) : undefined;
        if (bad !== undefined) throw new Error(`error decoding from json: illegal base64 data at input byte ${bad}`);
        return;
      }
      if (!Array.isArray(v)) throw new Error(`cannot restore slice from ${unstructuredKind(v)}`);
      return;
    case 'slice':
      if (!Array.isArray(v)) throw new Error(`cannot restore slice from ${unstructuredKind(v)}`);
      v.forEach((item, i) => fromUnstructured(t.elem, item, st, `${path}[${i}]`));
      return;
    case 'map':
      if (!isObject(v)) throw new Error(`cannot restore map from ${unstructuredKind(v)}`);
      for (const item of Object.values(v)) fromUnstructured(t.elem, item, st, path);
      return;
    case 'struct': {
      if (!isObject(v)) throw new Error(`cannot restore struct from: ${unstructuredKind(v)}`);
      const props = t.shape.properties ?? {};
      for (const key of Object.keys(v)) {
        const prop = Object.hasOwn(props, key) ? props[key] : undefined;
        if (!prop) {
          st.unknown.push(strictKey(path, key));
          delete v[key];
          continue;
        }
        const fieldType = goType(prop);
        if (v[key] === null && fieldType.k !== 'any') {
          delete v[key];
          continue;
        }
        fromUnstructured(fieldType, v[key], st, strictKey(path, key));
      }
      return;
    }
  }
}

/**
 * Converts a strategically merged object into the kind's Go type as FromUnstructuredWithValidation does, in place:
 * unknown fields (reported sorted) and null fields are removed; the first conversion error is the answer.
 */
export function decodeBuiltinUnstructured(group: string, version: string, kind: string, obj: unknown): DecodeResult {
  const t = rootType(group, version, kind);
  if (!t) return { unknown: [] };
  const st: UnstructuredState = { unknown: [] };
  try {
    fromUnstructured(t, obj, st, '');
  } catch (err) {
    return { unknown: [], error: (err as Error).message };
  }
  return { unknown: st.unknown.sort() };
}

// ------------------------------------------------------------------ structured-merge-diff (server-side apply)

/** value.ToString of a list key's value: strings quoted, numbers and booleans as written. */
function smdValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function smdElement(shape: Shape | undefined, item: unknown, index: number): string {
  const listType = shape?.['x-kubernetes-list-type'];
  if (listType === 'map' && isObject(item)) {
    const keys = [...(shape?.['x-kubernetes-list-map-keys'] ?? [])].sort().filter((k) => item[k] !== undefined);
    return `[${keys.map((k) => `${k}=${smdValue(item[k])}`).join(',')}]`;
  }
  if (listType === 'set' && !isObject(item) && !Array.isArray(item)) return `[=${smdValue(item)}]`;
  return `[${index}]`;
}

function undeclared(t: GoType, v: unknown, path: string, out: string[]): void {
  if (!isObject(v) && !Array.isArray(v)) return;
  if (t.k === 'slice' && Array.isArray(v)) {
    v.forEach((item, i) => undeclared(t.elem, item, `${path}${smdElement(t.shape, item, i)}`, out));
  } else if (t.k === 'map' && isObject(v)) {
    for (const [key, item] of Object.entries(v)) undeclared(t.elem, item, `${path}.${key}`, out);
  } else if (t.k === 'struct' && isObject(v)) {
    const props = t.shape.properties ?? {};
    for (const [key, item] of Object.entries(v)) {
      if (!Object.hasOwn(props, key)) out.push(`${path}.${key}: field not declared in schema`);
      else undeclared(goType(props[key]), item, `${path}.${key}`, out);
    }
  }
}

/**
 * The fields of an applied configuration that the kind's schema does not declare, as structured-merge-diff reports
 * them when it converts the configuration to a typed value (`.spec.ports[port=80,protocol="TCP"].x: …`), or ''.
 */
export function undeclaredApplyFields(group: string, version: string, kind: string, obj: unknown): string {
  const t = rootType(group, version, kind);
  if (!t) return '';
  const out: string[] = [];
  undeclared(t, obj, '', out);
  if (out.length <= 1) return out[0] ?? '';
  return ['errors:', ...out.map((e) => `  ${e}`)].join('\n');
}

/** fmt.Sprintf("%+v", patchMap) of a decoded JSON value: `map[spec:map[replicas:2]]`. */
export function goFormat(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goFormat(v[k])}`).join(' ')}]`;
  }
  if (typeof v === 'number') return goFloat(v);
  return String(v);
}

/** %v of an int64 or float64 from PreserveInts decoding. */
function goFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return String(n);
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21) {
    const [mant, e] = n.toExponential().split('e');
    const sign = e.startsWith('-') ? '-' : '+';
    return `${mant}e${sign}${e.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return String(n);
}
