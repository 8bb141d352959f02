-- The audit trail, time-partitioned (one partition per calendar month, UTC), so retention
-- (src/retention/retention.service.ts) removes old history by exporting a whole partition, detaching it
-- CONCURRENTLY (no lock that blocks inserts) and dropping it: no row of the trail is ever updated or
-- deleted. Every other path stays refused: the append-only trigger is on the parent (row triggers are
-- cloned to each partition) and the TRUNCATE trigger is added to each partition as it is created.
--
-- Partitioning changes two constraints, because a unique index of a partitioned table must contain the
-- partition key: the primary key is (id, created_at) (id still comes from one sequence, so it stays unique),
-- and (request_id, seq) is a plain index (a request's seq comes from its row's event_seq counter, taken
-- in the same statement as the insert; that counter is what keeps it unique).
-- Existing rows are copied into the monthly partitions with their ids; the sequence carries on.

ALTER TABLE "audit_event" RENAME TO "audit_event_unpartitioned";
ALTER TABLE "audit_event_unpartitioned" RENAME CONSTRAINT "audit_event_pkey" TO "audit_event_unpartitioned_pkey";
ALTER TABLE "audit_event_unpartitioned" RENAME CONSTRAINT "audit_event_request_id_fkey" TO "audit_event_unpartitioned_request_id_fkey";
ALTER INDEX "audit_event_request_id_seq_key" RENAME TO "audit_event_unpartitioned_request_id_seq_key";
ALTER INDEX "audit_event_created_at_idx" RENAME TO "audit_event_unpartitioned_created_at_idx";
ALTER INDEX "audit_event_actor_created_at_idx" RENAME TO "audit_event_unpartitioned_actor_created_at_idx";
ALTER INDEX "audit_event_cluster_namespace_created_at_idx" RENAME TO "audit_event_unpartitioned_cluster_namespace_created_at_idx";
ALTER SEQUENCE "audit_event_id_seq" OWNED BY NONE;

CREATE TABLE "audit_event" (
    "id" BIGINT NOT NULL DEFAULT nextval('audit_event_id_seq'),
    "request_id" UUID,
    "seq" INTEGER,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "cluster" TEXT,
    "namespace" TEXT,
    "target" TEXT,
    "step" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("id", "created_at")
) PARTITION BY RANGE ("created_at");
ALTER SEQUENCE "audit_event_id_seq" OWNED BY "audit_event"."id";

CREATE INDEX "audit_event_request_id_seq_idx" ON "audit_event"("request_id", "seq");
CREATE INDEX "audit_event_created_at_idx" ON "audit_event"("created_at");
CREATE INDEX "audit_event_actor_created_at_idx" ON "audit_event"("actor", "created_at");
CREATE INDEX "audit_event_cluster_namespace_created_at_idx" ON "audit_event"("cluster", "namespace", "created_at");
ALTER TABLE "audit_event" ADD CONSTRAINT "audit_event_request_id_fkey" FOREIGN KEY ("request_id")
    REFERENCES "onboarding_request"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE TRIGGER "audit_event_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_event"
    FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();

-- The partition of the month holding `at` (UTC), named audit_event_pYYYYMM, created if missing. It is
-- created on its own and then ATTACHed (SHARE UPDATE EXCLUSIVE on the parent: inserts go on), with a
-- CHECK constraint matching its range so the attach needs no scan. Safe to race: a concurrent creator wins.
CREATE FUNCTION "audit_event_partition_for"("at" timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  month_start timestamp := date_trunc('month', "at" AT TIME ZONE 'UTC');
  lo timestamptz := month_start AT TIME ZONE 'UTC';
  hi timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
  part text := 'audit_event_p' || to_char(month_start, 'YYYYMM');
BEGIN
  IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'audit_event'::regclass AND c.relname = part) THEN
    RETURN part;
  END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE "audit_event" INCLUDING DEFAULTS, CONSTRAINT %I CHECK ("created_at" >= %L AND "created_at" < %L))',
                   part, part || '_range', lo, hi);
    EXECUTE format('CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"()', part);
    EXECUTE format('ALTER TABLE "audit_event" ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  EXCEPTION WHEN duplicate_table THEN
    NULL; -- created by a concurrent caller
  END;
  RETURN part;
END;
$$;

-- Every monthly partition from `from_ts` to `to_ts` (inclusive); returns how many exist in that span.
CREATE FUNCTION "audit_event_ensure_partitions"("from_ts" timestamptz, "to_ts" timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  m timestamptz := "from_ts";
  n integer := 0;
BEGIN
  WHILE m < "to_ts" + interval '1 month' LOOP
    PERFORM "audit_event_partition_for"(m);
    n := n + 1;
    m := m + interval '1 month';
  END LOOP;
  RETURN n;
END;
$$;

-- Partitions for the existing rows and for the months ahead (the service keeps 3 months ahead from then on).
SELECT "audit_event_ensure_partitions"(coalesce((SELECT min("created_at") FROM "audit_event_unpartitioned"), now()),
                                       now() + interval '3 months');

INSERT INTO "audit_event" ("id", "request_id", "seq", "actor", "action", "cluster", "namespace", "target", "step", "data", "created_at")
SELECT "id", "request_id", "seq", "actor", "action", "cluster", "namespace", "target", "step", "data", "created_at"
FROM "audit_event_unpartitioned";

-- DROP is not among the refused operations (the triggers refuse UPDATE, DELETE and TRUNCATE).
DROP TABLE "audit_event_unpartitioned";

-- Retention of finished requests (older than REQUEST_RETENTION_DAYS) finds them by finish time.
CREATE INDEX "onboarding_request_finished_at_idx" ON "onboarding_request"("finished_at") WHERE "finished_at" IS NOT NULL;

-- Lists, newest first, keyset-paged on (created_at, id), filtered by namespace alone or by status: an index
-- whose order is the page's order, so a page reads its rows and stops, however deep the cursor.
CREATE INDEX "onboarding_request_namespace_created_at_id_idx" ON "onboarding_request"("namespace", "created_at", "id");
DROP INDEX "onboarding_request_status_created_at_idx";
CREATE INDEX "onboarding_request_status_created_at_id_idx" ON "onboarding_request"("status", "created_at", "id");
