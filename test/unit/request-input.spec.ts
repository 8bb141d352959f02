// Request input validation: the zod schemas of onboarding/offboarding bodies through parseInput, field by field,
// and the HTTPRouteGroup header rules.
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/common/domain-error.js';
import { OffboardingInputSchema, OnboardingInputSchema } from '../../src/onboarding/onboarding.input.js';
import { parseInput } from '../../src/common/parse-input.js';

function fieldsOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('VALIDATION_FAILED');
    return (err as DomainError).fields;
  }
  throw new Error('expected a validation error');
}

describe('request input validation', () => {
  it('accepts a minimal onboarding and leaves defaults to the service', () => {
    expect(parseInput(OnboardingInputSchema, { namespace: 'team-a' })).toEqual({ namespace: 'team-a' });
  });

  it.each([['Team-A'], ['-a'], ['a-'], ['a_b'], ['a'.repeat(64)], ['']])(
    'refuses namespace %j, naming the field',
    (namespace) => {
      const fields = fieldsOf(() => parseInput(OnboardingInputSchema, { namespace }));
      expect(fields.map((f) => f.field)).toEqual(['namespace']);
    },
  );

  it('names unknown fields and wrong types', () => {
    const fields = fieldsOf(() =>
      parseInput(OnboardingInputSchema, { namespace: 'ok', sidecarInjection: 'sometimes', extra: 1, cluster: 5 }),
    );
    expect(fields.map((f) => f.field).sort()).toEqual(['cluster', 'extra', 'sidecarInjection']);
    expect(fields.find((f) => f.field === 'extra')?.message).toBe('unknown field');
  });

  it('does not accept sidecarInjection on an offboarding', () => {
    const fields = fieldsOf(() => parseInput(OffboardingInputSchema, { namespace: 'ok', sidecarInjection: 'enabled' }));
    expect(fields).toEqual([{ field: 'sidecarInjection', message: 'unknown field' }]);
  });

  it('refuses a body that is not an object', () => {
    expect(fieldsOf(() => parseInput(OnboardingInputSchema, 'text'))[0].field).toBe('(body)');
  });
});

describe('HTTPRouteGroup headers (the CRD: a list of string maps; osm-edge: one header per item)', () => {
  const withHeaders = (headers: unknown, extra: Record<string, unknown> = {}) => ({
    namespace: 'ok',
    ...extra,
    trafficPolicy: {
      mode: 'smi',
      smi: { httpRouteGroups: [{ name: 'r', spec: { matches: [{ name: 'm', headers }] } }] },
    },
  });
  const headersOf = (input: unknown) =>
    parseInput(OnboardingInputSchema, input).trafficPolicy?.smi?.httpRouteGroups[0].spec.matches[0].headers;
  const FIELD = 'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.headers';
  function refusal(input: unknown): DomainError {
    try {
      parseInput(OnboardingInputSchema, input);
    } catch (err) {
      return err as DomainError;
    }
    throw new Error('expected a refusal');
  }

  it('keeps the list of one-pair maps as given and converts a plain map to it', () => {
    const list = [{ 'x-user': 'admin' }, { 'x-env': 'p.*' }];
    expect(headersOf(withHeaders(list))).toEqual(list);
    expect(headersOf(withHeaders({ 'x-user': 'admin', 'x-env': 'p.*' }))).toEqual(list);
    expect(headersOf(withHeaders([]))).toEqual([]);
  });

  it('refuses an item with two headers (or none, or a repeated name) with SMI_HEADER_MATCH_INVALID', () => {
    const two = refusal(withHeaders([{ 'x-user': 'admin' }, { a: '1', b: '2' }]));
    expect(two.code).toBe('SMI_HEADER_MATCH_INVALID');
    expect(two.fields).toEqual([
      { field: `${FIELD}.1`, message: expect.stringMatching(/^must hold exactly one header, not 2: .*split it: \[/) },
    ]);
    const none = refusal(withHeaders([{}]));
    expect(none.fields).toEqual([{ field: `${FIELD}.0`, message: expect.stringContaining('not 0') }]);
    const repeated = refusal(withHeaders([{ 'x-user': 'a' }, { 'x-user': 'b' }]));
    expect(repeated).toMatchObject({ code: 'SMI_HEADER_MATCH_INVALID', fields: [{ field: `${FIELD}.1` }] });
    expect(repeated.fields[0].message).toContain('repeats header "x-user" of item 0');
  });

  it('says VALIDATION_FAILED when other problems come with it, or the shape is wrong', () => {
    const mixed = refusal(withHeaders([{ a: '1', b: '2' }], { sidecarInjection: 'sometimes' }));
    expect(mixed.code).toBe('VALIDATION_FAILED');
    expect(mixed.fields.map((f) => f.field).sort()).toEqual(['sidecarInjection', `${FIELD}.0`]);
    const wrong = refusal(withHeaders('x-user: admin'));
    const form = expect.stringContaining('[{"x-user": "admin"}]');
    expect(wrong).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: FIELD, message: form }] });
    expect(refusal(withHeaders([{ 'x-user': 1 }])).code).toBe('VALIDATION_FAILED');
  });
});
