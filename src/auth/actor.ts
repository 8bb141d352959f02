/** Who is asking. Derived from credentials at the edge, never from a request body. */
export interface Actor {
  id: string;
  kind: 'anonymous' | 'token' | 'system';
}

export const ANONYMOUS: Actor = { id: 'anonymous', kind: 'anonymous' };
export const WORKER_ACTOR = 'system:worker';
export const SWEEPER_ACTOR = 'system:sweeper';
