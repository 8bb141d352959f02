// What "drifted" means for an onboarded namespace: the live namespace (and the mesh settings the request
// made for it) compared with what its last successful onboarding left. Pure functions; the drift scanner
// (drift-scanner.service.ts) does the reads and records the result.
import { createHash } from 'node:crypto';
import type { V1Namespace } from '@kubernetes/client-node';
import {
  CONTROL_PLANE_LABEL,
  IGNORE_LABEL,
  METRICS_ANNOTATION,
  MONITORED_BY_LABEL,
  parseInjectionValue,
  SIDECAR_INJECTION_ANNOTATION,
} from '../mesh/osm.js';
import {
  API_SERVER_ACCESS_ANNOTATION,
  API_SERVER_ACCESS_IP_EXCLUSION,
  API_SERVER_EGRESS_NAME,
} from '../mesh/ownership.js';
import type { RequestOptions } from '../onboarding/onboarding.input.js';

/** One difference: what was checked, what the onboarding left, what is there now (null = absent). */
export interface DriftChange {
  what: string;
  expected: string | null;
  actual: string | null;
}

/** Mesh-wide facts the onboarding relied on; null when they could not be read this pass (not compared). */
export interface MeshFacts {
  /** The API server's `/32` is in the MeshConfig's outboundIPRangeExclusionList. */
  exclusionListed: { cidr: string; listed: boolean } | null;
  /** MeshConfig `spec.featureFlags.enableEgressPolicy`. */
  egressPolicyEnabled: boolean | null;
  /** The namespace's Egress `osm-onboarding-api-server` exists. */
  egressPresent: boolean | null;
}

export const NO_MESH_FACTS: MeshFacts = { exclusionListed: null, egressPolicyEnabled: null, egressPresent: null };

/**
 * The differences between the live namespace (null: deleted) and the state the onboarding `options`
 * for mesh `meshName` left. Values are compared as osm-edge reads them (an injection annotation `yes`
 * equals `enabled`); only what the onboarding set is checked (metrics only when it enabled them).
 */
export function namespaceDrift(
  ns: V1Namespace | null,
  onboarded: { meshName: string; options: RequestOptions },
  mesh: MeshFacts = NO_MESH_FACTS,
): DriftChange[] {
  if (!ns) return [{ what: 'namespace', expected: 'exists', actual: null }];
  const { meshName, options } = onboarded;
  const labels = ns.metadata?.labels ?? {};
  const annotations = ns.metadata?.annotations ?? {};
  const changes: DriftChange[] = [];
  const label = (key: string, expected: string | null) => {
    const actual = labels[key] ?? null;
    if (actual !== expected) changes.push({ what: `label ${key}`, expected, actual });
  };
  label(MONITORED_BY_LABEL, meshName);
  label(IGNORE_LABEL, null);
  label(CONTROL_PLANE_LABEL, null);
  const osmValue = (key: string, expected: 'enabled' | 'disabled') => {
    const actual = annotations[key] ?? null;
    if (actual === null || parseInjectionValue(actual) !== expected) {
      changes.push({ what: `annotation ${key}`, expected, actual });
    }
  };
  osmValue(SIDECAR_INJECTION_ANNOTATION, options.sidecarInjection);
  if (options.metrics) osmValue(METRICS_ANNOTATION, 'enabled');
  const access = options.apiServerAccess;
  if (access?.method === 'ip-exclusion') {
    const marker = annotations[API_SERVER_ACCESS_ANNOTATION] ?? null;
    if (marker !== API_SERVER_ACCESS_IP_EXCLUSION) {
      const what = `annotation ${API_SERVER_ACCESS_ANNOTATION}`;
      changes.push({ what, expected: API_SERVER_ACCESS_IP_EXCLUSION, actual: marker });
    }
    const listed = mesh.exclusionListed;
    if (listed && !listed.listed) {
      changes.push({ what: 'MeshConfig outboundIPRangeExclusionList entry', expected: listed.cidr, actual: null });
    }
  }
  if (access?.method === 'egress') {
    if (mesh.egressPolicyEnabled === false) {
      changes.push({ what: 'MeshConfig featureFlags.enableEgressPolicy', expected: 'true', actual: 'false' });
    }
    if (mesh.egressPresent === false) {
      changes.push({ what: `Egress ${API_SERVER_EGRESS_NAME}`, expected: 'exists', actual: null });
    }
  }
  return changes;
}

/** Stable identity of a set of changes: the same drift seen again is not recorded again. */
export function driftFingerprint(changes: DriftChange[]): string {
  const sorted = [...changes].sort((a, b) => a.what.localeCompare(b.what));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}

/** One line per drift, for the audit message and the chat summary. */
export function describeDrift(changes: DriftChange[]): string {
  return changes
    .map((c) =>
      c.actual === null
        ? `${c.what} ${c.what === 'namespace' ? 'deleted' : `removed (was ${c.expected ?? 'absent'})`}`
        : c.expected === null
          ? `${c.what} added (${c.actual})`
          : `${c.what} is ${c.actual} (was ${c.expected})`,
    )
    .join('; ');
}
