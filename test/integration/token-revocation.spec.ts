import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { http, stackEnv, startApi } from '../support/harness.js';

// API-token lookups are cached for 10 s on each instance; a revocation on one instance must take
// effect on every other one at once, not when their cache entries expire.
describe('token revocation across API instances', () => {
  let emulator: Emulator;
  let a: { app: INestApplication; url: string };
  let b: { app: INestApplication; url: string };

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = await stackEnv(emulator, { ROLE: 'api' });
    a = await startApi(env);
    b = await startApi(env);
  });
  afterAll(async () => {
    await Promise.all([a?.app.close(), b?.app.close()]);
    await emulator?.close();
  });

  it('a token revoked on instance A is refused by instance B immediately, although B had it cached', async () => {
    const created = await http(a.url, 'POST', '/v1/tokens', {
      name: `revoke-${Date.now()}`,
      roles: ['viewer'],
      scopes: ['*/*'],
    });
    expect(created.status).toBe(201);
    const as = { authorization: `Bearer ${created.body.token}` };
    // B authenticates it (and caches the lookup for 10 s).
    expect((await http(b.url, 'GET', '/v1/onboardings?limit=1', undefined, as)).status).toBe(200);
    expect((await http(b.url, 'GET', '/v1/onboardings?limit=1', undefined, as)).status).toBe(200);

    const revoked = await http(a.url, 'DELETE', `/v1/tokens/${created.body.record.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();

    // Well within the 10 s cache lifetime: B refuses it (the message may take a few milliseconds).
    const t0 = Date.now();
    let status = 200;
    while (Date.now() - t0 < 2000) {
      status = (await http(b.url, 'GET', '/v1/onboardings?limit=1', undefined, as)).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await http(a.url, 'GET', '/v1/onboardings?limit=1', undefined, as)).status).toBe(401);
  });
});
