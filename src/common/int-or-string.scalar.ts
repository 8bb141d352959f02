// The GraphQL `IntOrString` scalar: like Kubernetes' IntOrString, a value that is either an integer or a
// string (a Service port by number or by name). Range and format are checked by the zod input schemas,
// so REST and GraphQL give the same field errors. Nest builds the scalar from this class (with the
// graphql module the app runs on), so nothing here imports graphql at runtime.
import { CustomScalar, Scalar } from '@nestjs/graphql';
import { Kind, type ValueNode } from 'graphql';

/** The TypeScript side of the scalar: `@Field(() => IntOrString)`. */
export class IntOrString {}

function intOrString(value: unknown): number | string {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) return value;
  // The kind of value only: an error message never quotes what the caller sent (graphql-input-values.ts).
  const kind =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'a list'
        : typeof value === 'number'
          ? 'a number that is not an integer'
          : typeof value === 'object'
            ? 'an object'
            : `a ${typeof value}`;
  throw new TypeError(`IntOrString must be an integer or a string, got ${kind}`);
}

@Scalar('IntOrString', () => IntOrString)
export class IntOrStringScalar implements CustomScalar<number | string, number | string> {
  description = 'An integer or a string, e.g. a Service port by number (8080) or by name ("http")';

  serialize(value: unknown): number | string {
    return intOrString(value);
  }

  parseValue(value: unknown): number | string {
    return intOrString(value);
  }

  parseLiteral(ast: ValueNode): number | string {
    if (ast.kind === Kind.INT) return Number(ast.value);
    if (ast.kind === Kind.STRING) return ast.value;
    throw new TypeError('IntOrString must be an integer or a string literal');
  }
}
