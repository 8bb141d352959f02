// Owns "who is calling" for code far below the edge that must not tell every caller the same thing
// (the list of clusters is for admins only). An AsyncLocalStorage slot per HTTP call or WebSocket
// operation, filled once the caller is authenticated.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Actor } from './actor.js';

const store = new AsyncLocalStorage<{ actor?: Actor }>();

/** Every HTTP call runs in an empty slot (authentication fills it later). */
export function withCallerSlot(next: () => void): void {
  store.run({}, next);
}

export function setCaller(actor: Actor): void {
  const slot = store.getStore();
  if (slot) slot.actor = actor;
}

export function runAsCaller<T>(actor: Actor | undefined, fn: () => T): T {
  return store.run({ actor }, fn);
}

/** False outside a call (the worker) and for every non-admin. */
export function callerIsAdmin(): boolean {
  return store.getStore()?.actor?.roles.includes('admin') ?? false;
}
