// Input rules an outside audit found loose, each held on REST and GraphQL alike: a list filter takes the names a
// request takes (an empty or malformed cluster is refused, not answered with an empty page), accepted prerequisite
// errors are known codes, a rejection's reason is more than spaces, an out-of-range integer is told its range, and a
// token scope that could never match a namespace or mesh is refused when the token is made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, http, startStack, uniqueName, type Stack } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(() => s?.close());

const fieldsOf = (body: any) => body.error?.fields?.map((f: { field: string }) => f.field);
const codeOf = (res: { errors?: any[] }) => res.errors?.[0]?.extensions?.code;

describe('input rules on every transport', () => {
  it('a request list filtered by a name no request can have is 422 on that field', async () => {
    for (const [param, value] of [
      ['cluster', 'a b'],
      ['cluster', 'x'.repeat(300)],
      ['namespace', 'Not_A_Namespace'],
      ['meshName', 'OSM'],
    ]) {
      const rest = await http(s.url, 'GET', `/v1/onboardings?${param}=${encodeURIComponent(value)}`);
      expect([rest.status, fieldsOf(rest.body)]).toEqual([422, [param]]);
      const graph = await gql(
        s.url,
        'query($f: OnboardingRequestFilter) { onboardingRequests(filter: $f) { pageInfo { hasNextPage } } }',
        {
          f: { [param]: value },
        },
      );
      expect(codeOf(graph)).toBe('VALIDATION_FAILED');
    }
    // An empty cluster is told the same as in a request body.
    const empty = await http(s.url, 'GET', '/v1/onboardings?cluster=');
    expect(empty.body.error.fields).toEqual([{ field: 'cluster', message: 'must not be empty' }]);
    expect((await http(s.url, 'GET', '/v1/onboardings?cluster=emulator&namespace=team-a')).status).toBe(200);
  });

  it('an accepted prerequisite error must be a known code; a range error names the range', async () => {
    const ns = uniqueName('rules');
    await createNamespace(s.emulator, ns);
    const mutation = 'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }';
    const typo = { namespace: ns, dryRun: true, prerequisites: { acceptErrors: ['OSM_RESERVED_UID', 'BOGUS'] } };
    const rest = await http(s.url, 'POST', '/v1/onboardings', typo);
    expect([rest.status, fieldsOf(rest.body)]).toEqual([422, ['prerequisites.acceptErrors.1']]);
    expect(rest.body.error.fields[0].message).toContain('must be a prerequisite diagnostic code');
    expect(codeOf(await gql(s.url, mutation, { i: typo }))).toBe('VALIDATION_FAILED');
    const known = await http(s.url, 'POST', '/v1/onboardings', {
      ...typo,
      prerequisites: { acceptErrors: ['OSM_RESERVED_UID'] },
    });
    expect(known.status).toBe(202);

    const huge = await http(s.url, 'POST', '/v1/onboardings', {
      namespace: ns,
      dryRun: true,
      verify: { timeoutSeconds: 1e308 },
    });
    expect(huge.body.error.fields).toEqual([
      { field: 'verify.timeoutSeconds', message: 'must be an integer between 1 and 1800' },
    ]);
  });

  it('a rejection needs a reason that is more than spaces', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const rest = await http(s.url, 'POST', `/v1/onboardings/${id}/reject`, { reason: '   ' });
    expect([rest.status, fieldsOf(rest.body)]).toEqual([422, ['reason']]);
    const graph = await gql(
      s.url,
      'mutation($id: ID!, $r: String!) { rejectOnboardingRequest(id: $id, reason: $r) { id } }',
      {
        id,
        r: ' \t ',
      },
    );
    expect(codeOf(graph)).toBe('VALIDATION_FAILED');
  });

  it('a token scope that could never match is refused when the token is made', async () => {
    for (const scope of ['prod/Team-A', 'prod/mesh:', 'prod/team_a', 'prod/a.b']) {
      const rest = await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('sc'),
        roles: ['viewer'],
        scopes: [scope],
      });
      expect([rest.status, fieldsOf(rest.body)]).toEqual([422, ['scopes.0']]);
      const graph = await gql(s.url, 'mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }', {
        i: { name: uniqueName('sc'), roles: ['viewer'], scopes: [scope] },
      });
      expect(codeOf(graph)).toBe('VALIDATION_FAILED');
    }
    for (const scope of ['Prod-EU/team-*', '*/mesh:osm', 'prod/*']) {
      const made = await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('sc'),
        roles: ['viewer'],
        scopes: [scope],
      });
      expect(made.status).toBe(201);
    }
  });
});
