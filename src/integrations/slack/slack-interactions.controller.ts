// Owns the HTTP edge of Slack interactivity: POST /v1/integrations/slack/interactions, public (no bearer
// token: Slack signs the request instead), answered within Slack's 3 s with a short line.
import { Controller, HttpCode, HttpException, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { raw } from 'body-parser';
import { Public } from '../../auth/auth.guard.js';
import { DomainError } from '../../common/domain-error.js';
import { SlackInteractionService } from './slack-interactions.service.js';

// Slack posts application/x-www-form-urlencoded; the HMAC is over these exact bytes, so they are read
// raw here (the app's global parser only handles JSON). Compressed bodies are refused: Slack signs plain ones.
const readRaw = raw({ type: 'application/x-www-form-urlencoded', limit: '64kb', inflate: false });

function rawBody(req: Request, res: Response): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    readRaw(req, res, (err?: unknown) => {
      if (err) {
        const e = err as { status?: number; type?: string };
        return reject(
          e.type === 'entity.too.large'
            ? new HttpException('request body too large', 413)
            : new DomainError('MALFORMED_REQUEST', 'the body could not be read'),
        );
      }
      if (!Buffer.isBuffer(req.body)) {
        return reject(new DomainError('MALFORMED_REQUEST', 'expected an application/x-www-form-urlencoded body'));
      }
      resolve(req.body);
    });
  });
}

const header = (req: Request, name: string) => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

@Controller('v1/integrations/slack')
export class SlackInteractionsController {
  constructor(private readonly slack: SlackInteractionService) {}

  /** Slack's interactivity request URL: Approve/Reject button presses. */
  @Public()
  @Post('interactions')
  @HttpCode(200)
  interactions(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.slack.handle(
      { timestamp: header(req, 'x-slack-request-timestamp'), signature: header(req, 'x-slack-signature') },
      () => rawBody(req, res),
    );
  }
}
