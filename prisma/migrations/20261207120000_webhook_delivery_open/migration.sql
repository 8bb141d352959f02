-- Each owner's open webhook deliveries (PENDING or RETRYING) are counted at every fan-out, to queue a large owner's
-- next ones behind other owners' (webhook-dispatcher.service.ts, queuePriority). Partial, so the count reads only the
-- open rows of the owner's subscriptions however many delivered ones the table keeps. SQL only (Prisma's schema
-- language has no partial index): see the comment on WebhookDelivery in schema.prisma.

-- CreateIndex
CREATE INDEX "webhook_delivery_open_idx" ON "webhook_delivery"("subscription_id") WHERE "status" IN ('PENDING', 'RETRYING');
