import { Injectable } from '@nestjs/common';
import { Prisma } from '../generated/prisma/client.js';
import type { Approval, OnboardingRequest, RequestKind, RequestStatus, StepRun } from '../generated/prisma/client.js';
import { PrismaService } from '../database/prisma.service.js';
import { isOurId } from '../common/domain-error.js';
import { readInstant } from '../common/instant.js';
import { GroupInsert } from './group-insert.js';
import { globMatch, scopesInclude } from '../auth/scopes.js';

export type RequestWithSteps = OnboardingRequest & { steps: StepRun[]; approvals: Approval[] };

const WITH_STEPS = {
  steps: { orderBy: { position: 'asc' as const } },
  approvals: { orderBy: { createdAt: 'asc' as const } },
};

export interface RequestFilter {
  cluster?: string | null;
  namespace?: string | null;
  meshName?: string | null;
  kind?: RequestKind | null;
  status?: RequestStatus | null;
  requestedBy?: string | null;
}

export const ACTIVE_STATUSES: RequestStatus[] = ['PENDING_APPROVAL', 'QUEUED', 'RUNNING'];
export const ACTIVE_TARGET_INDEX = 'onboarding_request_active_target_key';

interface PageCursor {
  createdAt: string;
  id: string;
}

export const encodeCursor = (r: { createdAt: Date; id: string }) =>
  Buffer.from(JSON.stringify({ createdAt: r.createdAt.toISOString(), id: r.id })).toString('base64url');

/**
 * A cursor encodeCursor made, or undefined: its id a UUID and its time an ISO instant of years 0001-9999, as
 * toISOString writes a stored one. Anything else (a time out of Postgres' range, an id that is no uuid) would fail
 * the page's query.
 */
export function decodeCursor(cursor: string): PageCursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as PageCursor;
    if (typeof c.id !== 'string' || !isOurId(c.id) || typeof c.createdAt !== 'string') return undefined;
    // An instant common/instant.ts reads (years 0001-9999), written exactly as toISOString writes it.
    const read = readInstant(c.createdAt);
    if ('ms' in read && new Date(read.ms).toISOString() === c.createdAt) return c;
  } catch {
    /* fall through */
  }
  return undefined;
}

/** What a new request stores: its row, its step runs and its first audit event (seq 1). */
export interface NewRequestRows {
  request: OnboardingRequest;
  steps: { id: string; name: string; position: number; output: string | null }[];
  event: { actor: string; action: string; target: string; data: string };
}

/** The first audit event of a stored request: its id and timestamp. */
type StoredEvent = { id: bigint; createdAt: Date };

/** Requests per group statement at most (group-insert.ts). */
export const GROUP_MAX = 32;

/**
 * One new request: its row, its step runs and its first audit event in ONE statement (one round trip, atomic
 * without BEGIN/COMMIT; inside a caller's transaction it joins it). The request row is written with event_seq =
 * 1, so the event takes seq 1. A prepared statement (PREPARED in database/prisma.service.ts): its text is fixed,
 * every value a parameter. Timestamps go as ISO strings with their zone, independent of the session's TimeZone.
 * insertMany writes the same rows; it is not used for one request because its array form costs more there (one
 * connection, 4 rounds: 288–322 requests/s against 337–392). request-insert.spec.ts checks the two store alike.
 */
function insertOne({ request: r, steps, event }: NewRequestRows): Prisma.Sql {
  return Prisma.sql`/* prepared */
      WITH r AS (
        INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
          idempotency_key, body_hash,
                                        approvals_required, approval_rule, batch_id, origin, attempt, event_seq,
                                          created_at, updated_at,
                                        dry_run, mesh_wide_changes)
        VALUES (${r.id}::uuid, ${r.kind}::"RequestKind", ${r.cluster}, ${r.namespace}, ${r.meshName},
          ${JSON.stringify(r.options)}::jsonb,
                ${r.status}::"RequestStatus", ${r.requestedBy}, ${r.idempotencyKey}, ${r.bodyHash},
                  ${r.approvalsRequired}, ${r.approvalRule},
                ${r.batchId}::uuid, ${r.origin === null ? null : JSON.stringify(r.origin)}::jsonb, ${r.attempt},
                  ${r.eventSeq},
                ${r.createdAt.toISOString()}::timestamptz, ${r.updatedAt.toISOString()}::timestamptz,
                ${r.dryRun}::boolean, ${r.meshWideChanges}::text[])
        ON CONFLICT (requested_by, idempotency_key) DO NOTHING
        RETURNING id
      ), s AS (
        INSERT INTO step_run (id, request_id, position, name, output)
        SELECT u.id, r.id, u.position, u.name, u.output::jsonb
        FROM r, unnest(${steps.map((s) => s.id)}::uuid[], ${steps.map((s) => s.position)}::int[],
          ${steps.map((s) => s.name)}::text[],
                       ${steps.map((s) => s.output)}::text[]) AS u(id, position, name, output)
      )
      INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, data)
      SELECT r.id, ${r.eventSeq}, ${event.actor}, ${event.action}, ${r.cluster}, ${r.namespace}, ${event.target},
        ${event.data}::jsonb
      FROM r
      RETURNING id, created_at AS "createdAt"`;
}

/**
 * Several new requests in ONE statement, as insertOne writes each: every column an array parameter, one element
 * per request (a request's mesh_wide_changes, itself an array, as JSON text), so the text stays fixed and
 * prepared. A request whose Idempotency-Key is taken is skipped (no row, no steps, no event); any other
 * constraint violation fails the whole statement (GroupInsert then writes each alone).
 */
function insertMany(items: NewRequestRows[]): Prisma.Sql {
  const col = <T>(f: (r: OnboardingRequest) => T) => items.map((i) => f(i.request));
  const steps = items.flatMap((i) => i.steps.map((s) => ({ ...s, requestId: i.request.id })));
  return Prisma.sql`/* prepared */
      WITH r AS (
        INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
          idempotency_key, body_hash, approvals_required, approval_rule, batch_id, origin, attempt, event_seq,
          created_at, updated_at, dry_run, mesh_wide_changes)
        SELECT u.id, u.kind::"RequestKind", u.cluster, u.namespace, u.mesh_name, u.options::jsonb,
          u.status::"RequestStatus", u.requested_by, u.idempotency_key, u.body_hash, u.approvals_required,
          u.approval_rule, u.batch_id, u.origin::jsonb, u.attempt, u.event_seq, u.created_at, u.updated_at,
          u.dry_run, ARRAY(SELECT jsonb_array_elements_text(u.mesh_wide_changes::jsonb))
        FROM unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.kind)}::text[], ${col((r) => r.cluster)}::text[],
          ${col((r) => r.namespace)}::text[], ${col((r) => r.meshName)}::text[],
          ${col((r) => JSON.stringify(r.options))}::text[], ${col((r) => r.status)}::text[],
          ${col((r) => r.requestedBy)}::text[], ${col((r) => r.idempotencyKey)}::text[],
          ${col((r) => r.bodyHash)}::text[], ${col((r) => r.approvalsRequired)}::int[],
          ${col((r) => r.approvalRule)}::text[], ${col((r) => r.batchId)}::uuid[],
          ${col((r) => (r.origin === null ? null : JSON.stringify(r.origin)))}::text[], ${col((r) => r.attempt)}::int[],
          ${col((r) => r.eventSeq)}::int[], ${col((r) => r.createdAt.toISOString())}::timestamptz[],
          ${col((r) => r.updatedAt.toISOString())}::timestamptz[], ${col((r) => r.dryRun)}::boolean[],
          ${col((r) => JSON.stringify(r.meshWideChanges))}::text[])
          AS u(id, kind, cluster, namespace, mesh_name, options, status, requested_by, idempotency_key, body_hash,
            approvals_required, approval_rule, batch_id, origin, attempt, event_seq, created_at, updated_at, dry_run,
            mesh_wide_changes)
        ON CONFLICT (requested_by, idempotency_key) DO NOTHING
        RETURNING id, cluster, namespace, event_seq
      ), s AS (
        INSERT INTO step_run (id, request_id, position, name, output)
        SELECT u.id, r.id, u.position, u.name, u.output::jsonb
        FROM unnest(${steps.map((s) => s.requestId)}::uuid[], ${steps.map((s) => s.id)}::uuid[],
          ${steps.map((s) => s.position)}::int[], ${steps.map((s) => s.name)}::text[],
          ${steps.map((s) => s.output)}::text[]) AS u(request_id, id, position, name, output)
        JOIN r ON r.id = u.request_id
      )
      INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, data)
      SELECT r.id, r.event_seq, e.actor, e.action, r.cluster, r.namespace, e.target, e.data::jsonb
      FROM unnest(${items.map((i) => i.request.id)}::uuid[], ${items.map((i) => i.event.actor)}::text[],
        ${items.map((i) => i.event.action)}::text[], ${items.map((i) => i.event.target)}::text[],
        ${items.map((i) => i.event.data)}::text[]) AS e(request_id, actor, action, target, data)
      JOIN r ON r.id = e.request_id
      RETURNING request_id AS "requestId", id, created_at AS "createdAt"`;
}

/**
 * Requests and their step runs in Postgres. Status changes go through lifecycle/: request-lifecycle.ts (callers)
 * and run-store.ts (workers).
 */
@Injectable()
export class OnboardingRepository {
  /** New requests outside a transaction, written alone or in groups (group-insert.ts). */
  readonly group: GroupInsert<NewRequestRows, StoredEvent | null>;

  constructor(private readonly prisma: PrismaService) {
    this.group = new GroupInsert({
      // Past Prisma's query runtime (PrismaService.prepared).
      one: async (rows) => (await prisma.prepared<StoredEvent>(insertOne(rows)))[0] ?? null,
      many: async (items) => {
        const stored = await prisma.prepared<StoredEvent & { requestId: string }>(insertMany(items));
        const byRequest = new Map(stored.map((s) => [s.requestId, { id: s.id, createdAt: s.createdAt }]));
        return items.map((i) => byRequest.get(i.request.id) ?? null);
      },
      // Half the pool: the other connections stay free for reads and the lifecycle's writes.
      maxInFlight: Math.max(1, Math.floor(prisma.poolSize / 2)),
      maxGroup: GROUP_MAX,
      // A data exception (SQLSTATE class 22) or a constraint violation (23) may be one request's doing.
      retryAlone: (err) => {
        const code = (err as { code?: unknown } | null)?.code;
        return typeof code === 'string' && /^2[23]/.test(code);
      },
    });
  }

  /**
   * Stores a new request, its step runs and its first audit event: inside a caller's transaction (batches) in a
   * statement of its own there (insertOne); outside, in one statement alone or with other new requests that wait
   * (insertMany, group-insert.ts), atomic either way. Returns the event's id and timestamp, or null when the
   * caller's Idempotency-Key is already taken (then nothing is stored for it: the key's unique index is the ON
   * CONFLICT arbiter, checked before any other constraint for rows already committed; two inserts with one key that
   * pass that check at once can meet on another index instead, which the caller resolves by the key, see
   * OnboardingService.create). Other constraint violations surface as pg's error
   * (SQLSTATE 23505), or Prisma's raw-query error (P2010) inside a caller's transaction: see isUniqueViolation.
   */
  async insertNew(db: Pick<Prisma.TransactionClient, '$queryRaw'>, rows: NewRequestRows): Promise<StoredEvent | null> {
    // Inside a caller's transaction: its own statement there. Outside: with whatever waits (group-insert.ts).
    if (db !== this.prisma) return (await db.$queryRaw<StoredEvent[]>(insertOne(rows)))[0] ?? null;
    return this.group.insert(rows);
  }

  findById(id: string): Promise<RequestWithSteps | null> {
    return this.prisma.onboardingRequest.findUnique({ where: { id }, include: WITH_STEPS });
  }

  /** A request's target and creation time only (one indexed read): what a scope check and a cursor check need. */
  findTarget(id: string): Promise<{ cluster: string; namespace: string; createdAt: Date } | null> {
    return this.prisma.onboardingRequest.findUnique({
      where: { id },
      select: { cluster: true, namespace: true, createdAt: true },
    });
  }

  findByIdempotencyKey(requestedBy: string, idempotencyKey: string): Promise<RequestWithSteps | null> {
    return this.prisma.onboardingRequest.findUnique({
      where: { requestedBy_idempotencyKey: { requestedBy, idempotencyKey } },
      include: WITH_STEPS,
    });
  }

  /**
   * A batch's members with their steps; with `scopes` (a caller who is not an admin), only those in its scopes. The
   * scopes' query (scopeWhere) reads the targets of the members it lets through (a superset for a scope with more
   * than one `*`), each is checked exactly (scopesInclude), and only then are the visible ones loaded with their steps:
   * for an exact or one-`*` scope nothing of a member it may not see is read, and for a wider one only its target.
   */
  async findByBatch(batchId: string, scopes: readonly string[] | null = null): Promise<RequestWithSteps[]> {
    const order = [{ createdAt: 'asc' as const }, { namespace: 'asc' as const }];
    if (scopes === null) {
      return this.prisma.onboardingRequest.findMany({ where: { batchId }, include: WITH_STEPS, orderBy: order });
    }
    const scoped = scopesWhere(scopes);
    if (scoped === 'none') return [];
    const targets = await this.prisma.onboardingRequest.findMany({
      where: { batchId, ...scoped },
      select: { id: true, cluster: true, namespace: true },
    });
    const ids = targets.filter((t) => scopesInclude(scopes, t.cluster, t.namespace)).map((t) => t.id);
    if (ids.length === 0) return [];
    return this.prisma.onboardingRequest.findMany({ where: { id: { in: ids } }, include: WITH_STEPS, orderBy: order });
  }

  /**
   * The other request for the same target that last began running after `request` was made, if any (a dry run made
   * earlier and applied later counts: it ran since).
   */
  ranSince(request: Pick<OnboardingRequest, 'id' | 'cluster' | 'namespace' | 'createdAt'>) {
    const { id, cluster, namespace, createdAt } = request;
    return this.prisma.onboardingRequest.findFirst({
      where: { cluster, namespace, startedAt: { gt: createdAt }, id: { not: id } },
      select: { id: true, kind: true },
      orderBy: { startedAt: 'desc' },
    });
  }

  findActive(cluster: string, namespace: string): Promise<OnboardingRequest | null> {
    return this.prisma.onboardingRequest.findFirst({ where: { cluster, namespace, status: { in: ACTIVE_STATUSES } } });
  }

  /**
   * Newest first, keyset-paged on (createdAt, id). `scopes` null = everything; otherwise only targets matching one of
   * the `<cluster>/<namespace>` globs, exactly as a direct read checks them (inScope): none at all = nothing. The
   * globs narrow the query (scopeWhere, a superset for a `*` in the middle) and each row is then checked; a page
   * short of `first` after that check reads on from the last row it read (SCAN_CHUNK rows at a time); after MAX_SCANNED
   * rows it ends short, `hasMore` and `resumeAt` (the last row read) saying where the next page starts.
   */
  async page(
    filter: RequestFilter,
    first: number,
    after?: PageCursor,
    scopes: string[] | null = null,
  ): Promise<{ items: RequestWithSteps[]; hasMore: boolean; resumeAt?: { createdAt: Date; id: string } }> {
    const scoped = scopesWhere(scopes);
    if (scoped === 'none') return { items: [], hasMore: false };
    // A namespace filter no scope can match answers at once: a scan of that namespace's rows, all hidden, would
    // tell by its end (a short page, an `r1.` cursor) or its time how many requests it holds.
    if (scopes !== null && filter.namespace && !scopesAllow(scopes, filter.cluster ?? null, filter.namespace)) {
      return { items: [], hasMore: false };
    }
    const base: Prisma.OnboardingRequestWhereInput = {
      ...scoped,
      cluster: filter.cluster ?? undefined,
      namespace: filter.namespace ?? undefined,
      meshName: filter.meshName ?? undefined,
      kind: filter.kind ?? undefined,
      status: filter.status ?? undefined,
      requestedBy: filter.requestedBy ?? undefined,
    };
    const matches = (r: OnboardingRequest) => scopes === null || scopesInclude(scopes, r.cluster, r.namespace);
    const items: RequestWithSteps[] = [];
    let scanned = 0;
    for (let from = after; ;) {
      // The first read takes what the page needs; a page the check left short reads on in chunks of SCAN_CHUNK.
      const take = scanned === 0 ? first + 1 : Math.max(first + 1 - items.length, SCAN_CHUNK);
      const rows = await this.prisma.onboardingRequest.findMany({
        where: from ? { ...base, ...olderThan(from) } : base,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take,
        include: WITH_STEPS,
      });
      scanned += rows.length;
      items.push(...rows.filter(matches));
      const last = rows.at(-1);
      if (items.length > first || rows.length < take || !last) break;
      from = { createdAt: last.createdAt.toISOString(), id: last.id };
      // A page short of `first` after MAX_SCANNED rows ends there; the next one starts after the last row read.
      if (scanned >= MAX_SCANNED) return { items, hasMore: true, resumeAt: { createdAt: last.createdAt, id: last.id } };
    }
    return { items: items.slice(0, first), hasMore: items.length > first };

    function olderThan(cursor: PageCursor): Prisma.OnboardingRequestWhereInput {
      const at = new Date(cursor.createdAt);
      // `createdAt <= at` bounds the index scan; the OR alone would be a filter over every newer row.
      return { createdAt: { lte: at }, OR: [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: cursor.id } }] };
    }
  }
}

/** Rows a scoped page reads at a time, and at most: a bound on one call's work whatever the scopes' shapes. */
const SCAN_CHUNK = 100;
const MAX_SCANNED = 2000;

/** A LIKE operand that matches `text` literally (Prisma passes startsWith/endsWith/contains values unescaped). */
const literal = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * One glob as conditions on one column: `*` = none, `x` = equal; otherwise the text before the first `*` starts the
 * value, the text after the last ends it and each part between is contained. Exact for one `*`; a superset with
 * more (order and overlap are not checked), which page() narrows by matching each row.
 */
function globWhere(column: 'cluster' | 'namespace', glob: string): Prisma.OnboardingRequestWhereInput[] {
  const parts = glob.split('*');
  if (parts.length === 1) return [{ [column]: { equals: glob } }];
  const head = parts[0];
  const tail = parts.at(-1) ?? '';
  const conditions: Prisma.OnboardingRequestWhereInput[] = [];
  if (head) conditions.push({ [column]: { startsWith: literal(head) } });
  if (tail) conditions.push({ [column]: { endsWith: literal(tail) } });
  for (const middle of parts.slice(1, -1).filter(Boolean)) conditions.push({ [column]: { contains: literal(middle) } });
  return conditions;
}

/** Whether some scope can match `namespace`, in `cluster` when one is given (a list filter's pair). */
function scopesAllow(scopes: readonly string[], cluster: string | null, namespace: string): boolean {
  return scopes.some((s) => {
    const [c, n] = s.split('/');
    return (cluster === null || globMatch(c, cluster)) && globMatch(n ?? '', namespace);
  });
}

/**
 * The query part of a scope check: `{}` for everything (`scopes` null: an admin), 'none' when no scope names
 * namespaces (mesh grants only: Prisma reads `OR: []` as no condition at all), else one OR of scopeWhere inside an
 * AND (Prisma answers nothing for a top-level OR whose member is an empty AND, the form `*` /`*` takes).
 */
function scopesWhere(scopes: readonly string[] | null): Prisma.OnboardingRequestWhereInput | 'none' {
  if (scopes === null) return {};
  const targets = scopes.filter((s) => !s.split('/')[1]?.startsWith('mesh:'));
  return targets.length === 0 ? 'none' : { AND: [{ OR: targets.map(scopeWhere) }] };
}

function scopeWhere(scope: string): Prisma.OnboardingRequestWhereInput {
  const [c, n] = scope.split('/');
  return { AND: [...globWhere('cluster', c), ...globWhere('namespace', n ?? '')] };
}

/**
 * Retention's removal of finished requests it has exported (with their step runs and approvals), inside the
 * caller's transaction: request rows are written only here and in the lifecycle layer.
 */
export async function removeRetainedRequests(
  db: { query(sql: string, params: unknown[]): Promise<unknown> },
  ids: string[],
): Promise<void> {
  await db.query('DELETE FROM step_run WHERE request_id = ANY($1::uuid[])', [ids]);
  await db.query('DELETE FROM approval WHERE request_id = ANY($1::uuid[])', [ids]);
  await db.query('DELETE FROM onboarding_request WHERE id = ANY($1::uuid[])', [ids]);
}
