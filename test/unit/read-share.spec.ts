// ReadShare: a plan's GETs answered once and handed out as copies; a failed read is not kept.
import { describe, expect, it } from 'vitest';
import { ReadShare, readKey } from '../../src/kubernetes/read-share.js';

describe('ReadShare (the reads one plan, or one batch of plans, shares)', () => {
  it('sends a read once and gives every caller its own copy', async () => {
    const reads = new ReadShare();
    let sent = 0;
    const read = async () => ({ items: [{ name: `read ${++sent}` }] });
    const [a, b] = await Promise.all([reads.answer('k', read), reads.answer('k', read)]);
    const c = await reads.answer('k', read);
    expect(sent).toBe(1);
    expect([a, b, c]).toEqual([{ items: [{ name: 'read 1' }] }, { items: [{ name: 'read 1' }] }, a]);
    a.items.push({ name: 'changed by a caller' });
    expect(await reads.answer('k', read)).toEqual({ items: [{ name: 'read 1' }] });
    expect(reads.counts).toEqual({ sent: 1, shared: 3 });
  });

  it('does not keep a failed read: the next caller reads again', async () => {
    const reads = new ReadShare();
    let calls = 0;
    const read = async () => {
      if (++calls === 1) throw new Error('refused');
      return { ok: calls };
    };
    await expect(reads.answer('k', read)).rejects.toThrow('refused');
    expect(await reads.answer('k', read)).toEqual({ ok: 2 });
  });

  it('keys a read by cluster, path and the defined query values in key order', () => {
    expect(readKey('c1', '/api/v1/pods', { limit: 5, continue: undefined, labelSelector: 'a=b' })).toBe(
      readKey('c1', '/api/v1/pods', { labelSelector: 'a=b', limit: 5 }),
    );
    expect(readKey('c1', '/api/v1/pods')).toBe(readKey('c1', '/api/v1/pods', { continue: undefined }));
    expect(readKey('c1', '/api/v1/pods')).not.toBe(readKey('c2', '/api/v1/pods'));
    expect(readKey('c1', '/api/v1/pods', { labelSelector: 'a=b' })).not.toBe(readKey('c1', '/api/v1/pods'));
  });
});
