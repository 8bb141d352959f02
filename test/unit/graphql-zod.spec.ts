// The GraphQL types stay code-first classes; this checks each one against the zod schema of the same data
// (src/graphql/zod-types.ts), on the committed schema.graphql (test/integration/graphql-schema.spec.ts keeps
// it equal to what the code builds). A field added to one and not the other, or made nullable or a list on
// one side only, fails here.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  buildSchema,
  getNamedType,
  type GraphQLField,
  type GraphQLInputField,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { descriptionOf, GRAPHQL_ZOD_TYPES, shapeOf } from '../../src/graphql/zod-types.js';

const schema = buildSchema(readFileSync(resolve(import.meta.dirname, '../../schema.graphql'), 'utf8'));

interface FieldFacts {
  nullable: boolean | 'any';
  list: boolean | 'any';
}

function zodFacts(s: z.ZodType): FieldFacts {
  let inner = s;
  for (;;) {
    const def = inner._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
    const next = def.innerType ?? (inner._zod.def.type === 'pipe' ? def.in : undefined);
    if (!next) break;
    inner = next;
  }
  // z.unknown() takes anything, null included: it constrains nothing.
  if (inner instanceof z.ZodUnknown || inner instanceof z.ZodAny) return { nullable: 'any', list: 'any' };
  return { nullable: s.safeParse(undefined).success || s.safeParse(null).success, list: inner instanceof z.ZodArray };
}

function graphqlFacts(type: GraphQLType): FieldFacts {
  const nullable = !isNonNullType(type);
  const inner = isNonNullType(type) ? type.ofType : type;
  // The JSON scalar carries any shape: lists and objects alike.
  if (getNamedType(type).name === 'JSON') return { nullable, list: 'any' };
  return { nullable, list: isListType(inner) };
}

const agree = (a: boolean | 'any', b: boolean | 'any') => a === 'any' || b === 'any' || a === b;

function mismatches(typeName: string, zod: z.ZodType): string[] {
  const type = schema.getType(typeName);
  if (!isObjectType(type) && !isInputObjectType(type)) return [`${typeName}: not an object or input type`];
  const fields = type.getFields() as Record<string, GraphQLField<unknown, unknown> | GraphQLInputField>;
  const shape = shapeOf(zod);
  const out: string[] = [];
  for (const name of Object.keys(fields)) if (!shape[name]) out.push(`${typeName}.${name}: not in the zod schema`);
  for (const name of Object.keys(shape)) if (!fields[name]) out.push(`${typeName}.${name}: not in GraphQL`);
  for (const [name, f] of Object.entries(fields)) {
    if (!shape[name]) continue;
    const g = graphqlFacts(f.type);
    const zf = zodFacts(shape[name]);
    if (!agree(g.nullable, zf.nullable))
      out.push(`${typeName}.${name}: nullable ${g.nullable} in GraphQL, ${zf.nullable} in zod`);
    if (!agree(g.list, zf.list)) out.push(`${typeName}.${name}: a list ${g.list} in GraphQL, ${zf.list} in zod`);
  }
  return out;
}

describe('GraphQL types and the zod schemas of the same data', () => {
  it('agree on field names, nullability and list-ness', () => {
    const problems = Object.entries(GRAPHQL_ZOD_TYPES).flatMap(([name, zod]) => mismatches(name, zod));
    expect(problems).toEqual([]);
  });

  it('finds a field added to one side only, a nullability change and a list change', () => {
    const base = z.strictObject({ id: z.string(), tags: z.array(z.string()), note: z.string().nullable() });
    expect(mismatches('ApiToken', base.extend({ extra: z.string() }))).toContain('ApiToken.extra: not in GraphQL');
    const token = GRAPHQL_ZOD_TYPES.ApiToken as z.ZodObject;
    expect(mismatches('ApiToken', token.omit({ prefix: true }))).toEqual(['ApiToken.prefix: not in the zod schema']);
    expect(mismatches('ApiToken', token.extend({ name: z.string().nullable() }))).toEqual([
      'ApiToken.name: nullable false in GraphQL, true in zod',
    ]);
    expect(mismatches('ApiToken', token.extend({ scopes: z.string() }))).toEqual([
      'ApiToken.scopes: a list true in GraphQL, false in zod',
    ]);
  });

  it('pairs every object and input type that is not GraphQL-only (roots, connections, edges, PageInfo)', () => {
    const graphqlOnly = /^(Query|Mutation|Subscription|PageInfo|.*Connection|.*Edge)$/;
    const unpaired = Object.values(schema.getTypeMap())
      .filter((t) => (isObjectType(t) || isInputObjectType(t)) && !t.name.startsWith('__'))
      .map((t) => t.name)
      .filter((n) => !graphqlOnly.test(n) && !GRAPHQL_ZOD_TYPES[n]);
    expect(unpaired).toEqual([]);
  });

  it('takes every paired field description from the zod schema (one source for the words)', () => {
    for (const [typeName, zod] of Object.entries(GRAPHQL_ZOD_TYPES)) {
      const type = schema.getType(typeName);
      if (!isObjectType(type) && !isInputObjectType(type)) continue;
      for (const [name, f] of Object.entries(type.getFields())) {
        const words = descriptionOf(shapeOf(zod)[name]);
        expect(words, `${typeName}.${name} has no description in its zod schema`).toBeTruthy();
        expect(f.description, `${typeName}.${name}`).toBe(words);
      }
    }
  });
});
