-- CreateTable
CREATE TABLE "oidc_identity" (
    "actor_id" TEXT NOT NULL,
    "roles" TEXT[],
    "scopes" TEXT[],
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oidc_identity_pkey" PRIMARY KEY ("actor_id")
);
