// ReadShare: a plan's GETs answered once and handed out as copies; a failed read is not kept.
import { describe, expect, it } from 'vitest';
import { CallAbandoned, KubeError } from '../../src/kubernetes/kube-error.js';
import { ReadShare } from '../../src/kubernetes/read-share.js';
import { readKey } from '../../src/kubernetes/resource-path.js';

describe('ReadShare (the reads one plan, or one batch of plans, shares)', () => {
  it('sends a read once and gives every caller the same answer, frozen', async () => {
    const reads = new ReadShare();
    let sent = 0;
    const read = async () => ({ items: [{ name: `read ${++sent}`, labels: { a: 'b' } }] });
    const [a, b] = await Promise.all([reads.answer('k', read), reads.answer('k', read)]);
    const c = await reads.answer('k', read);
    expect(sent).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(a).toEqual({ items: [{ name: 'read 1', labels: { a: 'b' } }] });
    // One caller cannot change what the others read: ES modules are strict, so a write throws.
    expect(() => a.items.push({ name: 'changed', labels: { a: 'c' } })).toThrow(TypeError);
    expect(() => {
      a.items[0].labels.a = 'changed';
    }).toThrow(TypeError);
    expect(reads.counts).toEqual({ sent: 1, shared: 2 });
  });

  it('keeps an absence (404) as the answer, as a found object is kept', async () => {
    const reads = new ReadShare();
    let calls = 0;
    const read = async () => {
      calls++;
      throw new KubeError('NOT_FOUND', 'get egress a/b: not found', 404);
    };
    await expect(reads.answer('k', read)).rejects.toThrow('not found');
    await expect(reads.answer('k', read)).rejects.toThrow('not found');
    expect(calls).toBe(1);
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

  it('sends a read again for a plan that shared it when the plan that sent it gave up on it', async () => {
    const reads = new ReadShare();
    let giveUp!: () => void;
    const abandoned = () =>
      new Promise<never>((_, reject) => (giveUp = () => reject(new CallAbandoned('get namespace a'))));
    const first = reads.answer('k', abandoned);
    const second = reads.answer('k', async () => ({ read: 'by the second plan' }));
    giveUp();
    await expect(first).rejects.toBeInstanceOf(CallAbandoned);
    expect(await second).toEqual({ read: 'by the second plan' });
    expect(reads.counts).toEqual({ sent: 2, shared: 1 });
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
