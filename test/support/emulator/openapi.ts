// A minimal OpenAPI v3 endpoint. kubectl (replace/create/apply with the default --validate=strict)
// reads it to learn that the server supports `fieldValidation`, and then validates server-side
// instead of downloading the full schema. Paths carry the operations and GVK extensions it checks;
// schemas are reduced to the GVK marker (custom resources get their CRD schema).

import { createHash } from 'node:crypto';
import type { ResourceRegistry, ResourceType } from './resources.js';

function gvKey(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function schemaName(rt: ResourceType, version: string): string {
  if (rt.custom) return `${rt.group.split('.').reverse().join('.')}.${version}.${rt.kind}`;
  if (rt.group === 'apiextensions.k8s.io')
    return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}.${rt.kind}`;
  return `io.k8s.api.${rt.group === '' ? 'core' : rt.group.split('.')[0]}.${version}.${rt.kind}`;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'].map((name) => ({
  name,
  in: 'query',
  description: name,
  schema: { type: 'string', uniqueItems: true },
}));

function operation(rt: ResourceType, version: string, action: string, verb: string): Record<string, unknown> {
  const ref = { $ref: `#/components/schemas/${schemaName(rt, version)}` };
  const op: Record<string, unknown> = {
    description: `${verb} ${rt.kind}`,
    operationId: `${verb}${rt.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: rt.group, version, kind: rt.kind },
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
  };
  if (action === 'patch' || action === 'put' || action === 'post')
    op.parameters = [
      ...QUERY_PARAMS,
      ...(action === 'patch' ? [{ name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }] : []),
    ];
  if (action === 'put' || action === 'post') op.requestBody = { content: { '*/*': { schema: ref } }, required: true };
  if (action === 'patch')
    op.requestBody = {
      content: Object.fromEntries(
        [
          'application/apply-patch+yaml',
          'application/json-patch+json',
          'application/merge-patch+json',
          ...(rt.custom ? [] : ['application/strategic-merge-patch+json']),
        ].map((t) => [t, { schema: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' } }]),
      ),
      required: true,
    };
  return op;
}

/** The OpenAPI v3 document of one group/version, or undefined when it is not served. */
export function openApiV3Document(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = registry.all().filter((rt) => rt.group === group && rt.versions.includes(version));
  if (types.length === 0) return undefined;
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': {
      type: 'object',
      description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
    },
  };
  for (const rt of types) {
    const base = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.plural}` : `${prefix}/${rt.plural}`;
    const collection: Record<string, unknown> = {};
    if (rt.verbs.includes('list')) collection.get = operation(rt, version, 'list', 'list');
    if (rt.verbs.includes('create')) collection.post = operation(rt, version, 'post', 'create');
    paths[base] = collection;
    if (!rt.virtual) {
      paths[`${base}/{name}`] = {
        get: operation(rt, version, 'get', 'read'),
        put: operation(rt, version, 'put', 'replace'),
        patch: operation(rt, version, 'patch', 'patch'),
        delete: operation(rt, version, 'delete', 'delete'),
      };
    }
    const crdSchema = rt.crd?.schemas.get(version);
    schemas[schemaName(rt, version)] = {
      ...(crdSchema ?? { type: 'object', description: rt.kind }),
      'x-kubernetes-group-version-kind': [{ group: rt.group, kind: rt.kind, version }],
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } };
}

/** GET /openapi/v3: one entry per served group/version, with a content hash like the apiserver's. */
export function openApiV3Index(registry: ResourceRegistry): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const doc = openApiV3Document(registry, group, version);
      const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
      paths[gvKey(group, version)] = { serverRelativeURL: `/openapi/v3/${gvKey(group, version)}?hash=${hash}` };
    }
  }
  return { paths };
}
