// The watch client's idle cut-off against kube-apiserver's bookmark interval: a quiet watch (the namespace
// informer's, a rollout waiting on slow pods) hears only bookmarks, one a minute, so a shorter cut-off re-opened
// every quiet watch before its first bookmark and its resourceVersion never advanced.
import { describe, expect, it } from 'vitest';
import { KUBE_BOOKMARK_INTERVAL_MS, WATCH_IDLE_MS } from '../../src/kubernetes/cluster-client.js';

describe('watch idle cut-off', () => {
  it("outlasts kube-apiserver's bookmark interval (cacher.go defaultBookmarkFrequency, a minute) with a margin", () => {
    expect(KUBE_BOOKMARK_INTERVAL_MS).toBe(60_000);
    expect(WATCH_IDLE_MS).toBeGreaterThanOrEqual(KUBE_BOOKMARK_INTERVAL_MS + 20_000);
  });
});
