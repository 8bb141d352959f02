// How this service marks the cluster objects it creates and the namespaces it changes, so that
// offboarding removes only what onboarding made. osm.ts holds osm-edge's own conventions; the
// keys below are this service's.
import type { KubeObject } from '../common/kube-object.js';
import type { Change } from './change.js';
import { CRD } from './osm.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'osm-onboarding';
/** The id of the request that last wrote the object (informational; ownership is MANAGED_BY_LABEL). */
export const REQUEST_LABEL = 'osm-onboarding.flomesh.io/request';

/** The labels that make an object "ours". */
export const OWNED_BY_LABELS = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } as const;
/** Label selector for objects owned by this service. */
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/**
 * Namespace annotation written by the api-server-access step (method ip-exclusion): "this namespace
 * relies on the API server's /32 in the MeshConfig exclusion list". api-server-access-removal reads
 * it on the other namespaces to decide whether the entry may go.
 */
export const API_SERVER_ACCESS_ANNOTATION = 'osm-onboarding.flomesh.io/api-server-access';
export const API_SERVER_ACCESS_IP_EXCLUSION = 'ip-exclusion';
/**
 * The mark's value while api-server-access-removal takes it away: it no longer needs the entry (other namespaces'
 * removals do not count it), but its own step still knows, when it re-plans after a conflict, that the namespace
 * relied on the entry. The step clears it once its re-check passes.
 */
export const API_SERVER_ACCESS_LEAVING = 'leaving';

/**
 * MeshConfig annotation written with the exclusion entry when api-server-access (or a removal that puts the entry
 * back) adds it: the exact entry osm-onboarding added. Without it the entry was in the list before osm-onboarding
 * relied on it (the guide's step 3 by hand), and offboarding never removes it.
 */
export const EXCLUSION_ADDED_ANNOTATION = 'osm-onboarding.flomesh.io/api-server-exclusion-added';

/**
 * Pod-template annotation written next to kubectl's restartedAt: the id of the request that restarted
 * the Deployment. kubectl's value has whole seconds only, so two requests in one second write the same
 * restartedAt; this one tells them apart (a retry of the same request finds both and restarts nothing,
 * another request changes the template and so really rolls the pods).
 */
export const RESTARTED_BY_ANNOTATION = 'osm-onboarding.flomesh.io/restarted-by';

/** Name of the Egress the api-server-access step (method egress) manages in the onboarded namespace. */
export const API_SERVER_EGRESS_NAME = 'osm-onboarding-api-server';

/** The policy kinds this service creates (and policy-cleanup deletes), in creation order. */
export const OWNED_POLICY_KINDS = [
  CRD.egress,
  CRD.httpRouteGroup,
  CRD.tcpRoute,
  CRD.trafficTarget,
  CRD.trafficSplit,
] as const;
export type PolicyKindRef = (typeof OWNED_POLICY_KINDS)[number];

export type CrdRef = (typeof CRD)[keyof typeof CRD];

/** The CRD reference of an osm-edge / SMI kind (throws for kinds this service does not write). */
export function refOfKind(kind: string): CrdRef {
  const ref = Object.values(CRD).find((r) => r.kind === kind);
  if (!ref) throw new Error(`no CRD reference for kind ${kind}`);
  return ref;
}

export function apiVersionOf(ref: { group: string; version: string }): string {
  return `${ref.group}/${ref.version}`;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Labels for an object written on behalf of `requestId` (the request label is dropped if the id is not a
 * valid label value).
 */
export function ownedLabels(requestId: string): Record<string, string> {
  const labels: Record<string, string> = { ...OWNED_BY_LABELS };
  if (requestId.length <= 63 && LABEL_VALUE.test(requestId)) labels[REQUEST_LABEL] = requestId;
  return labels;
}

export function isOwned(obj: Pick<KubeObject, 'metadata'> | null | undefined): boolean {
  return obj?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Deep equality of JSON values, ignoring object key order and `undefined` members. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const val = (v as Record<string, unknown>)[k];
      if (val !== undefined) out[k] = sortKeys(val);
    }
    return out;
  }
  return v;
}

/** The audit image of a policy object: identity, labels, resourceVersion and spec. */
export function objectImage(obj: KubeObject | null | undefined): unknown {
  if (!obj) return null;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: {
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      labels: obj.metadata?.labels ?? {},
      resourceVersion: obj.metadata?.resourceVersion,
    },
    spec: obj.spec ?? null,
  };
}

/** An object this service wants in a namespace, and what the cluster holds under that name today. */
export interface DesiredObject {
  ref: { group: string; version: string; kind: string };
  namespace: string;
  name: string;
  spec: unknown;
  existing: KubeObject | null;
  requestId: string;
}

/**
 * The create or in-place update that makes `namespace/name` carry `spec` and our labels, or null when
 * it already does. `existing` must already be known to be ours (or absent). The request label is
 * informational: a different request id alone does not cause a write.
 */
export function desiredObjectChange({ ref, namespace, name, spec, existing, requestId }: DesiredObject): Change | null {
  const target = { apiVersion: apiVersionOf(ref), kind: ref.kind, namespace, name };
  const labels = ownedLabels(requestId);
  const desired = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  if (!existing) {
    return {
      action: 'create',
      target,
      body: { apiVersion: target.apiVersion, kind: ref.kind, metadata: { name, namespace, labels }, spec: desired },
    };
  }
  if (isOwned(existing) && jsonEqual(existing.spec ?? null, desired)) return null;
  const { managedFields: _drop, ...metadata } = existing.metadata ?? {};
  return {
    action: 'update',
    target,
    body: {
      ...existing,
      apiVersion: target.apiVersion,
      kind: ref.kind,
      metadata: { ...metadata, labels: { ...(existing.metadata?.labels ?? {}), ...labels } },
      spec: desired,
    },
  };
}
