// Structural schemas of custom resources, applied in apiextensions-apiserver's order: unknown fields
// are pruned (their paths feed `fieldValidation`), non-nullable nulls without a default are dropped,
// defaults are applied, then the object is validated. Validation is ajv for the plain JSON Schema part,
// reported with kube-openapi's field paths and messages; formats are the ones the apiserver checks.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { fieldErr, goQuote, type FieldError } from './errors.js';
import { KUBE_FORMATS, normalizeFormat } from './formats.js';
import { clone, isObject } from './types.js';

export interface JSONSchemaProps {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: boolean | JSONSchemaProps;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  default?: unknown;
  nullable?: boolean;
  allOf?: JSONSchemaProps[];
  anyOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

const META_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

// ------------------------------------------------------------------ pruning

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The schema of a map entry: its property, else `additionalProperties` (a bool means "no schema"). */
function entrySchema(schema: JSONSchemaProps, key: string): { known: boolean; schema?: JSONSchemaProps } {
  const prop = schema.properties?.[key];
  if (prop) return { known: true, schema: prop };
  const additional = schema.additionalProperties;
  if (isObject(additional)) return { known: true, schema: additional };
  if (additional === true) return { known: true };
  return { known: false };
}

/**
 * Removes, in place, every field the schema does not declare (structural pruning). A value whose
 * schema is unknown loses all its keys; `x-kubernetes-preserve-unknown-fields` keeps unknown keys
 * but still prunes inside known ones; the root and embedded resources keep apiVersion, kind and
 * metadata (coerced separately). Returns the pruned paths, sorted (`spec.matches[0].junk`).
 */
export function pruneUnknownFields(value: unknown, schema: JSONSchemaProps | undefined, isRoot = false): string[] {
  const pruned: string[] = [];
  const root = isRoot ? { ...(schema ?? {}), 'x-kubernetes-embedded-resource': true } : schema;
  walkPrune(value, root, '', pruned);
  return pruned.sort();
}

function walkPrune(value: unknown, schema: JSONSchemaProps | undefined, path: string, out: string[]): void {
  if (schema?.['x-kubernetes-preserve-unknown-fields']) {
    skipPrune(value, schema, path, out);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => walkPrune(item, schema?.items, `${path}[${i}]`, out));
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    if (schema?.['x-kubernetes-embedded-resource'] && META_FIELDS.has(key)) continue;
    const entry = schema ? entrySchema(schema, key) : { known: false };
    if (entry.known) walkPrune(value[key], entry.schema, childPath(path, key), out);
    else {
      delete value[key];
      out.push(childPath(path, key));
    }
  }
}

function skipPrune(value: unknown, schema: JSONSchemaProps, path: string, out: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => (schema.items ? skipPrune(item, schema.items, `${path}[${i}]`, out) : undefined));
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    if (schema['x-kubernetes-embedded-resource'] && META_FIELDS.has(key)) continue;
    const entry = entrySchema(schema, key);
    if (entry.schema) walkPrune(value[key], entry.schema, childPath(path, key), out);
  }
}

/** Removes, in place, nulls of non-nullable fields that have no default (those with one get it). */
export function pruneNonNullableNulls(value: unknown, schema: JSONSchemaProps | undefined): void {
  if (Array.isArray(value)) {
    for (const item of value) pruneNonNullableNulls(item, schema?.items);
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    const child = schema ? entrySchema(schema, key).schema : undefined;
    if (value[key] === null && child && !child.nullable && child.default === undefined) delete value[key];
    else pruneNonNullableNulls(value[key], child);
  }
}

// ------------------------------------------------------------------ defaulting

/** Fills in `default` values for missing (or non-nullable null) properties, recursively. */
export function applyDefaults(value: unknown, schema: JSONSchemaProps | undefined): unknown {
  if (!schema) return value;
  if (Array.isArray(value)) return schema.items ? value.map((item) => applyDefaults(item, schema.items)) : value;
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [key, childSchema] of Object.entries(schema.properties ?? {})) {
    const missing = !(key in out) || (out[key] === null && !childSchema.nullable);
    if (missing && childSchema.default !== undefined) out[key] = clone(childSchema.default);
    if (key in out) out[key] = applyDefaults(out[key], childSchema);
  }
  if (isObject(schema.additionalProperties)) {
    for (const key of Object.keys(out)) {
      if (!schema.properties?.[key]) out[key] = applyDefaults(out[key], schema.additionalProperties);
    }
  }
  return out;
}

// ------------------------------------------------------------------ validation (ajv)

const INT_OR_STRING = 'x-kubernetes-int-or-string';

/**
 * The schema as ajv reads it: OpenAPI v3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become
 * draft-07 numbers, formats the apiserver does not check are dropped, annotations are left out.
 */
function toAjvSchema(s: JSONSchemaProps): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.type) out.type = s.type;
  if (s.nullable && s.type) out.nullable = true;
  if (s[INT_OR_STRING]) out[INT_OR_STRING] = true;
  if (s.format && KUBE_FORMATS[normalizeFormat(s.format)]) out.format = normalizeFormat(s.format);
  for (const key of ['enum', 'pattern', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
    if (s[key] !== undefined) out[key] = s[key];
  }
  for (const key of ['uniqueItems', 'minProperties', 'maxProperties', 'required'] as const) {
    if (s[key] !== undefined) out[key] = s[key];
  }
  if (s.minimum !== undefined) out[s.exclusiveMinimum ? 'exclusiveMinimum' : 'minimum'] = s.minimum;
  if (s.maximum !== undefined) out[s.exclusiveMaximum ? 'exclusiveMaximum' : 'maximum'] = s.maximum;
  if (s.items) out.items = toAjvSchema(s.items);
  if (s.properties) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toAjvSchema(v)]));
  }
  if (isObject(s.additionalProperties)) {
    out.additionalProperties = toAjvSchema(s.additionalProperties);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) if (s[key]) out[key] = s[key].map(toAjvSchema);
  if (s.not) out.not = toAjvSchema(s.not);
  return out;
}

/** Go's RE2 accepts patterns JavaScript's unicode mode refuses; fall back to a non-unicode RegExp. */
function kubeRegExp(pattern: string, flags: string): RegExp {
  try {
    return new RegExp(pattern, flags);
  } catch {
    return new RegExp(pattern, flags.replace('u', ''));
  }
}
kubeRegExp.code = 'new RegExp';

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, code: { regExp: kubeRegExp } });
for (const [name, check] of Object.entries(KUBE_FORMATS)) ajv.addFormat(name, { type: 'string', validate: check });
ajv.addKeyword({
  keyword: INT_OR_STRING,
  schemaType: 'boolean',
  validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || Number.isInteger(data),
});

const compiled = new WeakMap<JSONSchemaProps, ValidateFunction>();

function validatorFor(schema: JSONSchemaProps): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(toAjvSchema(schema));
    compiled.set(schema, fn);
  }
  return fn;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** `/spec/matches/0/headers` → `spec.matches[0].headers` (indices only where the value is a list). */
function fieldPathOf(root: unknown, pointer: string, base: string): string {
  let path = base;
  let current: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) {
      path = `${path}[${key}]`;
      current = current[Number(key)];
    } else {
      path = childPath(path, key);
      current = isObject(current) ? current[key] : undefined;
    }
  }
  return path;
}

/** One ajv error as the field error kube-apiserver reports (apiextensions' ValidateCustomResource). */
function toFieldError(e: ErrorObject, root: unknown, base: string): FieldError | undefined {
  const path = fieldPathOf(root, e.instancePath, base);
  const where = path || '<root>';
  const data: unknown = e.data;
  const p = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const size = Array.isArray(data) ? data.length : isObject(data) ? Object.keys(data).length : 0;
  switch (e.keyword) {
    case 'type':
    case INT_OR_STRING: {
      const expected = parent[INT_OR_STRING] ? 'integer,string' : String(parent.type);
      const actual = typeName(data);
      return fieldErr.typeInvalid(path, actual, `${where} in body must be of type ${expected}: "${actual}"`);
    }
    case 'format': {
      const format = String(p.format);
      return fieldErr.typeInvalid(path, data, `${where} in body must be of type ${format}: ${goQuote(String(data))}`);
    }
    case 'enum': {
      const allowed = (e.schema as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      return fieldErr.notSupported(path, data, allowed);
    }
    case 'required':
      return fieldErr.required(childPath(path, String(p.missingProperty)), '');
    case 'pattern':
      return fieldErr.invalid(path, data, `${where} in body should match '${String(p.pattern)}'`);
    case 'minLength':
      return fieldErr.invalid(path, data, `${where} in body should be at least ${String(p.limit)} chars long`);
    case 'maxLength':
      return fieldErr.tooLong(path, Number(p.limit));
    case 'minimum':
      return fieldErr.invalid(path, data, `${where} in body should be greater than or equal to ${String(p.limit)}`);
    case 'exclusiveMinimum':
      return fieldErr.invalid(path, data, `${where} in body should be greater than ${String(p.limit)}`);
    case 'maximum':
      return fieldErr.invalid(path, data, `${where} in body should be less than or equal to ${String(p.limit)}`);
    case 'exclusiveMaximum':
      return fieldErr.invalid(path, data, `${where} in body should be less than ${String(p.limit)}`);
    case 'multipleOf':
      return fieldErr.invalid(path, data, `${where} in body should be a multiple of ${String(p.multipleOf)}`);
    case 'minItems':
      return fieldErr.invalid(path, size, `${where} in body should have at least ${String(p.limit)} items`);
    case 'maxItems':
      return fieldErr.tooMany(path, size, Number(p.limit));
    case 'uniqueItems':
      return fieldErr.invalid(path, data, `${where} in body shouldn't contain duplicates`);
    case 'minProperties':
      return fieldErr.invalid(path, size, `${where} in body should have at least ${String(p.limit)} properties`);
    case 'maxProperties':
      return fieldErr.tooMany(path, size, Number(p.limit));
    case 'anyOf':
      return fieldErr.invalid(path, data, `${where} in body must validate at least one schema (anyOf)`);
    case 'oneOf':
      return fieldErr.invalid(path, data, `${where} in body must validate one and only one schema (oneOf)`);
    case 'not':
      return fieldErr.invalid(path, data, `${where} in body must not validate the schema (not)`);
    default:
      return fieldErr.invalid(path, data, `${where} in body ${e.message ?? 'is invalid'}`);
  }
}

/**
 * Validates `value` against `schema`; paths look like `spec.ports[0].number` (prefixed by `path`),
 * messages like kube-openapi's. The errors inside anyOf/oneOf/not branches are summarized by the
 * branch keyword, as the apiserver does. Errors come in field-path order (kube's order depends on Go
 * map iteration, so no client can rely on it; sorting keeps the emulator's answers stable).
 */
export function validateSchema(value: unknown, schema: JSONSchemaProps | undefined, path = ''): FieldError[] {
  if (!schema) return [];
  const fn = validatorFor(schema);
  if (fn(value)) return [];
  const errs = (fn.errors ?? []).filter((e) => !/\/(anyOf|oneOf|not)\//.test(e.schemaPath));
  return errs
    .map((e) => toFieldError(e, value, path))
    .filter((e): e is FieldError => e !== undefined)
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.field < b.e.field ? -1 : a.e.field > b.e.field ? 1 : a.i - b.i))
    .map(({ e }) => e);
}
