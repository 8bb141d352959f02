// The audit export (API role): GET /v1/audit. An edge above auth/, kept apart from audit/ (the trail every part
// records into), so the trail imports nothing of auth/ or docs/.
import { Module } from '@nestjs/common';
import { AuditExportController } from './audit-export.controller.js';
import { AuditExportService } from './audit-export.service.js';

/** API role only: `GET /v1/audit` (JSON lines or CSV, streamed). */
@Module({ controllers: [AuditExportController], providers: [AuditExportService] })
export class AuditExportModule {}
