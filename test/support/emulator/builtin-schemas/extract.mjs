// Reduces Kubernetes' published OpenAPI v3 documents (api/openapi-spec/v3 of a release) to what the emulator's
// typed decoder (../builtin-types.ts) reads: the shape of every schema (type, format, properties, items,
// additionalProperties, $ref, int-or-string, preserve-unknown-fields, list type and keys) and each kind's GVK.
// Usage: node extract.mjs OUT.json DOC.json... (see README.md in this folder for the documents and their origin).

import { readFileSync, writeFileSync } from 'node:fs';

const KEEP = [
  'type',
  'format',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
];

function reduce(schema) {
  if (schema.allOf?.length === 1 && schema.allOf[0].$ref) return { $ref: schema.allOf[0].$ref.split('/').pop() };
  if (schema.$ref) return { $ref: schema.$ref.split('/').pop() };
  const out = {};
  for (const key of KEEP) if (schema[key] !== undefined) out[key] = schema[key];
  if (schema.oneOf && !out.type) out.oneOf = schema.oneOf.map((s) => s.type);
  if (schema.items) out.items = reduce(schema.items);
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, reduce(v)]));
  }
  if (typeof schema.additionalProperties === 'object') out.additionalProperties = reduce(schema.additionalProperties);
  const gvk = schema['x-kubernetes-group-version-kind'];
  if (gvk) out.gvk = gvk.map((g) => `${g.group}/${g.version}/${g.kind}`);
  return out;
}

const [outFile, ...docs] = process.argv.slice(2);
const schemas = {};
for (const file of docs) {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  for (const [name, schema] of Object.entries(doc.components.schemas)) schemas[name] = reduce(schema);
}
const sorted = Object.fromEntries(
  Object.keys(schemas)
    .sort()
    .map((k) => [k, schemas[k]]),
);
writeFileSync(outFile, JSON.stringify(sorted) + '\n');
