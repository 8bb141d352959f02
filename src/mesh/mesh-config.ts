// Pure MeshConfig rules: which object a change targets, how the outbound IP range exclusion list is read,
// checked and edited. An edit of the list is planned as a JSON patch guarded by the resourceVersion that was
// read, so it never overwrites a concurrent edit (the writes themselves: onboarding/steps/kit/mesh-config.ts).
import { DomainError } from '../common/domain-error.js';
import type { KubeObject } from '../common/kube-object.js';
import type { Change, Diagnostic, JsonPatchOp } from './change.js';
import { invalidEntries, parseCidr } from './cidr.js';
import { CRD, MESH_CONFIG_NAME } from './osm.js';
import { apiVersionOf, EXCLUSION_ADDED_ANNOTATION } from './ownership.js';

export const EXCLUSION_LIST_PATH = '/spec/traffic/outboundIPRangeExclusionList';

export function meshConfigTarget(meshNamespace: string): Change['target'] {
  return {
    apiVersion: apiVersionOf(CRD.meshConfig),
    kind: CRD.meshConfig.kind,
    namespace: meshNamespace,
    name: MESH_CONFIG_NAME,
  };
}

export const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export function meshConfigTraffic(mc: KubeObject): Record<string, unknown> | undefined {
  const t = mc.spec?.traffic;
  return isRecord(t) ? t : undefined;
}

/** The exclusion list as stored, or undefined when the field is absent (or not a list). */
export function exclusionList(mc: KubeObject): unknown[] | undefined {
  const list = meshConfigTraffic(mc)?.outboundIPRangeExclusionList;
  return Array.isArray(list) ? list : undefined;
}

/** Warnings for existing entries that are not strict IPv4 CIDRs. They are reported, never touched. */
export function exclusionListDiagnostics(mc: KubeObject): Diagnostic[] {
  return invalidEntries(exclusionList(mc) ?? []).map((e) => ({
    code: 'INVALID_EXCLUSION_CIDR',
    level: 'warning' as const,
    object: `meshconfigs/${MESH_CONFIG_NAME}`,
    message: `outboundIPRangeExclusionList[${e.index}] is not a valid IPv4 CIDR: ${e.message}`,
    hint:
      'osm-init copies this entry verbatim into iptables-restore; a bad entry breaks the init container of new ' +
      'pods. Fix or remove it by hand.',
  }));
}

// ---------------------------------------------------------------------------------------------
// Guarded edits of the exclusion list. A merge patch replaces the whole array, so the list is only
// ever edited with a JSON patch whose first operation tests the resourceVersion that was read: a
// concurrent edit makes the test fail (422) and the caller re-reads and re-plans.

/** The exclusion entry osm-onboarding added to this MeshConfig (EXCLUSION_ADDED_ANNOTATION), if any. */
export function exclusionAddedByUs(mc: KubeObject): string | undefined {
  return mc.metadata?.annotations?.[EXCLUSION_ADDED_ANNOTATION];
}

const ADDED_PATH = `/metadata/annotations/${EXCLUSION_ADDED_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * The JSON patch that adds `cidr` to the exclusion list, or null when it is already there. `recordAdded`: the same
 * patch writes EXCLUSION_ADDED_ANNOTATION, so that offboarding knows the entry is ours to remove.
 */
export function planExclusionAdd(mc: KubeObject, cidr: string, { recordAdded = false } = {}): Change | null {
  const parsed = parseCidr(cidr);
  if (!parsed.ok) throw new DomainError('INVALID_CIDR', parsed.message, { details: { cidr } });
  const list = exclusionList(mc);
  if (list?.includes(cidr)) return null;
  const ops: JsonPatchOp[] = [resourceVersionTest(mc)];
  if (list) ops.push({ op: 'add', path: `${EXCLUSION_LIST_PATH}/-`, value: cidr });
  // `add` on an existing member (e.g. an explicit null) replaces it, so these also cover null.
  else if (meshConfigTraffic(mc)) ops.push({ op: 'add', path: EXCLUSION_LIST_PATH, value: [cidr] });
  else if (isRecord(mc.spec))
    ops.push({ op: 'add', path: '/spec/traffic', value: { outboundIPRangeExclusionList: [cidr] } });
  else ops.push({ op: 'add', path: '/spec', value: { traffic: { outboundIPRangeExclusionList: [cidr] } } });
  if (recordAdded) {
    // `add` needs the parent: the annotations map itself when the MeshConfig has none.
    if (isRecord(mc.metadata?.annotations)) ops.push({ op: 'add', path: ADDED_PATH, value: cidr });
    else ops.push({ op: 'add', path: '/metadata/annotations', value: { [EXCLUSION_ADDED_ANNOTATION]: cidr } });
  }
  return { action: 'patch', target: meshConfigTarget(mc.metadata?.namespace ?? ''), patchType: 'json', body: ops };
}

/**
 * The JSON patch that removes every exact `cidr` entry (each index value-tested), or null when absent; with it
 * EXCLUSION_ADDED_ANNOTATION when it names `cidr` (value-tested too).
 */
export function planExclusionRemove(mc: KubeObject, cidr: string): Change | null {
  const list = exclusionList(mc) ?? [];
  const indexes = list.flatMap((v, i) => (v === cidr ? [i] : [])).reverse();
  if (indexes.length === 0) return null;
  const ops: JsonPatchOp[] = [resourceVersionTest(mc)];
  for (const i of indexes) {
    ops.push(
      { op: 'test', path: `${EXCLUSION_LIST_PATH}/${i}`, value: cidr },
      { op: 'remove', path: `${EXCLUSION_LIST_PATH}/${i}` },
    );
  }
  if (exclusionAddedByUs(mc) === cidr)
    ops.push({ op: 'test', path: ADDED_PATH, value: cidr }, { op: 'remove', path: ADDED_PATH });
  return { action: 'patch', target: meshConfigTarget(mc.metadata?.namespace ?? ''), patchType: 'json', body: ops };
}

function resourceVersionTest(mc: KubeObject): JsonPatchOp {
  const rv = mc.metadata?.resourceVersion;
  if (!rv) throw new Error(`MeshConfig ${mc.metadata?.namespace}/${mc.metadata?.name} has no resourceVersion`);
  return { op: 'test', path: '/metadata/resourceVersion', value: rv };
}
