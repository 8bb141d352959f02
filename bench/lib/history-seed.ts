// A year of history generated with SQL (generate_series) for the history bench: `requests` finished requests
// spread evenly over the last 365 days, 2 step runs each, and `eventsPerRequest` audit events each (seq 1..n,
// in the monthly partitions of the audit trail). Triggers are off for the seeding session only
// (session_replication_role = replica: the lifecycle guard would refuse rows born SUCCEEDED).

import type pg from 'pg';

export interface SeedShape {
  requests: number;
  eventsPerRequest: number;
  /** Distinct namespaces (spread over 10 clusters): about requests ÷ namespaces requests each. */
  namespaces: number;
}

export const SEED_CLUSTERS = 10;
const CHUNK = 50_000;

/** Seeds in chunks of requests (one transaction each, so progress shows and no statement runs for minutes). */
export async function seedHistory(
  db: pg.PoolClient | pg.Client,
  shape: SeedShape,
  progress: (done: number) => void = () => undefined,
): Promise<void> {
  await db.query(`SET session_replication_role = replica`);
  await db.query(`SET synchronous_commit = off`);
  await db.query(`SELECT audit_event_ensure_partitions(now() - interval '366 days', now())`);
  const span = 365 * 86_400; // seconds
  for (let from = 1; from <= shape.requests; from += CHUNK) {
    const to = Math.min(shape.requests, from + CHUNK - 1);
    const params = [from, to, shape.requests, span, shape.namespaces, SEED_CLUSTERS, shape.eventsPerRequest];
    await db.query('BEGIN');
    await db.query(
      `INSERT INTO onboarding_request (id, kind, cluster, namespace, mesh_name, options, status, requested_by,
                                       event_seq, created_at, updated_at, started_at, finished_at)
       SELECT md5('r' || g)::uuid, CASE WHEN g % 10 = 0 THEN 'OFFBOARD' ELSE 'ONBOARD' END::"RequestKind",
              'cluster-' || (g % $6::int), 'ns-' || (g % $5::int), 'osm', '{"restart":{"mode":"all"}}',
              (CASE WHEN g % 100 < 90 THEN 'SUCCEEDED' WHEN g % 100 < 97 THEN 'FAILED' ELSE 'CANCELLED' END)
                ::"RequestStatus",
              'seed', $7::int, t, t + interval '2 seconds', t + interval '1 second', t + interval '2 seconds'
         FROM generate_series($1::int, $2::int) g,
              LATERAL (SELECT now() - make_interval(secs => $4::float8 * ($3::int - g + 1) / $3::int)) AS x(t)`,
      params,
    );
    await db.query(
      `INSERT INTO step_run (id, request_id, position, name, status, result, attempts, started_at, finished_at,
                             duration_ms)
       SELECT md5('s' || g || '-' || p)::uuid, md5('r' || g)::uuid, p, (ARRAY['namespace','verify'])[p + 1],
              'SUCCEEDED', 'CHANGED', 1, now(), now(), 500
         FROM generate_series($1::int, $2::int) g, generate_series(0, 1) p`,
      [from, to],
    );
    await db.query(
      `INSERT INTO audit_event (request_id, seq, actor, action, cluster, namespace, target, step, data, created_at)
       SELECT md5('r' || g)::uuid, e, 'seed',
              CASE WHEN e = 1 THEN 'request.created' WHEN e = $5::int THEN 'request.succeeded'
                   WHEN e % 2 = 0 THEN 'step.started' ELSE 'step.succeeded' END,
              'cluster-' || (g % $4::int), 'ns-' || (g % $3::int), 'namespaces/ns-' || (g % $3::int),
              CASE WHEN e > 1 AND e < $5::int THEN 'namespace' END, jsonb_build_object('n', e),
              now() - make_interval(secs => $6::float8 * ($7::int - g + 1) / $7::int) + e * interval '100 milliseconds'
         FROM generate_series($1::int, $2::int) g, generate_series(1, $5::int) e
        ORDER BY g, e`,
      [from, to, shape.namespaces, SEED_CLUSTERS, shape.eventsPerRequest, span, shape.requests],
    );
    await db.query('COMMIT');
    progress(to);
  }
  await db.query(`RESET session_replication_role`);
  await db.query(`VACUUM ANALYZE onboarding_request`);
  await db.query(`VACUUM ANALYZE step_run`);
  await db.query(`VACUUM ANALYZE audit_event`);
}
