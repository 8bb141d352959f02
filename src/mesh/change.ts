// What a plan is made of, as plain data: the writes a step would make and what it found. The pure rules
// in mesh/ return these; the steps (onboarding/steps/) carry them to the runner, the audit row and the API.
import type { PatchType } from '../common/kube-object.js';

/** One Kubernetes write a step would make (plan) or made (apply), exactly as sent. */
export interface Change {
  action: 'patch' | 'create' | 'update' | 'delete';
  target: { apiVersion: string; kind: string; namespace?: string; name: string };
  patchType?: PatchType;
  body?: unknown;
}

export interface Diagnostic {
  code: string;
  level: 'error' | 'warning' | 'info';
  message: string;
  object?: string;
  hint?: string;
  /** An error the request accepted (prerequisites.acceptErrors): reported, but not blocking. */
  accepted?: boolean;
}

/** How many diagnostics of one code a plan lists (boundDiagnostics); the step's facts count them all. */
export const DIAGNOSTICS_PER_CODE = 20;

/**
 * The first DIAGNOSTICS_PER_CODE diagnostics of each code, in their order, and for a code with more, one
 * `DIAGNOSTICS_OMITTED` info saying how many were left out: a namespace of thousands of bare pods (a Job's) with
 * the same finding gives a plan, a request and an audit row of kilobytes, not megabytes. A step decides (levels,
 * accepted errors, blocking, counts) on the whole list and bounds what it reports.
 */
export function boundDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Map<string, number>();
  const shown: Diagnostic[] = [];
  for (const d of diagnostics) {
    const n = (seen.get(d.code) ?? 0) + 1;
    seen.set(d.code, n);
    if (n <= DIAGNOSTICS_PER_CODE) shown.push(d);
  }
  for (const [code, n] of seen)
    if (n > DIAGNOSTICS_PER_CODE)
      shown.push({
        code: 'DIAGNOSTICS_OMITTED',
        level: 'info',
        message: `${n - DIAGNOSTICS_PER_CODE} more ${code} diagnostic(s) not listed (${DIAGNOSTICS_PER_CODE} shown)`,
      });
  return shown;
}

/** One RFC 6902 operation (the guarded edits of shared lists are JSON patches). */
export interface JsonPatchOp {
  op: 'test' | 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}
