// The emulator's structural-schema handling (pruning, nulls, defaulting, ajv validation with kube's
// messages), checked on the vendored osm-edge v1.3.9 CRDs and on small schemas for the keywords
// those CRDs do not use (formats, int-or-string, nullable, exclusive bounds, anyOf).
import { describe, expect, it } from 'vitest';
import { fieldErrorString } from '../../support/emulator/errors.js';
import { resourceTypeFromCrd } from '../../support/emulator/resources.js';
import {
  applyDefaults,
  pruneNonNullableNulls,
  pruneUnknownFields,
  validateSchema,
  type JSONSchemaProps,
} from '../../support/emulator/schema.js';
import { osmCrds } from '../../support/emulator/seed.js';

function schemaOf(plural: string, version: string): JSONSchemaProps {
  const crd = osmCrds().find((c) => c.metadata.name?.startsWith(`${plural}.`));
  const schema = crd && resourceTypeFromCrd(crd)?.crd?.schemas.get(version);
  if (!schema) throw new Error(`no schema for ${plural} ${version}`);
  return schema;
}

const messages = (value: unknown, schema: JSONSchemaProps, path = '') =>
  validateSchema(value, schema, path).map(fieldErrorString);
/** kube-openapi's type error, which names the path twice. */
const typeErr = (path: string, want: string, actual: string) =>
  `${path}: Invalid value: "${actual}": ${path} in body must be of type ${want}: "${actual}"`;

describe('structural pruning (apiextensions pruning algorithm)', () => {
  const routes = schemaOf('httproutegroups', 'v1alpha4');

  it('drops unknown fields at every depth and reports their paths, sorted', () => {
    const obj = {
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'r', anything: 'kept for ObjectMeta coercion' },
      spec: { matches: [{ name: 'a', junk: 1, headers: [{ 'x-user': 'admin' }] }], extra: { deep: true } },
      status: { phase: 'x' },
    };
    expect(pruneUnknownFields(obj, routes, true)).toEqual(['spec.extra', 'spec.matches[0].junk', 'status']);
    expect(obj).toEqual({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'r', anything: 'kept for ObjectMeta coercion' },
      spec: { matches: [{ name: 'a', headers: [{ 'x-user': 'admin' }] }] },
    });
  });

  it('keeps additionalProperties entries, and empties objects under a schema-less value', () => {
    const limits: JSONSchemaProps = {
      type: 'object',
      properties: {
        limits: { type: 'object', additionalProperties: true },
        byName: { type: 'object', additionalProperties: { type: 'object', properties: { a: { type: 'string' } } } },
      },
    };
    const value = { limits: { cpu: '1', nested: { x: 1 }, list: [{ y: 1 }, 2] }, byName: { one: { a: 'x', b: 'y' } } };
    expect(pruneUnknownFields(value, limits)).toEqual(['byName.one.b', 'limits.list[0].y', 'limits.nested.x']);
    expect(value).toEqual({ limits: { cpu: '1', nested: {}, list: [{}, 2] }, byName: { one: { a: 'x' } } });
  });

  it('x-kubernetes-preserve-unknown-fields keeps unknown keys but still prunes inside known ones', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      properties: { known: { type: 'object', properties: { a: { type: 'string' } } } },
    };
    const value = { free: { anything: [1, { x: 2 }] }, known: { a: 'x', b: 'pruned' } };
    expect(pruneUnknownFields(value, schema)).toEqual(['known.b']);
    expect(value).toEqual({ free: { anything: [1, { x: 2 }] }, known: { a: 'x' } });
    const ingress = schemaOf('ingressbackends', 'v1alpha1');
    const obj = { spec: { backends: [], sources: [] }, status: { free: 'form', nested: { ok: true } } };
    expect(pruneUnknownFields(obj, ingress, true)).toEqual([]);
  });

  it('drops non-nullable nulls without a default; nullable ones and those with a default stay', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        plain: { type: 'string' },
        nullable: { type: 'string', nullable: true },
        defaulted: { type: 'string', default: 'd' },
        list: { type: 'array', items: { type: 'object', properties: { v: { type: 'integer' } } } },
      },
    };
    const value = { plain: null, nullable: null, defaulted: null, list: [{ v: null }] };
    pruneNonNullableNulls(value, schema);
    expect(value).toEqual({ nullable: null, defaulted: null, list: [{}] });
    expect(applyDefaults(value, schema)).toEqual({ nullable: null, defaulted: 'd', list: [{}] });
  });
});

describe('validation against the real osm-edge CRDs, with kube-apiserver messages', () => {
  it('HTTPRouteGroup: headers must be an array of string maps; methods are an enum', () => {
    const routes = schemaOf('httproutegroups', 'v1alpha4');
    const bad = { spec: { matches: [{ name: 'a', headers: { 'x-user': 'admin' }, methods: ['FETCH'] }] } };
    expect(messages(bad, routes)).toEqual([
      typeErr('spec.matches[0].headers', 'array', 'object'),
      'spec.matches[0].methods[0]: Unsupported value: "FETCH": supported values: ' +
        '"*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"',
    ]);
    const values = { spec: { matches: [{ name: 'a', headers: [{ 'x-user': 1 }] }] } };
    expect(messages(values, routes)).toEqual([typeErr('spec.matches[0].headers[0].x-user', 'string', 'integer')]);
    // Two keys in one item pass the CRD (osm-edge's SMI SDK is what refuses them).
    expect(messages({ spec: { matches: [{ name: 'a', headers: [{ a: '1', b: '2' }] }] } }, routes)).toEqual([]);
    expect(messages({ spec: {} }, routes)).toEqual(['spec.matches: Required value']);
  });

  it('MeshConfig: the unanchored CIDR pattern, port bounds, enums and nested types', () => {
    const mc = schemaOf('meshconfigs', 'v1alpha2');
    const value = {
      spec: {
        traffic: {
          outboundIPRangeExclusionList: ['10.0.0.1/32', '999.1.1.1/32', 'x1.2.3.4/32', 'nope'],
          outboundPortExclusionList: [0],
        },
        sidecar: { sidecarClass: 'istio', enablePrivilegedInitContainer: 'yes' },
      },
    };
    expect(messages(value, mc)).toEqual([
      typeErr('spec.sidecar.enablePrivilegedInitContainer', 'boolean', 'string'),
      expect.stringMatching(/^spec\.sidecar\.sidecarClass: Unsupported value: "istio": supported values: /),
      'spec.traffic.outboundIPRangeExclusionList[3]: Invalid value: "nope": ' +
        'spec.traffic.outboundIPRangeExclusionList[3] in body should match ' +
        "'((?:\\d{1,3}\\.){3}\\d{1,3})\\/(\\d{1,2})$'",
      'spec.traffic.outboundPortExclusionList[0]: Invalid value: 0: ' +
        'spec.traffic.outboundPortExclusionList[0] in body should be greater than or equal to 1',
    ]);
  });

  it('Egress, TrafficTarget, TCPRoute and TrafficSplit: required fields and types', () => {
    const egress = { spec: { sources: [{ kind: 'ServiceAccount', name: 'a' }], ports: [{ number: '443' }] } };
    expect(messages(egress, schemaOf('egresses', 'v1alpha1'))).toEqual([
      typeErr('spec.ports[0].number', 'integer', 'string'),
      'spec.ports[0].protocol: Required value',
      'spec.sources[0].namespace: Required value',
    ]);
    const target = { spec: { destination: { kind: 'ServiceAccount' }, rules: [{ kind: 'HTTPRoute', name: 'r' }] } };
    expect(messages(target, schemaOf('traffictargets', 'v1alpha3'))).toEqual([
      'spec.destination.name: Required value',
      'spec.rules[0].kind: Unsupported value: "HTTPRoute": supported values: "HTTPRouteGroup", "TCPRoute", "UDPRoute"',
      'spec.sources: Required value',
    ]);
    expect(messages({ spec: { matches: { ports: ['5432'] } } }, schemaOf('tcproutes', 'v1alpha4'))).toEqual([
      typeErr('spec.matches.ports[0]', 'integer', 'string'),
    ]);
    const split = { spec: { service: 's', backends: [{ service: 'b', weight: '50' }] } };
    expect(messages(split, schemaOf('trafficsplits', 'v1alpha4'))).toEqual([
      typeErr('spec.backends[0].weight', 'number', 'string'),
    ]);
  });
});

describe('keywords the osm-edge CRDs do not use', () => {
  it('checks the formats the apiserver supports and ignores the others', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        ip: { type: 'string', format: 'ipv4' },
        cidr: { type: 'string', format: 'cidr' },
        when: { type: 'string', format: 'date-time' },
        id: { type: 'string', format: 'uuid' },
        size: { type: 'integer', format: 'int32' },
        custom: { type: 'string', format: 'not-a-kube-format' },
      },
    };
    const good = {
      ip: '10.0.0.1',
      cidr: 'fd00::/8',
      when: '2024-05-01T12:34:56+02:00',
      id: '0b9b0a8e-3e51-4c1a-9d2f-2a1c3b4d5e6f',
      size: 1,
      custom: '?',
    };
    expect(messages(good, schema)).toEqual([]);
    expect(messages({ ip: '10.0.0.256', cidr: '10.0.0.0/33', when: '2024-02-30T00:00:00Z', id: 'x' }, schema)).toEqual([
      'cidr: Invalid value: "10.0.0.0/33": cidr in body must be of type cidr: "10.0.0.0/33"',
      'id: Invalid value: "x": id in body must be of type uuid: "x"',
      'ip: Invalid value: "10.0.0.256": ip in body must be of type ipv4: "10.0.0.256"',
      'when: Invalid value: "2024-02-30T00:00:00Z": when in body must be of type datetime: "2024-02-30T00:00:00Z"',
    ]);
  });

  it('int-or-string, nullable, exclusive bounds, list and map sizes, anyOf', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        port: { 'x-kubernetes-int-or-string': true },
        note: { type: 'string', nullable: true },
        ratio: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
        tags: { type: 'array', maxItems: 2, uniqueItems: true, items: { type: 'string', maxLength: 3 } },
        labels: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } },
        either: {
          anyOf: [
            { type: 'integer', minimum: 10 },
            { type: 'string', pattern: '^x' },
          ],
        },
      },
    };
    const fine = { port: 'http', note: null, ratio: 0.5, tags: ['a'], labels: { a: 'b' }, either: 'xy' };
    expect(messages(fine, schema)).toEqual([]);
    expect(messages({ port: 80, either: 11 }, schema)).toEqual([]);
    expect(messages({ port: true, ratio: 1, tags: ['a', 'a', 'long'], labels: {}, either: 3 }, schema)).toEqual([
      'either: Invalid value: 3: either in body must validate at least one schema (anyOf)',
      'labels: Invalid value: 0: labels in body should have at least 1 properties',
      typeErr('port', 'integer,string', 'boolean'),
      'ratio: Invalid value: 1: ratio in body should be less than 1',
      'tags: Too many: 3: must have at most 2 items',
      'tags: Invalid value: []interface {}{"a", "a", "long"}: tags in body shouldn\'t contain duplicates',
      'tags[2]: Too long: may not be more than 3 bytes',
    ]);
    expect(messages({ ratio: 0 }, schema)).toEqual(['ratio: Invalid value: 0: ratio in body should be greater than 0']);
    expect(messages({ note: 1 }, schema)).toEqual([typeErr('note', 'string', 'integer')]);
  });
});
