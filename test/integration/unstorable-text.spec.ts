// Text Postgres cannot store (a NUL; an unpaired UTF-16 surrogate, which jsonb refuses) is bad input, never a 500:
// the REST edge refuses it anywhere in a body, query string or path parameter with 422 VALIDATION_FAILED naming the
// field, GraphQL where the resolvers parse their input, and behind both, Postgres's own refusal (SQLSTATE 22021,
// 22P05, 22P02 on json) is the same 422 on every transport. The offending value is never echoed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.js';
import { PrismaService } from '../../src/database/prisma.service.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { toDomainError } from '../../src/common/to-domain-error.js';
import { testDatabaseUrl } from '../support/database.js';
import { gql, http, startStack, Stack, uniqueName } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

/** Neither a NUL nor a lone surrogate in what the service said (they would be the caller's value echoed). */
function echoesNothing(body: unknown): void {
  const said: string[] = [];
  JSON.stringify(body, (key, value: unknown) => {
    said.push(key);
    if (typeof value === 'string') said.push(value);
    return value;
  });
  expect(said.filter((t) => t.includes('\u0000') || /[\ud800-\udfff]/.test(t))).toEqual([]);
}

const refusal = (field: string) => ({
  code: 'VALIDATION_FAILED',
  fields: [{ field, message: expect.stringMatching(/NUL .*unpaired UTF-16 surrogate/) }],
});

describe('text Postgres cannot store: a coded 422, never a 500', () => {
  let s: Stack;
  let ns: string;
  beforeAll(async () => {
    s = await startStack();
    ns = uniqueName('text');
    await createNamespace(s.emulator, ns);
  });
  afterAll(() => s?.close());

  /** The namespace's requests (the cancellation tests leave theirs, CANCELLED). */
  const stored = async () => (await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items.length;
  const smi = (match: Record<string, string>) => ({
    mode: 'smi',
    smi: { httpRouteGroups: [{ name: 'routes', spec: { matches: [match] } }] },
  });

  const bodies: [string, string, unknown, string][] = [
    [
      'a NUL in a port name',
      '/v1/onboardings',
      { appProtocols: [{ service: 'web', port: 'h\u0000', appProtocol: 'http' }] },
      'appProtocols.0.port',
    ],
    [
      'a NUL in an SMI match name',
      '/v1/onboardings',
      { trafficPolicy: smi({ name: 'a\u0000' }) },
      'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.name',
    ],
    [
      'a lone surrogate in a pathRegex (a dry run)',
      '/v1/onboardings',
      { dryRun: true, trafficPolicy: smi({ name: 'all', pathRegex: 'x\ud800' }) },
      'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.pathRegex',
    ],
    [
      'a lone surrogate in a plan',
      '/v1/onboardings/plan',
      { trafficPolicy: smi({ name: 'all', pathRegex: 'x\udc00' }) },
      'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.pathRegex',
    ],
  ];

  it.each(bodies)('REST body, %s: 422 naming the field, nothing stored', async (_what, path, extra, field) => {
    const before = await stored();
    const r = await http(s.url, 'POST', path, { namespace: ns, ...(extra as object) });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toMatchObject(refusal(field));
    echoesNothing(r.body);
    expect(await stored()).toBe(before);
  });

  it('REST batch: the option naming its path, nothing stored', async () => {
    const before = await stored();
    const options = { appProtocols: [{ service: 'web', port: 'h\u0000', appProtocol: 'http' }] };
    const r = await http(s.url, 'POST', '/v1/batches', { kind: 'ONBOARD', targets: [{ namespace: ns }], options });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toMatchObject(refusal('options.appProtocols.0.port'));
    expect(await stored()).toBe(before);
  });

  it.each([
    ['/v1/onboardings?namespace=%00', 'namespace'],
    ['/v1/onboardings?cluster=a%00b', 'cluster'],
    ['/v1/onboardings?requestedBy=%00', 'requestedBy'],
    ['/v1/audit?actor=%00', 'actor'],
  ])('REST query string %s: 422 naming the parameter', async (path, field) => {
    const r = await http(s.url, 'GET', path);
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toMatchObject(refusal(field));
    echoesNothing(r.body);
  });

  it('REST cancel with a NUL in its reason: 422, and the request is not cancelled', async () => {
    const planned = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    expect(planned.status, JSON.stringify(planned.body)).toBe(202);
    try {
      const r = await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/cancel`, { reason: 'x\u0000y' });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toMatchObject(refusal('reason'));
      expect((await http(s.url, 'GET', `/v1/onboardings/${planned.body.id}`)).body.status).toBe('PLANNED');
    } finally {
      await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/cancel`, {});
    }
  });

  it("a GraphQL id of a UUID's alphabet that is no UUID is not found, not an internal error", async () => {
    const bad = '-'.repeat(36);
    const one = await gql(s.url, 'query($id: ID!) { onboardingRequest(id: $id) { id } }', { id: bad });
    expect(one.errors?.[0].extensions.code).toBe('REQUEST_NOT_FOUND');
    const batch = await gql(s.url, 'query($id: ID!) { batch(id: $id) { id } }', { id: bad });
    expect(batch.errors?.[0].extensions.code).toBe('BATCH_NOT_FOUND');
  });

  it.each([
    ['/v1/onboardings/x%00y', 'id'],
    ['/v1/webhooks/a%00b', 'id'],
    ['/v1/clusters/%00/namespaces', 'cluster'],
    ['/v1/namespaces/emulator/a%00/reapply', 'namespace'],
  ])(
    'a path parameter holding a NUL (%s) is refused like one in a query string: 422 naming it',
    async (path, field) => {
      const r = await http(s.url, path.endsWith('/reapply') ? 'POST' : 'GET', path);
      expect([r.status, r.body.error]).toEqual([422, { ...refusal(field), message: expect.any(String) }]);
      echoesNothing(r.body);
    },
  );

  it.each([
    ['/v1/batches/%F0%9F%98%80', 'BATCH_NOT_FOUND'],
    // 36 characters of a UUID's alphabet, not a UUID: Postgres refuses it as a uuid (it was a 500).
    [`/v1/onboardings/${'-'.repeat(36)}`, 'REQUEST_NOT_FOUND'],
    [`/v1/onboardings/${'-'.repeat(36)}/audit`, 'REQUEST_NOT_FOUND'],
    [`/v1/onboardings/${'-'.repeat(36)}/events`, 'REQUEST_NOT_FOUND'],
    [`/v1/batches/${'0'.repeat(35)}-`, 'BATCH_NOT_FOUND'],
    [`/v1/webhooks/${'-'.repeat(36)}/deliveries`, 'WEBHOOK_NOT_FOUND'],
  ])('a path id that is not one of ours (%s) is not found, and not repeated', async (path, code) => {
    const r = await http(s.url, 'GET', path);
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code, message: expect.stringContaining('(not a valid id)') });
    echoesNothing(r.body);
  });

  it.each([
    ['description', { description: 'a\u0000b' }],
    ['url', { url: 'https://hooks.example.com/x\u0000' }],
  ])('REST webhook with a NUL in its %s: 422 naming it, nothing created', async (field, extra) => {
    const before = (await http(s.url, 'GET', '/v1/webhooks')).body;
    const body = { url: 'https://hooks.example.com/x', eventTypes: ['request.succeeded'], ...extra };
    const r = await http(s.url, 'POST', '/v1/webhooks', body);
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toMatchObject(refusal(field));
    echoesNothing(r.body);
    expect((await http(s.url, 'GET', '/v1/webhooks')).body).toEqual(before);
  });

  describe('GraphQL: a coded VALIDATION_FAILED, never INTERNAL', () => {
    it('requestOnboarding, naming the field', async () => {
      const before = await stored();
      const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
      const port = await gql(s.url, mutation, {
        i: { namespace: ns, appProtocols: [{ service: 'web', port: 'h\u0000', appProtocol: 'http' }] },
      });
      expect(port.errors[0].extensions).toMatchObject(refusal('appProtocols.0.port'));
      const regex = await gql(s.url, mutation, {
        i: { namespace: ns, trafficPolicy: smi({ name: 'a', pathRegex: 'x\ud800' }) },
      });
      expect(regex.errors[0].extensions).toMatchObject(
        refusal('trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.pathRegex'),
      );
      echoesNothing([port, regex]);
      expect(await stored()).toBe(before);
    });

    it('cancelOnboardingRequest with a NUL in its reason', async () => {
      const planned = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
      try {
        const mutation = `mutation($id: ID!, $r: String) { cancelOnboardingRequest(id: $id, reason: $r) { status } }`;
        const g = await gql(s.url, mutation, { id: planned.body.id, r: 'x\u0000y' });
        expect(g.errors[0].extensions.code).toBe('VALIDATION_FAILED');
        echoesNothing(g);
        expect((await http(s.url, 'GET', `/v1/onboardings/${planned.body.id}`)).body.status).toBe('PLANNED');
      } finally {
        await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/cancel`, {});
      }
    });

    it.each(['namespace', 'cluster', 'meshName'])('onboardingRequests filtered by a %s holding a NUL', async (key) => {
      const query = `query($f: OnboardingRequestFilter) { onboardingRequests(filter: $f) { edges { node { id } } } }`;
      const g = await gql(s.url, query, { f: { [key]: 'a\u0000' } });
      expect(g.errors[0].extensions.code).toBe('VALIDATION_FAILED');
      echoesNothing(g);
    });

    it.each([
      ['onboardingRequest', 'query($v: ID!) { onboardingRequest(id: $v) { id } }', 'id'],
      ['batch', 'query($v: ID!) { batch(id: $v) { id } }', 'id'],
      ['webhook', 'query($v: ID!) { webhook(id: $v) { id } }', 'id'],
      ['revokeApiToken', 'mutation($v: ID!) { revokeApiToken(id: $v) { id } }', 'id'],
      ['namespaceStatuses', 'query($v: String!) { namespaceStatuses(cluster: $v) { apiCalls } }', 'cluster'],
      [
        'reapplyOnboarding',
        'mutation($v: String!) { reapplyOnboarding(cluster: $v, namespace: "web") { id } }',
        'cluster',
      ],
    ])(
      '%s with a NUL or a lone surrogate in an argument: refused as REST refuses its path parameter',
      async (_name, query, field) => {
        for (const v of ['x\u0000', 'x\ud800']) {
          const g = await gql(s.url, query, { v });
          expect(g.errors?.[0].extensions, JSON.stringify(g)).toMatchObject(refusal(field));
          echoesNothing(g);
        }
      },
    );

    it('createWebhook with a NUL in its description', async () => {
      const mutation = `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }`;
      const input = { url: 'https://hooks.example.com/x', eventTypes: ['request.succeeded'], description: 'a\u0000' };
      const g = await gql(s.url, mutation, { i: input });
      expect(g.errors[0].extensions).toMatchObject(refusal('description'));
    });
  });
});

describe("Postgres's refusal of such text, however it is reached: VALIDATION_FAILED (the last line)", () => {
  const prisma = new PrismaService({ databaseUrl: testDatabaseUrl(), databasePoolSize: 2 } as AppConfig);
  const db = new pg.Client({ connectionString: testDatabaseUrl() });
  beforeAll(() => db.connect());
  afterAll(async () => {
    await prisma.$disconnect();
    await db.end();
  });

  async function thrown(run: () => Promise<unknown>): Promise<unknown> {
    try {
      await run();
    } catch (err) {
      return err;
    }
    throw new Error('expected Postgres to refuse');
  }

  const nul = JSON.stringify({ a: 'a\u0000' });
  const lone = JSON.stringify({ a: 'a\ud800' });
  it.each<[string, () => Promise<unknown>]>([
    // Prisma's model queries and raw SQL (PrismaClientKnownRequestError with the driver adapter's error).
    [
      'Prisma model query, NUL in text (22021)',
      () => prisma.onboardingRequest.findMany({ where: { namespace: 'a\u0000' } }),
    ],
    ['Prisma raw, NUL in text (22021)', () => prisma.$queryRaw`SELECT ${'a\u0000'}::text AS x`],
    ['Prisma raw, \\u0000 in jsonb (22P05)', () => prisma.$queryRaw`SELECT ${nul}::jsonb AS x`],
    ['Prisma raw, lone surrogate in jsonb (22P02)', () => prisma.$queryRaw`SELECT ${lone}::jsonb AS x`],
    // pg's DatabaseError: PREPARED statements run past Prisma, and pg itself.
    ['prepared, NUL in text (22021)', () => prisma.prepared(Prisma.sql`/* prepared */ SELECT ${'a\u0000'}::text AS x`)],
    ['prepared, \\u0000 in jsonb (22P05)', () => prisma.prepared(Prisma.sql`/* prepared */ SELECT ${nul}::jsonb AS x`)],
    ['pg, lone surrogate in jsonb (22P02)', () => db.query('SELECT $1::jsonb AS x', [lone])],
  ])('%s', async (_what, run) => {
    const e = toDomainError(await thrown(run));
    expect(e).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'a text value holds a character that cannot be stored: NUL or an unpaired surrogate',
    });
  });

  it('leaves other invalid input syntax (22P02 of a uuid) an internal error', async () => {
    const e = await thrown(() => db.query('SELECT $1::uuid AS x', ['not-a-uuid']));
    expect((e as { code?: string }).code).toBe('22P02');
    expect(toDomainError(e).code).toBe('INTERNAL');
    const viaPrisma = await thrown(() => prisma.$queryRaw`SELECT ${'not-a-uuid'}::uuid AS x`);
    expect(toDomainError(viaPrisma).code).toBe('INTERNAL');
  });
});
