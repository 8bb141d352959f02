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

/** One RFC 6902 operation (the guarded edits of shared lists are JSON patches). */
export interface JsonPatchOp {
  op: 'test' | 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}
