// Owns GET /v1/audit: the streamed audit export (JSON lines or CSV).
import { Controller, Get, Logger, Query, Res } from '@nestjs/common';
import { startStream, type HttpReply } from '../common/http-reply.js';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { AuditExportService, csvLine, CSV_COLUMNS, jsonLine } from './audit-export.service.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { AuditExportQuery } from './audit-export.service.js';

@Controller('v1/audit')
export class AuditExportController {
  private readonly logger = new Logger(AuditExportController.name);

  constructor(private readonly exporter: AuditExportService) {}

  /**
   * `GET /v1/audit?actor&cluster&namespace&action&requestId&since&until&format=jsonl|csv`, streamed
   * page by page (never the whole result in memory) as an attachment. Errors before the first byte
   * are ordinary JSON errors; one after it aborts the transfer, so a cut export never looks complete.
   */
  @ApiOperation({
    operationId: 'exportAudit',
    tag: 'audit',
    summary: 'Export audit events as JSON lines or CSV (streamed)',
    description:
      'Filters by actor, cluster, namespace, action (`request.*` patterns), request and time range (`since` ' +
      'inclusive, `until` exclusive). Streamed page by page as an attachment; an error after the first byte aborts ' +
      'the transfer, so a cut export never looks complete. Non-admin callers get the events within their scopes.',
    roles: ['viewer', 'requester', 'approver'],
    query: AuditExportQuery,
    responses: {
      200: {
        description:
          'one audit event per JSON line (`format=jsonl`, default) or CSV row (`format=csv`, with a header row)',
        schema: R.AuditEventSchema,
        media: 'export',
      },
    },
    errors: ['VALIDATION_FAILED'],
  })
  @Get()
  async export(@Query() query: unknown, @Res() reply: HttpReply, @CurrentActor() actor: Actor) {
    const filter = this.exporter.prepare(query ?? {}, actor);
    const pages = this.exporter.pages(filter, actor);
    const first = await pages.next(); // a failing query still answers with a proper error
    const csv = filter.format === 'csv';
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const res = startStream(reply, 200, {
      'Content-Type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="audit-${stamp}.${csv ? 'csv' : 'jsonl'}"`,
      'Cache-Control': 'no-store',
    });
    let closed = false;
    res.on('close', () => (closed = true));
    const write = async (chunk: string) => {
      if (res.write(chunk) || closed) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    };
    try {
      if (csv) await write(CSV_COLUMNS.join(',') + '\r\n');
      for (let page = first; !page.done && !closed; page = await pages.next()) {
        await write(page.value.map(csv ? csvLine : jsonLine).join(''));
      }
      res.end();
    } catch (err) {
      this.logger.error(`audit export aborted: ${(err as Error).message}`);
      res.destroy();
    } finally {
      await pages.return(undefined);
    }
  }
}
