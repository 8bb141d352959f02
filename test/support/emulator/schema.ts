// Structural-schema handling for custom resources, in the order apiextensions-apiserver applies it:
// prune unknown fields, apply defaults, then validate with kube-openapi's messages.

import { fieldErr, type FieldError } from './errors.js';
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
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

const ROOT_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

/** Drops fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields). */
export function prune(value: unknown, schema: JSONSchemaProps | undefined, isRoot = false): unknown {
  if (!schema) return value;
  if (Array.isArray(value)) return schema.items ? value.map((item) => prune(item, schema.items)) : value;
  if (!isObject(value)) return value;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (isRoot && ROOT_FIELDS.has(key)) {
      out[key] = child;
      continue;
    }
    const childSchema = schema.properties?.[key];
    if (childSchema) out[key] = prune(child, childSchema);
    else if (isObject(schema.additionalProperties)) out[key] = prune(child, schema.additionalProperties);
    else if (preserve || schema.additionalProperties === true) out[key] = child;
    else if (schema['x-kubernetes-embedded-resource'] && ROOT_FIELDS.has(key)) out[key] = child;
  }
  return out;
}

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

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(value: unknown, schema: JSONSchemaProps): boolean {
  if (schema['x-kubernetes-int-or-string']) return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
  switch (schema.type) {
    case undefined:
    case '':
      return true;
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Validates `value` against `schema`; paths look like `spec.ports[0].number`, as in apiserver messages. */
export function validateSchema(value: unknown, schema: JSONSchemaProps | undefined, path = ''): FieldError[] {
  if (!schema) return [];
  const errs: FieldError[] = [];
  const where = path || '<root>';

  if (value === null) {
    if (schema.nullable || !schema.type) return errs;
    errs.push(fieldErr.typeInvalid(path, 'null', `${where} in body must be of type ${schema.type}: "null"`));
    return errs;
  }
  if (!typeMatches(value, schema)) {
    const expected = schema['x-kubernetes-int-or-string'] ? 'integer,string' : schema.type;
    errs.push(fieldErr.typeInvalid(path, typeName(value), `${where} in body must be of type ${expected}: "${typeName(value)}"`));
    return errs;
  }

  if (schema.enum && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    errs.push(fieldErr.notSupported(path, value, schema.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))));
  }

  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
      errs.push(fieldErr.invalid(path, value, `${where} in body should match '${schema.pattern}'`));
    if (schema.minLength !== undefined && [...value].length < schema.minLength)
      errs.push(fieldErr.invalid(path, value, `${where} in body should be at least ${schema.minLength} chars long`));
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength)
      errs.push(fieldErr.tooLong(path, schema.maxLength));
  }

  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      const bad = schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum;
      if (bad)
        errs.push(
          fieldErr.invalid(path, value, `${where} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`),
        );
    }
    if (schema.maximum !== undefined) {
      const bad = schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum;
      if (bad)
        errs.push(fieldErr.invalid(path, value, `${where} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`));
    }
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0)
      errs.push(fieldErr.invalid(path, value, `${where} in body should be a multiple of ${schema.multipleOf}`));
  }

  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      errs.push(fieldErr.invalid(path, value.length, `${where} in body should have at least ${schema.minItems} items`));
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      errs.push({ type: 'FieldValueTooMany', field: path, detail: `must have at most ${schema.maxItems} items` });
    if (schema.uniqueItems) {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key = JSON.stringify(item);
        if (seen.has(key)) errs.push(fieldErr.duplicate(`${path}[${i}]`, item));
        seen.add(key);
      });
    }
    if (schema.items) value.forEach((item, i) => errs.push(...validateSchema(item, schema.items, `${path}[${i}]`)));
  }

  if (isObject(value)) {
    for (const key of schema.required ?? []) {
      if (!(key in value) || value[key] === undefined) errs.push(fieldErr.required(join(path, key), ''));
    }
    const count = Object.keys(value).length;
    if (schema.minProperties !== undefined && count < schema.minProperties)
      errs.push(fieldErr.invalid(path, count, `${where} in body should have at least ${schema.minProperties} properties`));
    if (schema.maxProperties !== undefined && count > schema.maxProperties)
      errs.push(fieldErr.invalid(path, count, `${where} in body should have at most ${schema.maxProperties} properties`));
    // kube-openapi walks properties in a deterministic (sorted) order; so does the emulator.
    for (const key of Object.keys(value).sort()) {
      const child = value[key];
      const childSchema = schema.properties?.[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (childSchema && child !== undefined) errs.push(...validateSchema(child, childSchema, join(path, key)));
    }
  }

  for (const sub of schema.allOf ?? []) errs.push(...validateSchema(value, sub, path));
  if (schema.anyOf && !schema.anyOf.some((sub) => validateSchema(value, sub, path).length === 0))
    errs.push(fieldErr.invalid(path, value, `${where} in body must validate at least one schema (anyOf)`));
  if (schema.oneOf) {
    const passing = schema.oneOf.filter((sub) => validateSchema(value, sub, path).length === 0).length;
    if (passing !== 1) errs.push(fieldErr.invalid(path, value, `${where} in body must validate one and only one schema (oneOf)`));
  }
  return errs;
}
