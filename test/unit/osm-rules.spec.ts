import { describe, expect, it } from 'vitest';
import { isInjectedPod, parseInjectionValue } from '../../src/mesh/osm.js';

describe('osm-edge rules', () => {
  it('reads sidecar-injection values case-insensitively, like the injector', () => {
    expect(parseInjectionValue('Enabled')).toBe('enabled');
    expect(parseInjectionValue('yes')).toBe('enabled');
    expect(parseInjectionValue('TRUE')).toBe('enabled');
    expect(parseInjectionValue('disabled')).toBe('disabled');
    expect(parseInjectionValue('No')).toBe('disabled');
    expect(parseInjectionValue('false')).toBe('disabled');
    expect(parseInjectionValue('on')).toBe('invalid');
    expect(parseInjectionValue(undefined)).toBe('unset');
  });

  it('counts a pod as injected only with a UUID proxy label and a sidecar container', () => {
    const uuid = '0d2a3c4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f';
    expect(
      isInjectedPod({
        metadata: { labels: { 'osm-proxy-uuid': uuid } },
        spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] },
      }),
    ).toBe(true);
    expect(
      isInjectedPod({
        metadata: { labels: { 'osm-proxy-uuid': 'not-a-uuid' } },
        spec: { containers: [{ name: 'sidecar' }] },
      }),
    ).toBe(false);
    expect(
      isInjectedPod({ metadata: { labels: { 'osm-proxy-uuid': uuid } }, spec: { containers: [{ name: 'envoy' }] } }),
    ).toBe(false);
    expect(isInjectedPod({ metadata: {}, spec: { containers: [{ name: 'sidecar' }] } })).toBe(false);
  });
});
