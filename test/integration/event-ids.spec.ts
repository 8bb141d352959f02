// An audit event's id tells nothing of other requests (docs/governance.md): a request's event is shown as
// `<requestId>:<cursor>` on every path (audit page REST and GraphQL, progress over SSE, the audit export), never as
// the table's global id, whose gaps would count everyone else's events. Only events of no request (token and
// webhook events, which admins alone see) keep the global id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, readSse, startStack, uniqueName, waitForStatus, type Stack } from '../support/harness.js';

describe('audit event ids', () => {
  let s: Stack;
  let viewer: { authorization: string };
  const ns = uniqueName('evid');
  let mine: string;

  beforeAll(async () => {
    s = await startStack();
    seedAppNamespace(s.emulator.store, ns, { deployments: 1 });
    for (const other of [uniqueName('evother'), uniqueName('evother')]) {
      seedAppNamespace(s.emulator.store, other, { deployments: 1 });
    }
    await s.emulator.idle();
    const token = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('evviewer'),
      roles: ['viewer'],
      scopes: [`emulator/${ns}`],
    });
    viewer = { authorization: `Bearer ${token.body.token}` };
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'all' } });
    mine = r.body.id;
    // Another namespace's onboarding runs meanwhile: its events take global ids between this request's.
    const other = await http(s.url, 'POST', '/v1/onboardings', { namespace: uniqueName('evnone'), dryRun: true });
    expect([202, 422]).toContain(other.status);
    expect((await waitForStatus(s.url, mine, ['SUCCEEDED', 'FAILED'], 30_000)).status).toBe('SUCCEEDED');
  });
  afterAll(() => s?.close());

  it('is `<requestId>:<cursor>` for a request event on every path, to a scoped caller and an admin', async () => {
    const expected = (items: { cursor: number }[]) => items.map((e) => `${mine}:${e.cursor}`);
    for (const auth of [viewer, {}]) {
      const page = await http(s.url, 'GET', `/v1/onboardings/${mine}/audit?limit=100`, undefined, auth);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeGreaterThan(3);
      expect(page.body.items.map((e: { id: string }) => e.id)).toEqual(expected(page.body.items));

      const sse = await readSse(s.url, `/v1/onboardings/${mine}/events`, auth);
      expect(sse.events.map((e) => e.data.id)).toEqual(expected(sse.events.map((e) => e.data)));

      const g = await gql(
        s.url,
        'query($id: ID!) { auditEvents(requestId: $id, first: 100) { id cursor } }',
        { id: mine },
        auth,
      );
      expect(g.errors).toBeUndefined();
      const nodes: { id: string; cursor: number }[] = g.data.auditEvents;
      expect(nodes.map((n) => n.id)).toEqual(expected(nodes));

      const exported = await http(s.url, 'GET', `/v1/audit?requestId=${mine}`, undefined, auth);
      const rows = (exported.body as string)
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      expect(rows.length).toBe(page.body.items.length);
      expect(rows.map((r) => r.id)).toEqual(expected(rows));
    }
  });

  it('keeps the global id for an event of no request (admins only)', async () => {
    const name = uniqueName('evtoken');
    await http(s.url, 'POST', '/v1/tokens', { name, roles: ['viewer'], scopes: ['emulator/x'] });
    const exported = await http(s.url, 'GET', `/v1/audit?action=token.created`);
    const row = (exported.body as string)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((r) => r.data?.name === name);
    expect(row).toMatchObject({ id: expect.stringMatching(/^[1-9][0-9]*$/), requestId: null });
    const theirs = await http(s.url, 'GET', `/v1/audit?action=token.created`, undefined, viewer);
    expect([theirs.status, theirs.body ?? '']).toEqual([200, '']);
  });
});
