-- Approvals are never taken back (docs/governance.md), and four eyes reads them: whoever approved a request may not
-- retry or apply it. Like the audit trail, the approval table refuses UPDATE and TRUNCATE whoever asks, and DELETE
-- except of a finished request's approvals once none of its audit events is left: what retention removes with the
-- request row (src/onboarding/onboarding.repository.ts removeRetainedRequests, in the same transaction). Such a
-- request is never put forward again (its trail is not whole: OnboardingService.retry).

CREATE FUNCTION "approval_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (
            SELECT 1 FROM "onboarding_request" r
             WHERE r."id" = OLD."request_id" AND r."finished_at" IS NOT NULL
               AND r."status" IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED')
               AND NOT EXISTS (SELECT 1 FROM "audit_event" e WHERE e."request_id" = r."id")
        ) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'approval is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "approval_no_update_delete" BEFORE UPDATE OR DELETE ON "approval"
    FOR EACH ROW EXECUTE FUNCTION "approval_append_only"();

CREATE TRIGGER "approval_no_truncate" BEFORE TRUNCATE ON "approval"
    FOR EACH STATEMENT EXECUTE FUNCTION "approval_append_only"();
