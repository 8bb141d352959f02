// Configuration: defaults, refusals naming the key, secrets from files, and the APPROVAL_POLICY shape.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactUrl } from '../../src/config/config.js';

describe('configuration', () => {
  it('has defaults that work on a developer machine', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBe('postgresql://postgres@127.0.0.1:5432/osm_onboarding');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.port).toBe(3000);
    expect(c.role).toBe('all');
    expect(c.defaultMeshName).toBe('osm');
    // Pooled Postgres connections outlive a quiet spell (pg's own default closes them after 10 s).
    expect(c.databasePoolIdleMs).toBe(300_000);
    // And connections to an API server outlive one (undici's own default closes them after 4 s).
    expect(c.kube.connectionIdleMs).toBe(60_000);
    // And a client's idle connection to the service outlives a load balancer's (AWS ALB: 60 s).
    expect(c.httpKeepAliveMs).toBe(72_000);
    // Apollo's document and persisted-query caches are 1 MiB each, not Apollo's 30 MiB (graphql/apollo-caches.ts).
    expect(c.graphql.documentCacheKb).toBe(1_024);
    // An API process holds at most 2,000 progress streams, 500 of one caller (events/stream-slots.ts).
    expect(c.progressStreams).toEqual({ maxStreams: 2_000, maxStreamsPerCaller: 500 });
    // A worker that takes no job while jobs wait 30 s is replaced (queue/supervised-worker.ts).
    expect(c.workerStallMs).toBe(30_000);
  });

  it('stops on a bad value with a message naming the key', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ ROLE: 'both' })).toThrow(/ROLE/);
    expect(() => loadConfig({ KUBE_IN_CLUSTER: 'maybe' })).toThrow(/KUBE_IN_CLUSTER/);
    expect(() => loadConfig({ GRAPHQL_DOCUMENT_CACHE_KB: '-1' })).toThrow(/GRAPHQL_DOCUMENT_CACHE_KB/);
    expect(() => loadConfig({ PROGRESS_MAX_STREAMS: '0' })).toThrow(/PROGRESS_MAX_STREAMS/);
    // Whole numbers in decimal digits only: what Number() would also have read is refused (an outside audit).
    for (const v of ['0x10', ' 8 ', '1e1', '8.0', '+8'])
      expect(() => loadConfig({ WORKER_CONCURRENCY: v }), v).toThrow(
        /WORKER_CONCURRENCY: must be a whole number in decimal digits/,
      );
    expect(loadConfig({ WORKER_CONCURRENCY: '16' }).workerConcurrency).toBe(16);
    // REDIS_URL's database is a number for a single server too (it was checked only with Sentinel).
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/abc' })).toThrow(/REDIS_URL: the database/);
  });

  it('names the schemes a URL may have, for a wrong scheme and for no URL at all, never echoing the value', () => {
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(env)}`);
    };
    const cases: [Record<string, string>, string][] = [
      [{ DATABASE_URL: 'mysql://u:pw-secret@h/db' }, 'DATABASE_URL: must be a postgres:// or postgresql:// URL'],
      [{ DATABASE_URL: 'pw-secret' }, 'DATABASE_URL: must be a postgres:// or postgresql:// URL'],
      [{ REDIS_URL: 'http://:pw-secret@h' }, 'REDIS_URL: must be a redis:// or rediss:// URL'],
      [{ PUBLIC_BASE_URL: 'ftp://pw-secret.example' }, 'PUBLIC_BASE_URL: must be an http:// or https:// URL'],
    ];
    for (const [env, expected] of cases) {
      const text = message(env);
      expect(text).toBe(`Invalid configuration: ${expected}`);
      expect(text).not.toContain('pw-secret');
    }
    // Every accepted scheme still is.
    for (const url of ['postgres://h/db', 'postgresql://h/db'])
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    for (const url of ['redis://h:6379', 'rediss://h:6380']) expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
    for (const url of ['http://osm.example', 'https://osm.example/'])
      expect(loadConfig({ PUBLIC_BASE_URL: url }).publicBaseUrl).toBe(url.replace(/\/$/, ''));
  });

  it("keeps a worker's slots across clusters at least one cluster's budget", () => {
    expect(loadConfig({})).toMatchObject({ workerConcurrency: 8, workerMaxConcurrency: 128 });
    const low = loadConfig({ WORKER_CONCURRENCY: '16', WORKER_MAX_CONCURRENCY: '4' });
    expect(low).toMatchObject({ workerConcurrency: 16, workerMaxConcurrency: 16 });
    expect(() => loadConfig({ WORKER_MAX_CONCURRENCY: '0' })).toThrow(/WORKER_MAX_CONCURRENCY/);
  });

  it('requires an issuer and an audience with OIDC, naming the missing key', () => {
    const jwks = { AUTH_JWKS_URL: 'https://login.example.test/jwks.json' };
    expect(() => loadConfig(jwks)).toThrow(/AUTH_JWT_ISSUER: is required when AUTH_JWKS_URL is set/);
    expect(() => loadConfig(jwks)).toThrow(/AUTH_JWT_AUDIENCE: is required/);
    expect(() => loadConfig({ ...jwks, AUTH_JWT_ISSUER: 'https://login.example.test' })).toThrow(/AUTH_JWT_AUDIENCE/);
    expect(() => loadConfig({ ...jwks, AUTH_JWT_AUDIENCE: 'osm-onboarding' })).toThrow(/AUTH_JWT_ISSUER/);
    const both = { AUTH_JWT_ISSUER: 'https://login.example.test', AUTH_JWT_AUDIENCE: 'osm-onboarding' };
    const c = loadConfig({ ...jwks, ...both });
    expect(c.auth.jwt).toMatchObject({ issuer: 'https://login.example.test', audience: 'osm-onboarding' });
  });

  it('turns GraphiQL and introspection off in production unless asked for, and checks TRUST_PROXY', () => {
    expect(loadConfig({}).graphql).toMatchObject({ introspection: true, graphiql: true });
    expect(loadConfig({ NODE_ENV: 'production' }).graphql).toMatchObject({ introspection: false, graphiql: false });
    const on = loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true', GRAPHIQL: 'true' });
    expect(on.graphql).toMatchObject({ introspection: true, graphiql: true });
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).auth.trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(() => loadConfig({ TRUST_PROXY: 'the-load-balancer' })).toThrow(/TRUST_PROXY/);
  });

  it('reads the admin token from OSM_ONBOARDING_ADMIN_TOKEN_FILE when the variable is unset', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'admin-token');
    writeFileSync(file, 'osmo-admin-from-a-file-0123456789\n');
    const fromFile = loadConfig({ OSM_ONBOARDING_ADMIN_TOKEN_FILE: file }).auth.adminToken;
    expect(fromFile).toBe('osmo-admin-from-a-file-0123456789');
    const both = { OSM_ONBOARDING_ADMIN_TOKEN: 'from-the-environment-0123', OSM_ONBOARDING_ADMIN_TOKEN_FILE: file };
    expect(loadConfig(both).auth.adminToken).toBe('from-the-environment-0123');
    expect(() => loadConfig({ OSM_ONBOARDING_ADMIN_TOKEN_FILE: `${file}.missing` })).toThrow(
      /OSM_ONBOARDING_ADMIN_TOKEN_FILE: cannot read .*admin-token\.missing/,
    );
    writeFileSync(file, 'short\n');
    expect(() => loadConfig({ OSM_ONBOARDING_ADMIN_TOKEN_FILE: file })).toThrow(
      /OSM_ONBOARDING_ADMIN_TOKEN: must be at least 16/,
    );
  });

  it('names every write with K8S_FIELD_MANAGER (default osm-onboarding), refusing what the API server would', () => {
    expect(loadConfig({}).kube.fieldManager).toBe('osm-onboarding');
    expect(loadConfig({ K8S_FIELD_MANAGER: 'team-portal/osm' }).kube.fieldManager).toBe('team-portal/osm');
    expect(() => loadConfig({ K8S_FIELD_MANAGER: 'x'.repeat(129) })).toThrow(/K8S_FIELD_MANAGER: must be at most 128/);
    // Bytes, as the API server counts: 100 characters of two bytes each is 200.
    expect(loadConfig({ K8S_FIELD_MANAGER: 'é'.repeat(64) }).kube.fieldManager).toBe('é'.repeat(64));
    expect(() => loadConfig({ K8S_FIELD_MANAGER: 'é'.repeat(65) })).toThrow(
      /K8S_FIELD_MANAGER: must be at most 128 bytes/,
    );
    expect(() => loadConfig({ K8S_FIELD_MANAGER: 'tab\there' })).toThrow(/K8S_FIELD_MANAGER: must be printable/);
  });

  it('reads the drift scan and request-time check settings, refusing bad ones by name', () => {
    const c = loadConfig({});
    expect(c.driftScan).toEqual({ intervalMs: 300_000, batchSize: 100 });
    expect(c.precheck).toEqual({ timeoutMs: 1_500, cacheMs: 5_000, informer: true });
    expect(loadConfig({ PRECHECK_INFORMER: 'false' }).precheck.informer).toBe(false);
    expect(() => loadConfig({ PRECHECK_INFORMER: 'maybe' })).toThrow(/PRECHECK_INFORMER/);
    expect(loadConfig({ DRIFT_SCAN_INTERVAL_MS: '0', PRECHECK_TIMEOUT_MS: '0' })).toMatchObject({
      driftScan: { intervalMs: 0 },
      precheck: { timeoutMs: 0 },
    });
    expect(() => loadConfig({ DRIFT_SCAN_BATCH_SIZE: '0' })).toThrow(/DRIFT_SCAN_BATCH_SIZE/);
    expect(() => loadConfig({ PRECHECK_TIMEOUT_MS: 'soon' })).toThrow(/PRECHECK_TIMEOUT_MS/);
  });

  it('masks passwords when showing URLs', () => {
    expect(redactUrl('postgresql://app:s3cret@db:5432/x')).toBe('postgresql://app:***@db:5432/x');
    expect(redactUrl('postgresql://app:s3cret@db:5432/x')).not.toContain('s3cret');
  });
});

describe('approval policy configuration', () => {
  it('parses rules and refuses bad JSON or shapes, naming APPROVAL_POLICY', () => {
    const c = loadConfig({ APPROVAL_POLICY: '{"rules":[{"name":"prod","clusters":["prod*"],"approvals":2}]}' });
    expect(c.approvalPolicy.rules[0]).toMatchObject({
      name: 'prod',
      clusters: ['prod*'],
      namespaces: ['*'],
      when: ['always'],
      approvals: 2,
    });
    expect(() => loadConfig({ APPROVAL_POLICY: '{rules' })).toThrow(/APPROVAL_POLICY/);
    expect(() => loadConfig({ APPROVAL_POLICY: '{"rules":[{"name":"x","when":["sometimes"]}]}' })).toThrow(
      /APPROVAL_POLICY/,
    );
  });
});
