// Fault injection and the request log. Faults answer like a real apiserver (or its network) would:
// a Kubernetes Status with the right reason, a Retry-After header, a dropped socket (its stream on HTTP/2), or no
// answer.

import { randomUUID } from 'node:crypto';

export interface FaultRule {
  verb?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  status?: number;
  reason?: string;
  message?: string;
  retryAfterSeconds?: number;
  /** 0..1, default 1. */
  probability?: number;
  /** How many matching requests the rule affects before it expires. */
  times?: number;
  latencyMs?: number;
  /** End the request without answering: its socket on HTTP/1.1, its stream (RST_STREAM) on HTTP/2. */
  drop?: boolean;
  /** Hold the request open and never answer. */
  timeout?: boolean;
  /** The Status names no object in `details` (as kube-apiserver's answer for a path it serves nothing at). */
  bare?: boolean;
  /** Answer 200 and end at once with no body: a watch that a proxy (or the server) closes as soon as it opens. */
  end?: boolean;
  /**
   * Carry the request out first, then answer with the fault (or drop it): a write the API server applied whose
   * answer was lost (a reset connection, a proxy's timeout, an etcd timeout after the commit).
   */
  applied?: boolean;
}

export interface RequestAttributes {
  verb: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface FaultDecision {
  latencyMs: number;
  /** The rule that answers instead of the apiserver, if any. */
  rule?: FaultRule & { id: string };
}

export interface FaultController {
  setLatency(ms: number): void;
  readonly latencyMs: number;
  add(rule: FaultRule): string;
  remove(id: string): boolean;
  clear(): void;
  list(): (FaultRule & { id: string; hits: number })[];
}

interface ActiveRule extends FaultRule {
  id: string;
  hits: number;
}

function ruleMatches(rule: FaultRule, req: RequestAttributes): boolean {
  if (rule.verb && rule.verb !== req.verb) return false;
  if (rule.resource) {
    const full = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
    if (rule.resource !== req.resource && rule.resource !== full) return false;
  }
  if (rule.namespace !== undefined && rule.namespace !== (req.namespace ?? '')) return false;
  if (rule.name !== undefined && rule.name !== (req.name ?? '')) return false;
  return true;
}

export class Faults implements FaultController {
  private latency = 0;
  private rules: ActiveRule[] = [];

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('latency must be a non-negative number of milliseconds');
    this.latency = ms;
  }

  get latencyMs(): number {
    return this.latency;
  }

  add(rule: FaultRule): string {
    validateRule(rule);
    const id = randomUUID();
    this.rules.push({ ...rule, id, hits: 0 });
    return id;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  list(): (FaultRule & { id: string; hits: number })[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** Decides what happens to a request; counts hits and expires rules that used up `times`. */
  decide(req: RequestAttributes): FaultDecision {
    const decision: FaultDecision = { latencyMs: this.latency };
    for (const rule of [...this.rules]) {
      if (!ruleMatches(rule, req)) continue;
      if (Math.random() >= (rule.probability ?? 1)) continue;
      rule.hits++;
      if (rule.times !== undefined && rule.hits >= rule.times) this.remove(rule.id);
      decision.latencyMs += rule.latencyMs ?? 0;
      if (!decision.rule && (rule.status !== undefined || rule.drop || rule.timeout || rule.end))
        decision.rule = { ...rule };
    }
    return decision;
  }
}

export function validateRule(rule: unknown): asserts rule is FaultRule {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule))
    throw new TypeError('a fault rule must be an object');
  const r = rule as Record<string, unknown>;
  for (const key of ['verb', 'resource', 'namespace', 'name', 'reason', 'message'])
    if (r[key] !== undefined && typeof r[key] !== 'string')
      throw new TypeError(`fault rule field ${key} must be a string`);
  for (const key of ['status', 'retryAfterSeconds', 'probability', 'times', 'latencyMs'])
    if (r[key] !== undefined && (typeof r[key] !== 'number' || !Number.isFinite(r[key])))
      throw new TypeError(`fault rule field ${key} must be a number`);
  for (const key of ['drop', 'timeout', 'bare', 'end', 'applied'])
    if (r[key] !== undefined && typeof r[key] !== 'boolean')
      throw new TypeError(`fault rule field ${key} must be a boolean`);
  if (r.status !== undefined && ((r.status as number) < 400 || (r.status as number) > 599))
    throw new RangeError('fault status must be 4xx or 5xx');
  if (r.probability !== undefined && ((r.probability as number) < 0 || (r.probability as number) > 1))
    throw new RangeError('probability must be within 0..1');
}

// ------------------------------------------------------------------ request log

export interface RequestLogEntry {
  method: string;
  /** Kubernetes RBAC verb: get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  status: number;
  contentType?: string;
  userAgent?: string;
  /** The W3C trace context the client sent (kube-apiserver continues it when its tracing is on). */
  traceparent?: string;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  /** The HTTP version the request came over: 'h2' (TLS, ALPN) or 'http/1.1'. */
  protocol: 'h2' | 'http/1.1';
  path: string;
  query: string;
  durationMs: number;
  /** Set when a fault rule or global latency shaped the answer. */
  fault?: 'error' | 'drop' | 'timeout' | 'end';
  /** The authenticated user (`kubernetes-admin` for the emulator's token, `system:serviceaccount:<ns>:<name>`). */
  user?: string;
}

export type RequestFilter = Partial<
  Pick<
    RequestLogEntry,
    | 'method'
    | 'verb'
    | 'apiGroup'
    | 'apiVersion'
    | 'resource'
    | 'subresource'
    | 'namespace'
    | 'name'
    | 'status'
    | 'fault'
    | 'user'
  >
>;

export interface RequestLog {
  all(): RequestLogEntry[];
  clear(): void;
  count(filter?: RequestFilter | ((entry: RequestLogEntry) => boolean)): number;
}

export class RequestRecorder implements RequestLog {
  private entries: RequestLogEntry[] = [];

  push(entry: RequestLogEntry): void {
    this.entries.push(entry);
  }

  all(): RequestLogEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  clear(): void {
    this.entries = [];
  }

  count(filter?: RequestFilter | ((entry: RequestLogEntry) => boolean)): number {
    if (!filter) return this.entries.length;
    if (typeof filter === 'function') return this.entries.filter(filter).length;
    const wanted = Object.entries(filter) as [keyof RequestLogEntry, unknown][];
    return this.entries.filter((e) => wanted.every(([k, v]) => e[k] === v)).length;
  }
}
