import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/common/domain-error.js';
import { ConfigError, loadConfig, redactUrl } from '../../src/config/config.js';
import { OffboardingInputSchema, OnboardingInputSchema, parseInput } from '../../src/onboarding/onboarding.input.js';

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

  it.each([['Team-A'], ['-a'], ['a-'], ['a_b'], ['a'.repeat(64)], ['']])('refuses namespace %j, naming the field', (namespace) => {
    const fields = fieldsOf(() => parseInput(OnboardingInputSchema, { namespace }));
    expect(fields.map((f) => f.field)).toEqual(['namespace']);
  });

  it('names unknown fields and wrong types', () => {
    const fields = fieldsOf(() => parseInput(OnboardingInputSchema, { namespace: 'ok', sidecarInjection: 'sometimes', extra: 1, cluster: 5 }));
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

describe('configuration', () => {
  it('has defaults that work on a developer machine', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBe('postgresql://postgres@127.0.0.1:5432/osm_onboarding');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.port).toBe(3000);
    expect(c.role).toBe('all');
    expect(c.defaultMeshName).toBe('osm');
  });

  it('stops on a bad value with a message naming the key', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ ROLE: 'both' })).toThrow(/ROLE/);
    expect(() => loadConfig({ KUBE_IN_CLUSTER: 'maybe' })).toThrow(/KUBE_IN_CLUSTER/);
  });

  it('reads the drift scan and request-time check settings, refusing bad ones by name', () => {
    const c = loadConfig({});
    expect(c.driftScan).toEqual({ intervalMs: 300_000, batchSize: 100 });
    expect(c.precheck).toEqual({ timeoutMs: 1_500, cacheMs: 5_000 });
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
    expect(c.approvalPolicy.rules[0]).toMatchObject({ name: 'prod', clusters: ['prod*'], namespaces: ['*'], when: ['always'], approvals: 2 });
    expect(() => loadConfig({ APPROVAL_POLICY: '{rules' })).toThrow(/APPROVAL_POLICY/);
    expect(() => loadConfig({ APPROVAL_POLICY: '{"rules":[{"name":"x","when":["sometimes"]}]}' })).toThrow(/APPROVAL_POLICY/);
  });
});
