-- One request lifecycle (src/onboarding/lifecycle/transitions.ts is the table; this migration is
-- the same table enforced by the database, so no code path, not even raw SQL, can skip a guard).

-- Distinct approvals given so far (one per approver: approval's unique (request_id, approver)).
-- Kept on the row so a transition's guard reads it from the row it locks (concurrent approvers
-- serialise on that row; a count of another table would be read from the statement's snapshot).
ALTER TABLE "onboarding_request" ADD COLUMN "approvals_given" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "dry_run" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "applied_at" TIMESTAMPTZ(3),
ADD COLUMN "mesh_wide_changes" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];

UPDATE "onboarding_request" r SET "approvals_given" =
  (SELECT count(*) FROM "approval" a WHERE a."request_id" = r."id" AND a."decision" = 'approve');
UPDATE "onboarding_request" r SET "dry_run" = true
  WHERE EXISTS (SELECT 1 FROM "audit_event" e WHERE e."request_id" = r."id" AND e."seq" = 1 AND e."action" = 'request.planned');
UPDATE "onboarding_request" SET "applied_at" = "updated_at" WHERE "dry_run" AND "status" <> 'PLANNED';

-- Requests queued without their approvals (the cancel → retry bypass of earlier versions) go back
-- to waiting for them, with an audit event saying why.
WITH held AS (
  UPDATE "onboarding_request" SET "status" = 'PENDING_APPROVAL', "event_seq" = "event_seq" + 1, "updated_at" = now()
  WHERE "status" = 'QUEUED' AND "approvals_given" < "approvals_required"
  RETURNING "id", "event_seq", "cluster", "namespace", "approvals_given", "approvals_required"
)
INSERT INTO "audit_event" ("request_id", "seq", "actor", "action", "cluster", "namespace", "target", "data")
SELECT "id", "event_seq", 'system:migration', 'request.pending-approval', "cluster", "namespace", 'namespaces/' || "namespace",
       jsonb_build_object('message', 'queued without its approvals; waits for them again', 'status', 'PENDING_APPROVAL',
                          'approvals', "approvals_given", 'required', "approvals_required")
FROM held;

-- The allowed status changes: (from, to). NULL from = a new row.
CREATE FUNCTION "onboarding_request_transition_allowed"("from" "RequestStatus", "to" "RequestStatus") RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (coalesce("from"::text, '') || '>' || "to"::text) = ANY (ARRAY[
    '>PLANNED', '>PENDING_APPROVAL', '>QUEUED',
    'PLANNED>PENDING_APPROVAL', 'PLANNED>QUEUED', 'PLANNED>CANCELLED',
    'PENDING_APPROVAL>QUEUED', 'PENDING_APPROVAL>REJECTED', 'PENDING_APPROVAL>CANCELLED',
    'QUEUED>RUNNING', 'QUEUED>CANCELLED',
    'RUNNING>SUCCEEDED', 'RUNNING>FAILED', 'RUNNING>CANCELLED', 'RUNNING>QUEUED',
    'FAILED>PLANNED', 'FAILED>PENDING_APPROVAL', 'FAILED>QUEUED',
    'CANCELLED>PLANNED', 'CANCELLED>PENDING_APPROVAL', 'CANCELLED>QUEUED'
  ])
$$;

CREATE FUNCTION "onboarding_request_lifecycle_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW."approvals_required" < OLD."approvals_required" OR NEW."approvals_given" < OLD."approvals_given" THEN
      RAISE EXCEPTION 'request %: approvals cannot be taken back', NEW."id" USING ERRCODE = 'check_violation',
        CONSTRAINT = 'onboarding_request_lifecycle';
    END IF;
    IF OLD."status" IS NOT DISTINCT FROM NEW."status" THEN
      RETURN NEW;
    END IF;
  END IF;
  IF NOT "onboarding_request_transition_allowed"(CASE WHEN TG_OP = 'UPDATE' THEN OLD."status" END, NEW."status") THEN
    RAISE EXCEPTION 'request %: % -> % is not a transition of the request lifecycle', NEW."id",
      CASE WHEN TG_OP = 'UPDATE' THEN OLD."status"::text ELSE '(new)' END, NEW."status"
      USING ERRCODE = 'check_violation', CONSTRAINT = 'onboarding_request_lifecycle';
  END IF;
  IF NEW."status" IN ('QUEUED', 'RUNNING') AND NEW."approvals_given" < NEW."approvals_required" THEN
    RAISE EXCEPTION 'request %: % needs % approval(s), has %', NEW."id", NEW."status", NEW."approvals_required",
      NEW."approvals_given" USING ERRCODE = 'check_violation', CONSTRAINT = 'onboarding_request_lifecycle';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "onboarding_request_lifecycle_insert" BEFORE INSERT ON "onboarding_request"
    FOR EACH ROW EXECUTE FUNCTION "onboarding_request_lifecycle_guard"();

-- Heartbeats and event cursors (most updates) change none of these columns and skip the function.
CREATE TRIGGER "onboarding_request_lifecycle_update" BEFORE UPDATE ON "onboarding_request"
    FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status"
                       OR OLD."approvals_given" IS DISTINCT FROM NEW."approvals_given"
                       OR OLD."approvals_required" IS DISTINCT FROM NEW."approvals_required")
    EXECUTE FUNCTION "onboarding_request_lifecycle_guard"();
