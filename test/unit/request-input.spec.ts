// Request input validation: the zod schemas of onboarding/offboarding bodies through parseInput, field by field,
// the HTTPRouteGroup header rules, the consistency the request alone shows (SMI names, Service ports, egress for
// `default`) and text Postgres cannot store (NUL, unpaired surrogates).
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

  it("says what `restart` must be when it is given as a bare mode (the CLI's shape), on both request kinds", () => {
    for (const schema of [OnboardingInputSchema, OffboardingInputSchema]) {
      const fields = fieldsOf(() => parseInput(schema, { namespace: 'ok', restart: 'all' }));
      expect(fields).toEqual([
        { field: 'restart', message: 'must be an object, e.g. {"mode": "all"} (not a bare mode string)' },
      ]);
    }
    // Its own fields keep their own messages.
    const inner = fieldsOf(() => parseInput(OnboardingInputSchema, { namespace: 'ok', restart: { mode: 'x', y: 1 } }));
    expect(inner.map((f) => f.field).sort()).toEqual(['restart.mode', 'restart.y']);
  });

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

// What the body alone shows is refused here, before anything is stored or written (the steps keep their own checks
// as the last line): a problem found by a step's plan in the worker would come after earlier steps' writes.
describe('consistency the request alone shows (refused before the worker)', () => {
  function refusal(input: unknown): DomainError {
    try {
      parseInput(OnboardingInputSchema, { namespace: 'ok', ...(input as object) });
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      return err as DomainError;
    }
    throw new Error('expected a refusal');
  }
  const smi = (lists: Record<string, unknown[]>) => ({ trafficPolicy: { mode: 'smi', smi: lists } });
  const route = (name: string, port = 80) => ({ name, spec: { matches: { ports: [port] } } });
  const group = (name: string) => ({ name, spec: { matches: [{ name: 'all', pathRegex: '.*' }] } });
  const target = (name: string) => ({
    name,
    spec: {
      destination: { kind: 'ServiceAccount', name: 'a' },
      sources: [{ kind: 'ServiceAccount', name: 'b' }],
      rules: [{ kind: 'TCPRoute', name: 'tcp' }],
    },
  });
  const split = (name: string) => ({ name, spec: { service: 's', backends: [{ service: 's-v1', weight: 1 }] } });

  it.each([
    ['tcpRoutes', 'TCPRoute', route],
    ['httpRouteGroups', 'HTTPRouteGroup', group],
    ['trafficTargets', 'TrafficTarget', target],
    ['trafficSplits', 'TrafficSplit', split],
  ] as const)('refuses two %s of one name, naming the second', (list, kind, make) => {
    const e = refusal(smi({ [list]: [make('x'), make('other'), make('x')] }));
    expect(e.code).toBe('VALIDATION_FAILED');
    expect(e.fields).toEqual([
      {
        field: `trafficPolicy.smi.${list}.2.name`,
        message: `${kind} x is listed more than once (also item 0): one object per name`,
      },
    ]);
  });

  it('accepts one name in two kinds (they are different objects), and distinct names', () => {
    const input = {
      namespace: 'ok',
      ...smi({ tcpRoutes: [route('x'), route('y', 6379)], httpRouteGroups: [group('x')] }),
    };
    expect(parseInput(OnboardingInputSchema, input).trafficPolicy?.smi?.tcpRoutes).toHaveLength(2);
  });

  it('refuses a Service port given twice the same way with different appProtocols; the same twice is one', () => {
    const twice = refusal({
      appProtocols: [
        { service: 'web', port: 80, appProtocol: 'http' },
        { service: 'web', port: 80, appProtocol: 'tcp' },
        { service: 'web', port: 'http', appProtocol: 'http' },
        { service: 'web', port: 'http', appProtocol: 'grpc' },
      ],
    });
    expect(twice.fields).toEqual([
      {
        field: 'appProtocols.1.appProtocol',
        message: 'port 80 of Service web is given twice with different values (item 0: http, item 1: tcp)',
      },
      {
        field: 'appProtocols.3.appProtocol',
        message: 'port "http" of Service web is given twice with different values (item 2: http, item 3: grpc)',
      },
    ]);
    const same = [
      { service: 'web', port: 80, appProtocol: 'http' },
      { service: 'web', port: 80, appProtocol: 'http' },
      // Another Service, or the port by name next to its number: only the Service tells (the step checks).
      { service: 'api', port: 80, appProtocol: 'tcp' },
      { service: 'web', port: 'web', appProtocol: 'tcp' },
    ];
    expect(parseInput(OnboardingInputSchema, { namespace: 'ok', appProtocols: same }).appProtocols).toEqual(same);
  });

  it.each([['HTTP-Port-Name-Too-Long'], ['Http'], ['-http'], ['http-'], ['h_p'], ['p'.repeat(64)], ['']])(
    'refuses port name %j: no Service port can have it (Kubernetes: an RFC 1123 label)',
    (port) => {
      const e = refusal({ appProtocols: [{ service: 'web', port, appProtocol: 'http' }] });
      expect(e.fields.map((f) => f.field)).toEqual(['appProtocols.0.port']);
    },
  );

  it.each([['http'], ['grpc-web'], ['8080'], ['a--b'], ['prometheus-metrics-port']])('accepts port name %j', (port) => {
    const input = { namespace: 'ok', appProtocols: [{ service: 'web', port, appProtocol: 'http' }] };
    expect(parseInput(OnboardingInputSchema, input).appProtocols?.[0].port).toBe(port);
  });

  it('refuses the egress method for namespace default with the step code (it holds the API Service)', () => {
    const e = refusal({ apiServerAccess: { method: 'egress', serviceAccounts: ['app'] }, namespace: 'default' });
    expect(e.code).toBe('EGRESS_API_SERVER_MONITORED');
    expect(e.fields).toEqual([{ field: 'apiServerAccess.method', message: expect.stringContaining('ip-exclusion') }]);
    const other = { namespace: 'team-a', apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } };
    expect(parseInput(OnboardingInputSchema, other).apiServerAccess?.method).toBe('egress');
    const exclusion = { namespace: 'default', apiServerAccess: { method: 'ip-exclusion' } };
    expect(parseInput(OnboardingInputSchema, exclusion).apiServerAccess?.method).toBe('ip-exclusion');
  });
});

describe('text Postgres cannot store (NUL, an unpaired surrogate): refused for every schema, naming the field', () => {
  it.each([
    [
      'a NUL in a port name',
      { appProtocols: [{ service: 'web', port: 'h\u0000', appProtocol: 'http' }] },
      'appProtocols.0.port',
    ],
    [
      'a lone surrogate in a path regex',
      smiMatch({ name: 'all', pathRegex: 'x\ud800' }),
      'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.pathRegex',
    ],
    ['a NUL in a match name', smiMatch({ name: 'a\u0000' }), 'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.name'],
    ['a lone low surrogate', { cluster: '\udc00x' }, 'cluster'],
    ['a NUL in a key', { 'bo\u0000gus': 1 }, '(body)'],
  ])('%s', (_what, extra, field) => {
    let error: DomainError | undefined;
    try {
      parseInput(OnboardingInputSchema, { namespace: 'ok', ...extra });
    } catch (err) {
      error = err as DomainError;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field }] });
    expect(error!.fields).toHaveLength(1);
    // The offending value is never echoed.
    const said = [error!.message, ...error!.fields.flatMap((f) => [f.field, f.message])].join(' ');
    expect(said.includes('\u0000') || /[\ud800-\udfff]/.test(said)).toBe(false);
  });

  it('accepts paired surrogates (an emoji) and other control characters Postgres stores', () => {
    const ok = smiMatch({ name: 'all', pathRegex: '^/\u{1F600}\t$' });
    expect(parseInput(OnboardingInputSchema, { namespace: 'ok', ...ok }).trafficPolicy?.mode).toBe('smi');
  });

  function smiMatch(match: Record<string, string>) {
    return { trafficPolicy: { mode: 'smi', smi: { httpRouteGroups: [{ name: 'r', spec: { matches: [match] } }] } } };
  }
});
