// The namespace informer keeps a slim record of each namespace (onboarding/namespace-informer.ts): the checks
// must decide on it exactly as on the whole namespace, whatever labels and annotations it carries.
import fc from 'fast-check';
import type { V1Namespace } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/common/domain-error.js';
import { assertOffboardable, assertOnboardable } from '../../src/mesh/namespace-rules.js';
import { slimmed } from '../../src/onboarding/namespace-informer.js';

const outcome = (check: () => void): string => {
  try {
    check();
    return 'accepted';
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
};

// Spelled out (not CHECKED_NAMESPACE_LABELS): a label dropped from that list must make the property fail.
const keys = fc.constantFrom(
  'openservicemesh.io/ignore',
  'control-plane',
  'name',
  'openservicemesh.io/monitored-by',
  'team',
  'kubernetes.io/metadata.name',
  'control-plane-x',
);
const values = fc.constantFrom('osm', 'blue', 'osm-system', 'true', 'false', '');
const namespace = fc.record({
  labels: fc.option(fc.dictionary(keys, values), { nil: undefined }),
  annotations: fc.option(fc.dictionary(fc.string(), fc.string()), { nil: undefined }),
  // Being deleted: Kubernetes sets deletionTimestamp at once, and the phase Terminating.
  deleting: fc.boolean(),
});

describe('slim namespace records', () => {
  it('every check decides on the slim record as on the whole namespace', () => {
    fc.assert(
      fc.property(namespace, fc.constantFrom('osm', 'blue'), ({ labels, annotations, deleting }, meshName) => {
        const ns: V1Namespace = {
          metadata: {
            name: 'app',
            resourceVersion: '42',
            labels,
            annotations,
            ...(deleting ? { deletionTimestamp: new Date() } : {}),
          },
          status: { phase: deleting ? 'Terminating' : 'Active' },
        };
        const slim = slimmed(ns);
        const request = { namespace: 'app', meshName };
        expect(outcome(() => assertOnboardable(slim, request, 'osm-system'))).toBe(
          outcome(() => assertOnboardable(ns, request, 'osm-system')),
        );
        expect(outcome(() => assertOffboardable(slim, request))).toBe(outcome(() => assertOffboardable(ns, request)));
      }),
    );
  });

  it('keeps the name, the resourceVersion and only the checked labels', () => {
    const ns: V1Namespace = {
      metadata: {
        name: 'app',
        resourceVersion: '7',
        uid: 'u',
        labels: { 'openservicemesh.io/monitored-by': 'osm', team: 'a' },
        annotations: { big: 'x'.repeat(1000) },
        managedFields: [{ manager: 'kubectl' }],
      },
      status: { phase: 'Active' },
    };
    expect(slimmed(ns)).toEqual({
      metadata: { name: 'app', resourceVersion: '7', labels: { 'openservicemesh.io/monitored-by': 'osm' } },
      status: { phase: 'Active' },
    });
    expect(slimmed({ ...ns, metadata: { name: 'b', resourceVersion: '8', labels: { team: 'a' } } })).toEqual({
      metadata: { name: 'b', resourceVersion: '8' },
      status: { phase: 'Active' },
    });
  });

  it('keeps the phase and the sidecar-injection annotation the namespace status shows', () => {
    const injection = { 'openservicemesh.io/sidecar-injection': 'disabled' };
    expect(
      slimmed({ metadata: { name: 'a', resourceVersion: '1', annotations: { ...injection, x: 'y' } }, status: {} }),
    ).toEqual({ metadata: { name: 'a', resourceVersion: '1', labels: {}, annotations: injection }, status: {} });
    expect(slimmed({ metadata: { name: 'a', resourceVersion: '1', deletionTimestamp: new Date() } }).status).toEqual({
      phase: 'Terminating',
    });
    expect(slimmed({ metadata: { name: 'a', resourceVersion: '1' }, status: { phase: 'Odd' } }).status).toEqual({
      phase: 'Odd',
    });
  });

  it('gives back every resourceVersion exactly as it was read (kept as a number when it is a plain integer)', () => {
    const plain = ['0', '7', '42', '1073741824', '9007199254740991'];
    const other = [
      '',
      '007',
      '-1',
      '1e3',
      '1.5',
      ' 42',
      'abc',
      '9007199254740992',
      '9007199254740993',
      '12345678901234567890',
    ];
    for (const rv of [...plain, ...other]) {
      for (const labels of [undefined, { 'openservicemesh.io/monitored-by': 'osm' }]) {
        expect(slimmed({ metadata: { name: 'app', resourceVersion: rv, labels } }).metadata?.resourceVersion).toBe(rv);
      }
    }
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String)), (rv) => {
        expect(slimmed({ metadata: { name: 'app', resourceVersion: rv } }).metadata?.resourceVersion).toBe(rv);
      }),
    );
  });
});
