// A retry resumes at the first unfinished step, trusting the finished ones to hold. Once another request for the
// namespace has run since (here an offboarding that took the mesh label away), they may not: an outside audit saw
// such a retry resume at `verify` and end SUCCEEDED with the namespace out of the mesh. It is refused instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { namespaceMeta } from '../support/kube.js';

describe('retrying a request after another request for its namespace ran', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { STEP_MAX_ATTEMPTS: '1' } });
  });
  afterAll(() => s?.close());

  /** An onboarding that labels the namespace, then fails (its restart refused once). */
  async function failedOnboarding(ns: string, seed = true) {
    if (seed) {
      seedAppNamespace(s.emulator.store, ns);
      await s.emulator.idle();
    }
    s.emulator.faults.add({ verb: 'patch', resource: 'deployments', namespace: ns, status: 403, times: 1 });
    const accepted = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, restart: { mode: 'all' } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const failed = await waitForStatus(s.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'KUBE_FORBIDDEN' });
    expect((await namespaceMeta(s.emulator, ns)).labels?.['openservicemesh.io/monitored-by']).toBe('osm');
    return accepted.body.id as string;
  }

  it('is refused (409 REQUEST_NOT_RETRYABLE naming the request that ran), on REST and GraphQL', async () => {
    const ns = uniqueName('superseded');
    const id = await failedOnboarding(ns);
    const off = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
    const gone = await waitForStatus(s.url, off.body.id, ['SUCCEEDED', 'FAILED']);
    expect(gone.status).toBe('SUCCEEDED');

    const r = await http(s.url, 'POST', `/v1/onboardings/${id}/retry`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error).toMatchObject({
      code: 'REQUEST_NOT_RETRYABLE',
      fields: [{ field: 'id' }],
      details: { status: 'FAILED', supersededBy: off.body.id },
    });
    const g = await gql(s.url, 'mutation($id: ID!) { retryOnboardingRequest(id: $id) { id } }', { id });
    expect(g.errors?.[0]?.extensions, JSON.stringify(g)).toMatchObject({ code: 'REQUEST_NOT_RETRYABLE' });
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body.status).toBe('FAILED');
    expect((await namespaceMeta(s.emulator, ns)).labels?.['openservicemesh.io/monitored-by']).toBeUndefined();
  });

  it('is refused after a dry run made earlier ran since (applied after this request failed)', async () => {
    const ns = uniqueName('dry-later');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const dry = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns, dryRun: true });
    expect(dry.body.status).toBe('PLANNED');
    const id = await failedOnboarding(ns, false);
    const applied = await http(s.url, 'POST', `/v1/onboardings/${dry.body.id}/apply`, {});
    expect(applied.status, JSON.stringify(applied.body)).toBe(202);
    expect((await waitForStatus(s.url, dry.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    const r = await http(s.url, 'POST', `/v1/onboardings/${id}/retry`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.details).toMatchObject({ supersededBy: dry.body.id });
  });

  it('lets a request that never ran go back to its start, whatever ran since', async () => {
    const ns = uniqueName('never-ran');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const dry = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    await http(s.url, 'POST', `/v1/onboardings/${dry.body.id}/cancel`, {});
    const other = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect((await waitForStatus(s.url, other.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
    const r = await http(s.url, 'POST', `/v1/onboardings/${dry.body.id}/retry`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.status).toBe('PLANNED');
  });

  it('still resumes when nothing ran for the namespace since', async () => {
    const id = await failedOnboarding(uniqueName('resumable'));
    const r = await http(s.url, 'POST', `/v1/onboardings/${id}/retry`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(await waitForStatus(s.url, id, ['SUCCEEDED', 'FAILED'])).toMatchObject({ status: 'SUCCEEDED' });
  });
});
