// Owns the reads that one piece of read-only work shares: a plan's steps (which read the same Deployments, pods and
// namespace more than once) and a batch's plans (which read the same kinds in many namespaces). A ReadShare answers
// a GET that it has already answered, or that a cluster-wide list has answered for that namespace (prefetch), with
// that same answer, frozen, instead of another call: one copy of a namespace's 2,000 pods for every step, not one
// each (a caller that changed what it was given would throw). A read abandoned by the plan that sent it (past its
// deadline) is sent again for a plan still waiting on it. Only read-only work uses one: a plan writes nothing,
// so what it read stays what it planned against; a run's steps read the cluster afresh.
import { CallAbandoned, KubeError } from './kube-error.js';
import type { ClusterClient, KubeList, SharedReads } from './cluster-client.js';
import { CORE, readKey, resourcePath, type NamespacedKind } from './resource-path.js';

/** A cluster-wide list's page size while prefetching (kube-apiserver serves limit+continue pages). */
export const PREFETCH_PAGE = 500;

/**
 * The fewest target namespaces in one cluster for which a batch prefetches: below it, the per-namespace lists cost
 * no more calls than a cluster-wide list's pages would.
 */
export const PREFETCH_MIN_TARGETS = 8;

/**
 * The most objects of one kind a batch holds from its cluster-wide lists: beyond it (large namespaces), those
 * namespaces are listed one by one as their plans come, a few at a time, and not all held at once.
 */
export const PREFETCH_MAX_ITEMS = 2_000;

export class ReadShare implements SharedReads {
  private readonly answers = new Map<string, Promise<unknown>>();
  /** GETs sent to the cluster, and answered by this share instead (read by the unit tests). */
  readonly counts = { sent: 0, shared: 0 };

  /**
   * The answer to `key`: the one given before, else `read()`'s, kept for the next caller; deeply frozen, since every
   * caller gets the same object. A failed read is not kept (the next caller reads again), except an absence
   * (NOT_FOUND), which stays the answer for this plan as a found object would.
   */
  async answer<T>(key: string, read: () => Promise<T>): Promise<T> {
    for (;;) {
      const held = this.answers.get(key) as Promise<T> | undefined;
      if (!held) return this.send(key, read);
      this.counts.shared += 1;
      try {
        return await held;
      } catch (err) {
        // The plan that sent it gave up on it (its deadline, ClusterClient.until), not this one: read it again.
        if (!(err instanceof CallAbandoned)) throw err;
        if (this.answers.get(key) === held) this.answers.delete(key);
      }
    }
  }

  private send<T>(key: string, read: () => Promise<T>): Promise<T> {
    this.counts.sent += 1;
    const answer = read().then(deepFreeze);
    this.answers.set(key, answer);
    answer.catch((err: unknown) => {
      const absent = err instanceof KubeError && err.reason === 'NOT_FOUND';
      if (!absent && this.answers.get(key) === answer) this.answers.delete(key);
    });
    return answer;
  }

  /** Holds `value` as the answer to `key` (a namespace's list cut from a cluster-wide one). */
  seed(key: string, value: unknown): void {
    this.answers.set(key, Promise.resolve(deepFreeze(value)));
  }

  /**
   * Lists `kind` across the cluster, a page at a time, and holds each of `namespaces`' part of it as the answer to
   * that namespace's list (no selector): one call per page instead of one per namespace. True when held.
   */
  async prefetch(client: ClusterClient, kind: NamespacedKind, namespaces: readonly string[]): Promise<boolean> {
    const wanted = new Set(namespaces);
    const list = await pagesOf<{ metadata?: { namespace?: string } }>(
      wanted.size,
      (page) => client.listAllNamespaces(kind, page),
      (item) => wanted.has(item.metadata?.namespace ?? ''),
    );
    if (!list) return false;
    const parts = new Map<string, unknown[]>([...wanted].map((ns) => [ns, []]));
    for (const item of list.items) parts.get(item.metadata?.namespace ?? '')?.push(item);
    for (const [ns, items] of parts) {
      this.seed(readKey(client.name, resourcePath(kind.api, kind.plural, ns)), { ...list, items });
    }
    return true;
  }

  /**
   * Lists the cluster's namespaces, a page at a time, and holds each of `names` found as the answer to its `get`
   * (one missing is left to its own read, which answers its 404). True when held.
   */
  async prefetchNamespaces(client: ClusterClient, names: readonly string[]): Promise<boolean> {
    const wanted = new Set(names);
    const list = await pagesOf<{ metadata?: { name?: string } }>(
      wanted.size,
      (page) => client.listNamespaces(page),
      (item) => wanted.has(item.metadata?.name ?? ''),
    );
    if (!list) return false;
    for (const item of list.items) {
      const name = item.metadata?.name;
      if (name !== undefined && wanted.has(name)) {
        this.seed(readKey(client.name, resourcePath(CORE, 'namespaces', undefined, name)), {
          apiVersion: 'v1',
          kind: 'Namespace',
          ...item,
        });
      }
    }
    return true;
  }
}

type Page<T> = KubeList<T> & { apiVersion?: string; kind?: string };

/** `value` and everything it holds, frozen (JSON: objects and arrays). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}

/**
 * A cluster-wide list read a page at a time (PREFETCH_PAGE), as one list of the items `keep` wants (the targets'
 * own: the rest of each page is dropped as it is read) with the first page's resourceVersion, or undefined: when its
 * pages would outnumber half the `namespaces` it stands in for (the first page's `remainingItemCount` says so, or
 * the pages read do), when it keeps more than PREFETCH_MAX_ITEMS, or when the cluster refuses it (RBAC that grants
 * namespaces one by one, an expired continue token). Then those namespaces are read one by one, and the pages
 * already read are the only cost.
 */
async function pagesOf<T>(
  namespaces: number,
  read: (page: { limit: number; continueToken?: string }) => Promise<Page<T>>,
  keep: (item: T) => boolean,
): Promise<Page<T> | undefined> {
  const maxPages = Math.max(1, Math.floor(namespaces / 2));
  const items: T[] = [];
  let first: { apiVersion?: string; kind?: string; resourceVersion?: string } | undefined;
  let continueToken: string | undefined;
  for (let pages = 1; ; pages++) {
    let page: Page<T>;
    try {
      page = await read({ limit: PREFETCH_PAGE, continueToken });
    } catch (err) {
      if (err instanceof KubeError) return undefined;
      throw err;
    }
    // The first page's header only: its items are not held beyond this page.
    first ??= { apiVersion: page.apiVersion, kind: page.kind, resourceVersion: page.metadata?.resourceVersion };
    for (const item of page.items) if (keep(item)) items.push(item);
    if (items.length > PREFETCH_MAX_ITEMS) return undefined;
    continueToken = page.metadata?.continue || undefined;
    if (!continueToken) break;
    const remaining = page.metadata?.remainingItemCount;
    if (pages + (remaining === undefined ? 1 : Math.ceil(remaining / PREFETCH_PAGE)) > maxPages) return undefined;
  }
  return {
    apiVersion: first?.apiVersion,
    kind: first?.kind,
    metadata: { resourceVersion: first?.resourceVersion },
    items,
  };
}
