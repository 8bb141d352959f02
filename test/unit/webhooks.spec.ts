// Webhooks without a network: secrets sealed at rest and signatures, which targets are refused, event type
// patterns and the one-line summaries.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, signWebhook, generateWebhookSecret } from '../../src/webhooks/webhook-crypto.js';
import { isInternalAddress, targetProblem } from '../../src/webhooks/webhook-target.js';
import {
  eventTypeMatches,
  EVENT_TYPE_PATTERN,
  isKnownEventType,
  WEBHOOK_EVENT_TYPES,
} from '../../src/webhooks/webhook.input.js';
import { TRANSITIONS } from '../../src/onboarding/lifecycle/transitions.js';
import { DRIFT_EVENT } from '../../src/namespaces/drift-scanner.service.js';
import { REAPPLY_EVENT } from '../../src/namespaces/reapply.service.js';
import { readFileSync } from 'node:fs';
import { summarize } from '../../src/webhooks/webhook-summary.js';
import { loadConfig } from '../../src/config/config.js';

describe('webhook secrets', () => {
  it('seals with AES-256-GCM and opens only with the same key', () => {
    const box = new SecretBox('k'.repeat(32));
    const sealed = box.seal('whsec_abc');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('whsec_abc');
    expect(box.seal('whsec_abc')).not.toBe(sealed); // fresh IV each time
    expect(box.open(sealed)).toBe('whsec_abc');
    expect(() => new SecretBox('x'.repeat(32)).open(sealed)).toThrow();
    const [v, iv, tag, ct] = sealed.split('.');
    expect(() => box.open([v, iv, tag, ct.slice(0, -2) + 'AA'].join('.'))).toThrow();
    expect(generateWebhookSecret()).toMatch(/^whsec_[\w-]{43}$/);
  });

  it('signs timestamp.body with HMAC-SHA256', () => {
    const expected = createHmac('sha256', 'secret').update('1700000000.{"a":1}').digest('hex');
    expect(signWebhook('secret', '1700000000', '{"a":1}')).toBe(`sha256=${expected}`);
  });

  it('derives the key from WEBHOOK_SECRET_KEY, else from the admin token, else has none', () => {
    expect(loadConfig({ WEBHOOK_SECRET_KEY: 'z'.repeat(32) }).webhooks.secretKey).toBe('z'.repeat(32));
    expect(loadConfig({ OSM_ONBOARDING_ADMIN_TOKEN: 'a'.repeat(20) }).webhooks.secretKey).toBe(
      `admin-token:${'a'.repeat(20)}`,
    );
    expect(loadConfig({}).webhooks).toEqual({
      secretKey: undefined,
      maxAttempts: 8,
      perOwner: 50,
      backoffMs: 2000,
      timeoutMs: 10_000,
      allowPrivateTargets: false,
    });
    expect(() => loadConfig({ WEBHOOK_SECRET_KEY: 'short' })).toThrow(/WEBHOOK_SECRET_KEY/);
  });
});

describe('webhook targets', () => {
  it('refuses internal targets unless allowed', () => {
    for (const url of [
      'http://127.0.0.1:8080/x',
      'http://localhost/x',
      'http://api.localhost/',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/',
      'http://[::1]/',
      'http://[fd00::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://0.0.0.0/',
    ]) {
      expect(targetProblem(url, false), url).toMatch(/must not target/);
      expect(targetProblem(url, true), url).toBeNull();
    }
    expect(targetProblem('https://hooks.example.com/services/T0/B0/x', false)).toBeNull();
    expect(targetProblem('http://93.184.216.34/', false)).toBeNull();
    expect(targetProblem('ftp://example.com/', true)).toBe('must use http or https');
    expect(targetProblem('https://u:p@example.com/', true)).toMatch(/credentials/);
    expect(targetProblem('not a url', true)).toMatch(/absolute/);
    expect(targetProblem('https://example.com/#frag', true)).toMatch(/fragment/);
    expect(isInternalAddress('172.20.0.1')).toBe(true);
    expect(isInternalAddress('172.32.0.1')).toBe(false);
  });
});

describe('event type patterns', () => {
  it('matches exact types, dotted prefixes and *', () => {
    expect(eventTypeMatches('*', 'request.succeeded')).toBe(true);
    expect(eventTypeMatches('a.*', 'a.b.c')).toBe(true);
    expect(eventTypeMatches('request.*', 'request.cancel-requested')).toBe(true);
    expect(eventTypeMatches('request.*', 'requests.x')).toBe(false);
    expect(eventTypeMatches('step.failed', 'step.failed')).toBe(true);
    expect(eventTypeMatches('step.failed', 'step.failed.more')).toBe(false);
    for (const ok of ['*', 'request.*', 'step.failed', 'request.cancel-requested'])
      expect(EVENT_TYPE_PATTERN.test(ok), ok).toBe(true);
    for (const bad of ['', 'Request', 'request.', '*.failed', 'request.**', 'a b'])
      expect(EVENT_TYPE_PATTERN.test(bad), bad).toBe(false);
  });
});

describe('known event types', () => {
  it("lists every action a request's trail records, and nothing else", () => {
    const runner = readFileSync(new URL('../../src/onboarding/request-runner.service.ts', import.meta.url), 'utf8');
    const steps = [...runner.matchAll(/action: '(step\.[a-z-]+)'/g)].map((m) => m[1]);
    expect(steps.length).toBeGreaterThan(0);
    const recorded = new Set([
      ...Object.values(TRANSITIONS).flatMap((t) => t.audit),
      ...steps,
      DRIFT_EVENT,
      REAPPLY_EVENT,
    ]);
    expect([...WEBHOOK_EVENT_TYPES].sort()).toEqual([...recorded].sort());
  });

  it('takes a known type, a prefix of known types or *, nothing else', () => {
    for (const ok of ['*', 'request.*', 'step.*', 'namespace.*', 'approval.*', 'request.succeeded', 'step.failed'])
      expect(isKnownEventType(ok), ok).toBe(true);
    for (const bad of ['bogus', 'request.succeded', 'none.*', 'request.succeeded.*', 'token.created', 'webhook.*'])
      expect(isKnownEventType(bad), bad).toBe(false);
  });
});

describe('webhook summaries', () => {
  const request = {
    kind: 'ONBOARD' as const,
    cluster: 'prod',
    namespace: 'team-a',
    meshName: 'osm',
    errorCode: null,
    steps: [
      { name: 'prerequisites', status: 'SUCCEEDED', result: 'UNCHANGED' },
      { name: 'mesh', status: 'SUCCEEDED', result: 'UNCHANGED' },
      { name: 'namespace', status: 'SUCCEEDED', result: 'CHANGED' },
      { name: 'restart', status: 'SUCCEEDED', result: 'CHANGED' },
    ],
  };
  const event = (type: string, data: Record<string, unknown> = {}, step: string | null = null) => ({
    id: '1',
    requestId: 'r',
    cursor: 1,
    type,
    actor: 'token:bot',
    step,
    message: 'msg',
    data,
    at: '',
  });

  it('is one postable line per event', () => {
    expect(summarize(event('request.succeeded'), request)).toBe(
      '✅ onboarding of prod/team-a into mesh osm succeeded (4 steps, 2 changed)',
    );
    const failed = {
      ...request,
      steps: [
        request.steps[0],
        { name: 'mesh', status: 'FAILED', result: null },
        { name: 'namespace', status: 'PENDING', result: null },
      ],
    };
    expect(summarize(event('request.failed', { step: 'mesh', code: 'MESH_NOT_FOUND' }), failed)).toBe(
      '❌ onboarding of prod/team-a into mesh osm failed at step mesh (MESH_NOT_FOUND): 1/3 steps done',
    );
    expect(summarize(event('step.failed', { code: 'KUBE_FORBIDDEN' }, 'namespace'), request)).toBe(
      '⚠️ step namespace of the onboarding of prod/team-a into mesh osm failed (KUBE_FORBIDDEN): msg',
    );
    expect(summarize(event('request.cancelled', { stoppedBefore: 'restart' }), { ...request, kind: 'OFFBOARD' })).toBe(
      '🚫 offboarding of prod/team-a from mesh osm cancelled by token:bot before step restart',
    );
    expect(summarize(event('request.whatever'), request)).toBe('ℹ️ onboarding of prod/team-a into mesh osm: msg');
    expect(summarize({ ...event('step.failed'), message: 'x'.repeat(1000) }, request).length).toBeLessThanOrEqual(300);
  });

  it('is at most 300 characters once escaped, and never ends in a cut escape or mention', () => {
    for (let pad = 0; pad < 12; pad++) {
      const line = summarize(
        { ...event('step.failed'), message: `${'x'.repeat(pad)}${'<&@here '.repeat(60)}` },
        request,
      );
      expect(line.length).toBeLessThanOrEqual(300);
      expect(line).toMatch(/(&(amp|lt|gt);|[^&@])…$/);
      expect(line).not.toMatch(/&(?!(amp|lt|gt);)/);
    }
  });
});
