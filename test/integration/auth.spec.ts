import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectProgress,
  gql,
  http,
  startStack,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
} from '../support/harness.js';
import { createNamespace, writesTo } from '../support/kube.js';

type Role = 'viewer' | 'requester' | 'approver' | 'admin';
const ROLES: Role[] = ['viewer', 'requester', 'approver', 'admin'];

describe('authentication and authorisation (REST, GraphQL, subscription handshake)', () => {
  let s: Stack;
  const tokens = {} as Record<Role, string>;
  const inNs = uniqueName('auth-in');
  const outNs = uniqueName('auth-out');
  const done = {} as Record<'in' | 'out', string>;

  beforeAll(async () => {
    s = await startStack();
    for (const role of ROLES) {
      const r = await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName(role),
        roles: [role],
        scopes: ['emulator/auth-in-*'],
      });
      expect(r.status).toBe(201);
      expect(r.body.token).toMatch(/^osmo_/);
      tokens[role] = r.body.token;
    }
    for (const [k, ns] of [
      ['in', inNs],
      ['out', outNs],
    ] as const) {
      await createNamespace(s.emulator, ns);
      const r = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
      done[k] = r.body.id;
      await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    }
  });
  afterAll(() => s.close());

  const as = (role: Role) => ({ authorization: `Bearer ${tokens[role]}` });

  /** The operations on a stored request named by its id (the others name their target themselves). */
  const BY_ID = new Set(['get', 'audit', 'events', 'retry', 'cancel', 'approve', 'reject', 'graphql get']);

  // Every operation, in and out of scope; `allowed` lists the roles that may do it.
  const operations: {
    name: string;
    allowed: Role[];
    call: (ns: string, id: string, role: Role) => Promise<{ status: number; body?: unknown }>;
  }[] = [
    {
      name: 'plan',
      allowed: ['requester', 'admin'],
      call: (ns, _id, role) => http(s.url, 'POST', '/v1/onboardings/plan', { namespace: ns }, as(role)),
    },
    {
      name: 'onboard',
      allowed: ['requester', 'admin'],
      call: (ns, _id, role) =>
        http(s.url, 'POST', '/v1/onboardings', { namespace: ns, sidecarInjection: 'disabled' }, as(role)),
    },
    {
      name: 'offboard',
      allowed: ['requester', 'admin'],
      call: (ns, _id, role) => http(s.url, 'POST', '/v1/offboardings', { namespace: ns }, as(role)),
    },
    {
      name: 'get',
      allowed: ['viewer', 'requester', 'approver', 'admin'],
      call: (_ns, id, role) => http(s.url, 'GET', `/v1/onboardings/${id}`, undefined, as(role)),
    },
    {
      name: 'audit',
      allowed: ['viewer', 'requester', 'approver', 'admin'],
      call: (_ns, id, role) => http(s.url, 'GET', `/v1/onboardings/${id}/audit`, undefined, as(role)),
    },
    {
      name: 'events',
      allowed: ['viewer', 'requester', 'approver', 'admin'],
      call: (_ns, id, role) => http(s.url, 'GET', `/v1/onboardings/${id}/events`, undefined, as(role)),
    },
    {
      name: 'retry',
      allowed: ['requester', 'admin'],
      call: (_ns, id, role) => http(s.url, 'POST', `/v1/onboardings/${id}/retry`, undefined, as(role)),
    },
    {
      name: 'cancel',
      allowed: ['requester', 'admin'],
      call: (_ns, id, role) => http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, {}, as(role)),
    },
    {
      name: 'approve',
      allowed: ['approver', 'admin'],
      call: (_ns, id, role) => http(s.url, 'POST', `/v1/onboardings/${id}/approve`, {}, as(role)),
    },
    {
      name: 'reject',
      allowed: ['approver', 'admin'],
      call: (_ns, id, role) => http(s.url, 'POST', `/v1/onboardings/${id}/reject`, { reason: 'no' }, as(role)),
    },
    {
      name: 'batch',
      allowed: ['requester', 'admin'],
      call: (ns, _id, role) =>
        http(s.url, 'POST', '/v1/batches', { kind: 'OFFBOARD', targets: [{ namespace: ns }] }, as(role)),
    },
    {
      name: 'audit export',
      allowed: ['viewer', 'requester', 'approver', 'admin'],
      call: async (_ns, id, role) => {
        const r = await http(s.url, 'GET', `/v1/audit?requestId=${id}&format=jsonl`, undefined, as(role));
        // Out of scope is not an error for an export: it is filtered to nothing.
        const empty = r.body === undefined || String(r.body).trim() === '';
        return { status: r.status === 200 && empty && role !== 'admin' ? 403 : r.status };
      },
    },
    {
      name: 'tokens',
      allowed: ['admin'],
      call: (_ns, _id, role) => http(s.url, 'GET', '/v1/tokens', undefined, as(role)),
    },
    {
      name: 'graphql get',
      allowed: ['viewer', 'requester', 'approver', 'admin'],
      call: async (_ns, id, role) => {
        const r = await gql(s.url, `query($id: ID!) { onboardingRequest(id: $id) { id } }`, { id }, as(role));
        const code = r.errors?.[0].extensions.code;
        const status = !r.errors ? 200 : code === 'FORBIDDEN' ? 403 : code === 'REQUEST_NOT_FOUND' ? 404 : 500;
        return { status, body: r.errors?.[0] && { code, message: r.errors[0].message } };
      },
    },
    {
      name: 'graphql onboard',
      allowed: ['requester', 'admin'],
      call: async (ns, _id, role) => {
        const r = await gql(
          s.url,
          `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`,
          { i: { namespace: ns, sidecarInjection: 'disabled' } },
          as(role),
        );
        return {
          status: r.errors
            ? r.errors[0].extensions.code === 'FORBIDDEN'
              ? 403
              : r.errors[0].extensions.code === 'REQUEST_CONFLICT'
                ? 409
                : 500
            : 200,
        };
      },
    },
  ];

  for (const op of operations) {
    for (const role of ROLES) {
      for (const where of ['in', 'out'] as const) {
        const expected = op.allowed.includes(role) && (where === 'in' || role === 'admin');
        // A request the caller may not see is refused as an unknown id: nothing confirms that it exists.
        const hidden = !expected && op.allowed.includes(role) && BY_ID.has(op.name);
        it(`${op.name} as ${role}, ${where} of scope → ${expected ? 'allowed' : hidden ? '404' : '403'}`, async () => {
          const ns = where === 'in' ? inNs : outNs;
          const writes = writesTo(s.emulator);
          const rows = (await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&limit=200`)).body.items.length;
          const r = await op.call(ns, done[where], role);
          if (expected) {
            expect(r.status).not.toBe(401);
            expect(r.status).not.toBe(403);
            expect(r.status).toBeLessThan(500);
          } else if (hidden) {
            const unknown = randomUUID();
            const other = await op.call(ns, unknown, role);
            expect([r.status, other.status]).toEqual([404, 404]);
            const shown = (x: unknown, id: string) => JSON.stringify(x).replaceAll(id, '<id>');
            expect(shown(r.body, done[where])).toBe(shown(other.body, unknown));
            expect(writesTo(s.emulator)).toBe(writes);
          } else {
            expect(r.status).toBe(403);
            // A request named by its id alone: the refusal says nothing of its target (cluster, namespace).
            if (BY_ID.has(op.name)) expect(JSON.stringify(r.body)).not.toContain(ns);
            // Refused before anything was stored, enqueued or written to the cluster.
            expect(writesTo(s.emulator)).toBe(writes);
            expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&limit=200`)).body.items.length).toBe(
              rows,
            );
          }
          // Let an accepted request finish so the next case starts from a quiet namespace.
          const active = (await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&status=QUEUED`)).body.items.concat(
            (await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&status=RUNNING`)).body.items,
          );
          for (const a of active) await waitForStatus(s.url, a.id, ['SUCCEEDED', 'FAILED', 'CANCELLED']);
        });
      }
    }
  }

  it('answers 401 without credentials or with a bad token, REST and GraphQL alike', async () => {
    for (const auth of ['', 'Bearer nope', 'Basic dXNlcjpwYXNz', `Bearer ${tokens.admin}x`]) {
      const r = await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: auth });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('UNAUTHENTICATED');
      const g = await gql(s.url, `{ onboardingRequests { edges { cursor } } }`, {}, { authorization: auth });
      expect(g.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    expect((await http(s.url, 'GET', '/healthz', undefined, { authorization: '' })).status).toBe(200);
    expect((await http(s.url, 'GET', '/metrics', undefined, { authorization: '' })).status).toBe(200);
  });

  it('challenges every 401 with WWW-Authenticate: Bearer (RFC 6750): REST, SSE and GraphQL over HTTP', async () => {
    const plain = 'Bearer realm="osm-onboarding"';
    const refused = 'Bearer realm="osm-onboarding", error="invalid_token"';
    const events = `/v1/onboardings/${done.in}/events`;
    const graphql = { query: '{ onboardingRequests { edges { cursor } } }' };
    // No credential (or another scheme): no error named; a bearer token that was refused: invalid_token.
    for (const [auth, challenge] of [
      ['', plain],
      ['Basic dXNlcjpwYXNz', plain],
      ['Bearer nope', refused],
      [`Bearer ${tokens.admin}x`, refused],
    ]) {
      for (const [method, path, body] of [
        ['GET', '/v1/onboardings', undefined],
        ['GET', events, undefined],
        ['POST', '/graphql', graphql],
      ] as const) {
        const r = await http(s.url, method, path, body, { authorization: auth });
        expect([r.status, r.headers.get('www-authenticate')], `${method} ${path} with "${auth}"`).toEqual([
          401,
          challenge,
        ]);
        // The body is the usual coded error.
        const code = path === '/graphql' ? r.body.errors[0].extensions.code : r.body.error.code;
        expect(code).toBe('UNAUTHENTICATED');
      }
    }
    // Refusals that are not about the credential carry no challenge.
    const forbidden = await http(s.url, 'POST', '/v1/tokens', { name: 'x' }, as('viewer'));
    expect([forbidden.status, forbidden.headers.get('www-authenticate')]).toEqual([403, null]);
  });

  it("lists only requests inside the caller's scopes", async () => {
    const mine = await http(s.url, 'GET', '/v1/onboardings?limit=200', undefined, as('viewer'));
    const namespaces = new Set(mine.body.items.map((r: any) => r.namespace));
    expect(namespaces.has(inNs)).toBe(true);
    expect([...namespaces].every((n) => String(n).startsWith('auth-in-'))).toBe(true);
  });

  it('lists by the scopes as a direct read checks them: none, LIKE wildcards, a `*` in the middle', async () => {
    const viewer = async (scopes: string[]) => {
      const r = await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('lister'), roles: ['viewer'], scopes });
      expect(r.status).toBe(201);
      return { authorization: `Bearer ${r.body.token}` };
    };
    const listed = async (auth: Record<string, string>, limit = 200) => {
      const namespaces: string[] = [];
      let after = '';
      for (;;) {
        const r = await http(s.url, 'GET', `/v1/onboardings?limit=${limit}${after}`, undefined, auth);
        expect(r.status).toBe(200);
        namespaces.push(...r.body.items.map((i: { namespace: string }) => i.namespace));
        if (!r.body.pageInfo.hasNextPage) break;
        after = `&after=${r.body.pageInfo.endCursor}`;
      }
      const g = await gql(s.url, `{ onboardingRequests(first: 200) { edges { node { namespace } } } }`, {}, auth);
      expect(g.data.onboardingRequests.edges.map((e: any) => e.node.namespace)).toEqual(namespaces.slice(0, 200));
      return namespaces;
    };
    // Prisma reads an empty OR as no condition: a token without scopes saw every request.
    expect(await listed(await viewer([]))).toEqual([]);
    // `_` and `%` are LIKE wildcards; in a scope they are literal characters. A namespace glob cannot hold them (no
    // namespace can), a cluster glob can (a kubeconfig context may).
    for (const scopes of [['emulator/auth_in-*'], ['*/%']]) {
      const r = await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('lister'), roles: ['viewer'], scopes });
      expect([r.status, r.body.error.fields[0].field]).toEqual([422, 'scopes.0']);
    }
    expect(await listed(await viewer(['emul_tor/*', 'emulato%/*', '%/*']))).toEqual([]);
    // A `*` in the middle: the direct read allows it, so the list shows it (page by page too), and nothing else.
    const middle = await viewer(['emulator/auth*in-*']);
    expect((await http(s.url, 'GET', `/v1/onboardings/${done.in}`, undefined, middle)).status).toBe(200);
    const seen = await listed(middle, 1);
    expect(seen).toContain(inNs);
    expect(seen.every((n) => /^auth.*in-/.test(n))).toBe(true);
    // Both parts are in every auth-in-* namespace, in the other order: the query's superset, which each row's own
    // check must narrow to nothing.
    expect(await listed(await viewer(['emulator/*in*auth*']))).toEqual([]);
  });

  it("bounds one list call's reading when its scopes' query is a wide superset: a short page, a cursor", async () => {
    // 2,100 requests that the query for `*in*auth*` (contains "in" and "auth") reads and the exact check drops.
    const db = new pg.Client({ connectionString: s.config.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `INSERT INTO onboarding_request
         SELECT (jsonb_populate_record(r, jsonb_build_object('id', gen_random_uuid(),
                 'namespace', 'zauth-zin-all', 'status', 'PLANNED', 'finished_at', null,
                 'created_at', r.created_at + g * interval '1 ms'))).*
           FROM onboarding_request r, generate_series(1, 2100) g WHERE r.id = $1::uuid`,
        [done.in],
      );
    } finally {
      await db.end();
    }
    const r = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('wide'),
      roles: ['viewer'],
      scopes: ['emulator/*in*auth*'],
    });
    const auth = { authorization: `Bearer ${r.body.token}` };
    let pages = 0;
    let after = '';
    const held: string[] = [];
    for (;;) {
      const page = await http(s.url, 'GET', `/v1/onboardings?limit=1${after}`, undefined, auth);
      expect(page.status).toBe(200);
      expect(page.body.items).toEqual([]);
      pages++;
      if (!page.body.pageInfo.hasNextPage) break;
      // The position after the last row read (a request it may not see) is held by the API, not shown: a token.
      const cursor: string = page.body.pageInfo.endCursor;
      expect(cursor).toMatch(/^r1\.[A-Za-z0-9_-]{22}$/);
      held.push(cursor);
      after = `&after=${cursor}`;
    }
    // At most 2,000 rows a call: the 2,100 (and the file's others) take two calls or three, never one.
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(pages).toBeLessThanOrEqual(3);
    // Good for the caller it was given to only.
    const other = await http(s.url, 'GET', `/v1/onboardings?limit=1&after=${held[0]}`, undefined, as('viewer'));
    expect([other.status, other.body.error?.fields?.[0]?.field]).toEqual([422, 'after']);

    // A plain cursor must name a request the caller may see, at its creation time: a forged one (any time, any id)
    // would let it bisect to the position of a row it may not see, by whether the page ends short.
    const cursor = (at: { createdAt: string; id: string }) => Buffer.from(JSON.stringify(at)).toString('base64url');
    const outside = (await http(s.url, 'GET', `/v1/onboardings/${done.out}`)).body;
    const inside = (await http(s.url, 'GET', `/v1/onboardings/${done.in}`)).body;
    const forged = [
      cursor({ createdAt: outside.createdAt, id: outside.id }),
      cursor({ createdAt: '2030-01-01T00:00:00.000Z', id: randomUUID() }),
      cursor({ createdAt: '2030-01-01T00:00:00.000Z', id: inside.id }),
    ];
    for (const after of forged) {
      for (const token of [r.body.token, tokens.viewer]) {
        const page = await http(s.url, 'GET', `/v1/onboardings?limit=1&after=${after}`, undefined, {
          authorization: `Bearer ${token}`,
        });
        expect([page.status, page.body.error?.fields?.[0]?.field]).toEqual([422, 'after']);
      }
    }
    // A namespace filter none of its scopes can match is answered at once: the 2,100 hidden rows of that namespace
    // are not scanned, so neither a short page (an r1 cursor) nor the time tells how many requests it holds.
    const named = await http(s.url, 'GET', '/v1/onboardings?limit=1&namespace=zauth-zin-all', undefined, auth);
    expect([named.status, named.body.items, named.body.pageInfo]).toEqual([
      200,
      [],
      { hasNextPage: false, endCursor: null },
    ]);
    // One of its own requests, as a page gave it: accepted; an admin's cursor is not checked (it sees every row).
    const own = cursor({ createdAt: inside.createdAt, id: inside.id });
    expect((await http(s.url, 'GET', `/v1/onboardings?limit=1&after=${own}`, undefined, as('viewer'))).status).toBe(
      200,
    );
    expect((await http(s.url, 'GET', `/v1/onboardings?limit=1&after=${forged[0]}`)).status).toBe(200);
  });

  it('takes requestedBy and the audit actor from the token, never from the body', async () => {
    const ns = uniqueName('auth-in');
    await createNamespace(s.emulator, ns);
    const spoof = await http(
      s.url,
      'POST',
      '/v1/offboardings',
      { namespace: ns, requestedBy: 'mallory' },
      as('requester'),
    );
    expect(spoof.status).toBe(422);
    expect(spoof.body.error.fields).toEqual([{ field: 'requestedBy', message: 'unknown field' }]);
    const r = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns }, as('requester'));
    expect(r.body.request.requestedBy).toMatch(/^token:requester-/);
    await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    const audit = await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`, undefined, as('viewer'));
    expect(audit.body.items[0].actor).toBe(r.body.request.requestedBy);
  });

  it('checks the subscription handshake: no token, no stream', async () => {
    const denied = await collectProgress(wsClient(s.url, null), done.in);
    expect(denied.events).toEqual([]);
    expect(denied.error).toBeDefined();
    const outOfScope = await collectProgress(wsClient(s.url, tokens.viewer), done.out);
    expect(outOfScope.events).toEqual([]);
    expect(JSON.stringify(outOfScope.error)).toContain('REQUEST_NOT_FOUND');
    const ok = await collectProgress(wsClient(s.url, tokens.viewer), done.in);
    expect(ok.events.at(-1).type).toBe('request.succeeded');
  });

  it('lets admins create, list and revoke tokens; secrets are shown once and never stored or logged', async () => {
    const created = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('bot'),
      roles: ['requester'],
      scopes: ['emulator/team-*'],
    });
    const secret = created.body.token;
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${secret}` })).status).toBe(
      200,
    );
    const list = await http(s.url, 'GET', '/v1/tokens');
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.items.find((t: any) => t.id === created.body.record.id)).toMatchObject({
      roles: ['requester'],
      revokedAt: null,
    });
    const revoked = await http(s.url, 'DELETE', `/v1/tokens/${created.body.record.id}`);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${secret}` })).status).toBe(
      401,
    );
    expect((await http(s.url, 'POST', '/v1/tokens', { name: 'x', roles: ['admin'] }, as('requester'))).status).toBe(
      403,
    );
    const bad = await http(s.url, 'POST', '/v1/tokens', { name: 'y', roles: ['root'], scopes: ['no-slash'] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields.map((f: any) => f.field).sort()).toEqual(['roles.0', 'scopes.0']);
  });
});
