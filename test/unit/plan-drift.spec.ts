// Applied plans report drift only when the cluster changed: the stored plan comes back from Postgres
// JSONB with its object keys reordered (shorter keys first), which must not count as a change.
import { describe, expect, it } from 'vitest';
import { plannedChangesDiffer } from '../../src/onboarding/step-failure.js';

/** What JSONB does to a stored object: keys ordered by length, then bytewise; undefined members gone. */
function throughJsonb(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(throughJsonb);
  if (!v || typeof v !== 'object') return v;
  const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  keys.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, throughJsonb((v as Record<string, unknown>)[k])]));
}

const changes = [
  {
    action: 'patch',
    target: { apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'db' },
    patchType: 'json',
    body: [
      { op: 'test', path: '/metadata/resourceVersion', value: '41' },
      { op: 'add', path: '/spec/ports/0/appProtocol', value: 'tcp-server-first' },
    ],
    note: undefined,
  },
];

describe('plannedChangesDiffer', () => {
  it('sees no drift in the same changes with their keys reordered by JSONB', () => {
    const stored = throughJsonb(changes);
    expect(JSON.stringify(stored)).not.toBe(JSON.stringify(changes)); // the old comparison's false drift
    expect(plannedChangesDiffer(stored, changes)).toBe(false);
  });

  it('sees drift in a changed value, a reordered list or a different number of changes', () => {
    const stored = throughJsonb(changes);
    const moved = structuredClone(changes);
    moved[0].body[0].value = '42';
    expect(plannedChangesDiffer(stored, moved)).toBe(true);
    const reordered = [{ ...changes[0], body: [...changes[0].body].reverse() }];
    expect(plannedChangesDiffer(stored, reordered)).toBe(true);
    expect(plannedChangesDiffer(stored, [])).toBe(true);
  });
});
