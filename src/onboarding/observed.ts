// Owns the shape of a request-time read's answer, shared by the namespace informer (a lookup in memory), the
// precheck (target-precheck.ts: a cached read) and the request's checks (request-validator.ts).

/**
 * What a read gave: the object, "it does not exist", "the cluster serves no such resource" (a 404 that names no
 * object: a CRD missing or in another version), or nothing in time.
 */
export type Observed<T> =
  | { kind: 'found'; value: T }
  | { kind: 'absent' }
  | { kind: 'unserved'; reason: string; hint?: string }
  | { kind: 'unknown'; reason: string };
