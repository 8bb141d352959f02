// What counts as drift of an onboarded namespace (src/namespaces/drift.ts), without I/O.
import { describe, expect, it } from 'vitest';
import type { V1Namespace } from '@kubernetes/client-node';
import { describeDrift, driftFingerprint, namespaceDrift } from '../../src/namespaces/drift.js';
import { inputFromOptions } from '../../src/namespaces/reapply.service.js';
import { onboardingOptions, OnboardingInputSchema } from '../../src/onboarding/onboarding.input.js';
import { parseInput } from '../../src/common/parse-input.js';
import { summarize } from '../../src/webhooks/webhook-summary.js';

const ns = (labels: Record<string, string>, annotations: Record<string, string> = {}): V1Namespace => ({
  metadata: { name: 'team-a', labels, annotations },
});
const onboarded = (extra: Record<string, unknown> = {}) => ({
  meshName: 'osm',
  options: onboardingOptions(parseInput(OnboardingInputSchema, { namespace: 'team-a', ...extra })),
});
const inMesh = { 'openservicemesh.io/monitored-by': 'osm' };
const enabled = { 'openservicemesh.io/sidecar-injection': 'enabled' };

describe('namespace drift', () => {
  it('is empty for the namespace as onboarded, and compares values the way osm-edge reads them', () => {
    expect(namespaceDrift(ns(inMesh, enabled), onboarded())).toEqual([]);
    expect(namespaceDrift(ns(inMesh, { 'openservicemesh.io/sidecar-injection': 'True' }), onboarded())).toEqual([]);
    // Metrics are compared only when the onboarding enabled them.
    expect(namespaceDrift(ns(inMesh, enabled), onboarded({ metrics: true }))).toEqual([
      { what: 'annotation openservicemesh.io/metrics', expected: 'enabled', actual: null },
    ]);
  });

  it('names every change: osm namespace remove, another mesh, ignore and control-plane labels, deletion', () => {
    const removed = namespaceDrift(ns({}, {}), onboarded());
    expect(removed).toEqual([
      { what: 'label openservicemesh.io/monitored-by', expected: 'osm', actual: null },
      { what: 'annotation openservicemesh.io/sidecar-injection', expected: 'enabled', actual: null },
    ]);
    expect(describeDrift(removed)).toBe(
      'label openservicemesh.io/monitored-by removed (was osm); ' +
        'annotation openservicemesh.io/sidecar-injection removed (was enabled)',
    );
    const labels = {
      'openservicemesh.io/monitored-by': 'blue',
      'openservicemesh.io/ignore': 'true',
      'control-plane': 'x',
    };
    expect(describeDrift(namespaceDrift(ns(labels, enabled), onboarded()))).toBe(
      'label openservicemesh.io/monitored-by is blue (was osm); label openservicemesh.io/ignore added (true); ' +
        'label control-plane added (x)',
    );
    expect(namespaceDrift(null, onboarded())).toEqual([{ what: 'namespace', expected: 'exists', actual: null }]);
    expect(describeDrift(namespaceDrift(null, onboarded()))).toBe('namespace deleted');
  });

  it('checks the API server access the request set up, when the mesh facts could be read', () => {
    const ip = onboarded({ apiServerAccess: { method: 'ip-exclusion' } });
    const marked = ns(inMesh, { ...enabled, 'osm-onboarding.flomesh.io/api-server-access': 'ip-exclusion' });
    const cidr = '10.96.0.1/32';
    const listed = { exclusionListed: { cidr, listed: true }, egressPolicyEnabled: true, egressPresent: null };
    expect(namespaceDrift(marked, ip, listed)).toEqual([]);
    expect(namespaceDrift(marked, ip, { ...listed, exclusionListed: { cidr, listed: false } })).toEqual([
      { what: 'MeshConfig outboundIPRangeExclusionList entry', expected: '10.96.0.1/32', actual: null },
    ]);
    // Not read this pass: not compared.
    expect(namespaceDrift(marked, ip)).toEqual([]);
    const egress = onboarded({ apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } });
    const gone = { exclusionListed: null, egressPolicyEnabled: false, egressPresent: false };
    expect(namespaceDrift(ns(inMesh, enabled), egress, gone)).toEqual([
      { what: 'MeshConfig featureFlags.enableEgressPolicy', expected: 'true', actual: 'false' },
      { what: 'Egress osm-onboarding-api-server', expected: 'exists', actual: null },
    ]);
  });

  it('fingerprints a drift independently of the order of its changes', () => {
    const a = { what: 'a', expected: 'x', actual: null };
    const b = { what: 'b', expected: null, actual: 'y' };
    expect(driftFingerprint([a, b])).toBe(driftFingerprint([b, a]));
    expect(driftFingerprint([a])).not.toBe(driftFingerprint([a, b]));
  });

  it('re-apply turns stored options back into the input that gives the same options', () => {
    const input = {
      namespace: 'team-a',
      sidecarInjection: 'disabled',
      metrics: true,
      prerequisites: { acceptErrors: ['OSM_RESERVED_PORT'] },
      apiServerAccess: { method: 'egress', serviceAccounts: ['b', 'a'] },
      trafficPolicy: { mode: 'permissive' },
      restart: { mode: 'selected', deployments: ['web'], maxConcurrent: 2 },
      verify: { timeoutSeconds: 30 },
    };
    const options = onboardingOptions(parseInput(OnboardingInputSchema, input));
    const again = inputFromOptions({ cluster: 'c', namespace: 'team-a', meshName: 'osm' }, options);
    expect(onboardingOptions(parseInput(OnboardingInputSchema, again))).toEqual(options);
  });

  it('gives the chat line of a drift event', () => {
    const drift = 'namespace prod/team-a drifted from its onboarding into mesh osm';
    const line = summarize(
      {
        id: '1',
        requestId: 'r',
        cursor: 9,
        type: 'namespace.drifted',
        actor: 'system:drift-scan',
        step: null,
        at: '',
        message: `${drift}: label openservicemesh.io/monitored-by removed (was osm)`,
        data: { reapply: '/v1/namespaces/prod/team-a/reapply' },
      },
      { kind: 'ONBOARD', cluster: 'prod', namespace: 'team-a', meshName: 'osm', steps: [], errorCode: null },
    );
    expect(line).toBe(
      `⚠️ ${drift}: label openservicemesh.io/monitored-by removed (was osm) ` +
        '(re-apply: POST /v1/namespaces/prod/team-a/reapply)',
    );
  });
});
