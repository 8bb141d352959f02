// graphql-js's own errors (bad variables, bad literals) through formatGraphQLError, the formatter of every GraphQL
// error over HTTP and graphql-ws: the variable, the path, the reason and the code stay; the value the caller sent
// (a webhook's signing secret, say) never comes back.
import { describe, expect, it } from 'vitest';
import { buildSchema, graphql, GraphQLError, GraphQLScalarType, parse, validate } from 'graphql';
import { formatGraphQLError } from '../../src/common/graphql-errors.js';

const schema = buildSchema(`
  scalar Port
  enum Kind { ONBOARD OFFBOARD }
  input CreateWebhookInput { url: String!, eventTypes: [String!]!, secret: String }
  input Other { kind: Kind, n: Int, f: Float, b: Boolean, id: ID, ports: [Port!] }
  type Query { x(i: CreateWebhookInput, o: Other): String }
`);
// A custom scalar whose own message quotes the value (IntOrString did).
Object.assign(schema.getType('Port') as GraphQLScalarType, {
  parseValue: (v: unknown) => {
    if (typeof v === 'number') return v;
    throw new TypeError(`Port must be a number, got ${JSON.stringify(v)}`);
  },
});

const SECRET = 'TopSecretValue-0123456789-abcdef';
const format = (e: GraphQLError) => formatGraphQLError(e.toJSON(), e);

async function messages(query: string, variableValues: Record<string, unknown>) {
  const { errors } = await graphql({ schema, source: query, variableValues });
  expect(errors?.length).toBeGreaterThan(0);
  return errors!.map(format);
}

describe('graphql-js errors keep no input value', () => {
  it('an unknown field next to a secret: the variable and the reason, not the value', async () => {
    const [e] = await messages('query($i: CreateWebhookInput) { x(i: $i) }', {
      i: { url: 'https://hooks.example.com/x', eventTypes: ['*'], secret: SECRET, bogus: 1 },
    });
    expect(e.message).toBe(
      'Variable "$i" has an invalid value; Field "bogus" is not defined by type "CreateWebhookInput".',
    );
  });

  it('a secret of the wrong type: the path and the reason, not the value', async () => {
    const [e] = await messages('query($i: CreateWebhookInput) { x(i: $i) }', {
      i: { url: 'u', eventTypes: ['*'], secret: 1234567890123456 },
    });
    expect(e.message).toBe(
      'Variable "$i" got an invalid value at "i.secret": String cannot represent a non string value',
    );
  });

  it.each([
    [{ n: 'n-' + SECRET }, 'Variable "$o" got an invalid value at "o.n": Int cannot represent non-integer value'],
    [
      { n: 2 ** 40 },
      'Variable "$o" got an invalid value at "o.n": Int cannot represent non 32-bit signed integer value',
    ],
    [{ f: 'f-' + SECRET }, 'Variable "$o" got an invalid value at "o.f": Float cannot represent non numeric value'],
    [{ b: 'b-' + SECRET }, 'Variable "$o" got an invalid value at "o.b": Boolean cannot represent a non boolean value'],
    [{ id: { secret: SECRET } }, 'Variable "$o" got an invalid value at "o.id": ID cannot represent value'],
    [{ kind: 'k-' + SECRET }, 'Variable "$o" got an invalid value at "o.kind": Value does not exist in "Kind" enum.'],
    [{ kind: 7 }, 'Variable "$o" got an invalid value at "o.kind": Enum "Kind" cannot represent non-string value'],
    [
      { ports: [80, 'p-' + SECRET] },
      'Variable "$o" got an invalid value at "o.ports[1]": Expected type "Port". Port must be a number, got ' +
        '(the value)',
    ],
  ])('%j: %s', async (o, message) => {
    const [e] = await messages('query($o: Other) { x(o: $o) }', { o });
    expect(e.message).toBe(message);
    expect(JSON.stringify(e)).not.toContain(SECRET);
  });

  it('a whole variable of the wrong type, and one refused in several places', async () => {
    const [whole] = await messages('query($i: CreateWebhookInput) { x(i: $i) }', { i: SECRET });
    expect(whole.message).toBe(
      'Variable "$i" has an invalid value; Expected type "CreateWebhookInput" to be an object.',
    );
    const many = await messages('query($i: CreateWebhookInput) { x(i: $i) }', {
      i: { eventTypes: [SECRET, 5], secret: 5, colour: SECRET },
    });
    // The name of an unknown field is what the caller got wrong: it stays.
    expect(many.map((e) => e.message)).toEqual([
      'Variable "$i" has an invalid value; Field "url" of required type "String!" was not provided.',
      'Variable "$i" got an invalid value at "i.eventTypes[1]": String cannot represent a non string value',
      'Variable "$i" got an invalid value at "i.secret": String cannot represent a non string value',
      'Variable "$i" has an invalid value; Field "colour" is not defined by type "CreateWebhookInput".',
    ]);
    expect(JSON.stringify(many)).not.toContain(SECRET);
  });

  it('keeps the code; without its reason nothing of the value is kept', () => {
    const e = new GraphQLError(`Variable "$i" got invalid value { secret: "${SECRET}" }; odd`, {
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
    expect(format(e)).toEqual({
      message: 'Variable "$i" has an invalid value.',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('keeps no other extension, which could repeat the message as it was (a stack trace)', () => {
    const message = `Variable "$i" got invalid value "${SECRET}"; String cannot represent a non string value`;
    const e = new GraphQLError(message, { extensions: { stacktrace: [`GraphQLError: ${message}`] } });
    expect(format(e)).toEqual({ message: 'Variable "$i" has an invalid value.' });
  });

  it('a literal of the wrong type in the document: not quoted back either', () => {
    const document = parse(`{ x(i: { url: "u", eventTypes: [], secret: 1234567890123456 }, o: { kind: SECRET }) }`);
    const errors = validate(schema, document).map(format);
    expect(errors.map((e) => e.message)).toEqual([
      'String cannot represent a non string value',
      'Value does not exist in "Kind" enum.',
    ]);
  });

  it('leaves other messages as they are', () => {
    const e = new GraphQLError('Cannot query field "nope" on type "Query".', {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(format(e).message).toBe('Cannot query field "nope" on type "Query".');
  });
});
