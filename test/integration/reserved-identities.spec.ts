// Identities that cannot be taken (issue 10, item 5): token names that would share a built-in actor id are
// refused, and a stored token with such a name (made before names were reserved) does not act as admin.
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { gql, http, startStack, Stack } from '../support/harness.js';

describe('reserved identities', () => {
  let s: Stack;
  let db: pg.Client;

  beforeAll(async () => {
    s = await startStack({ env: { ROLE: 'api' } });
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await s?.close();
  });

  it('refuses token names that would share a built-in actor id (422 TOKEN_NAME_RESERVED)', async () => {
    for (const name of [
      'bootstrap-admin',
      'Bootstrap-Admin',
      'anonymous',
      'system',
      'system-worker',
      'SYSTEM.sweeper',
    ]) {
      const r = await http(s.url, 'POST', '/v1/tokens', { name, roles: ['viewer'] });
      expect(r.status, name).toBe(422);
      expect(r.body.error).toMatchObject({ code: 'TOKEN_NAME_RESERVED', fields: [{ field: 'name' }] });
      const g = await gql(s.url, 'mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }', {
        i: { name, roles: ['viewer'] },
      });
      expect(g.errors[0].extensions.code).toBe('TOKEN_NAME_RESERVED');
    }
    expect(
      (await http(s.url, 'GET', '/v1/tokens')).body.items.filter((t: any) =>
        /^(bootstrap-admin|anonymous|system)/i.test(t.name),
      ),
    ).toEqual([]);
  });

  it('does not let a stored token named bootstrap-admin (made before names were reserved) act as admin', async () => {
    const secret = `osmo_${randomBytes(32).toString('base64url')}`;
    await db.query(
      `INSERT INTO api_token (id, name, token_hash, prefix, roles, scopes, created_by)
       VALUES (gen_random_uuid(), 'bootstrap-admin', $1, $2, '{admin}', '{*/*}', 'token:bootstrap-admin')
       ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash, revoked_at = NULL`,
      [createHash('sha256').update(secret).digest('hex'), secret.slice(0, 12)],
    );
    const r = await http(s.url, 'GET', '/v1/webhooks', undefined, { authorization: `Bearer ${secret}` });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
  });
});
