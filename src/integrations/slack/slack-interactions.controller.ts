// Owns the HTTP edge of Slack interactivity: POST /v1/integrations/slack/interactions, public (no bearer
// token: Slack signs the request instead), answered within Slack's 3 s with a short line.
import { Controller, HttpCode, HttpException, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { raw } from 'body-parser';
import { Public } from '../../auth/auth.guard.js';
import { DomainError } from '../../common/domain-error.js';
import { SlackInteractionService } from './slack-interactions.service.js';
import { ApiOperation, DECISION_ERRORS } from '../../docs/api-operation.js';
import * as R from '../../docs/response-schemas.js';
import { SlackInteractionFormSchema } from './slack-interactions.service.js';

// Slack posts application/x-www-form-urlencoded; the HMAC is over these exact bytes, so they are read
// raw here (the app's global parser only handles JSON). Compressed bodies are refused: Slack signs plain ones.
const readRaw = raw({ type: 'application/x-www-form-urlencoded', limit: '64kb', inflate: false });

const header = (req: Request, name: string) => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

function rawBody(req: Request, res: Response): Promise<Buffer> {
  // A body of any other type was refused at the edge (common/json-content-type.ts) before it was parsed or this
  // handler ran; what is left here is a call without a body that names no form type.
  const type = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    return Promise.reject(
      new DomainError('UNSUPPORTED_MEDIA_TYPE', 'expected an application/x-www-form-urlencoded body'),
    );
  // On Fastify the platform's form parser has already read the bytes (src/http/platform.ts), as a Buffer.
  if (Buffer.isBuffer(req.body)) {
    const encoding = req.headers['content-encoding'] ?? 'identity';
    return encoding === 'identity'
      ? Promise.resolve(req.body)
      : Promise.reject(new DomainError('MALFORMED_REQUEST', 'the body could not be read'));
  }
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

@Controller('v1/integrations/slack')
export class SlackInteractionsController {
  constructor(private readonly slack: SlackInteractionService) {}

  /** Slack's interactivity request URL: Approve/Reject button presses. */
  @Public()
  @ApiOperation({
    operationId: 'slackInteraction',
    tag: 'integrations',
    summary: "Slack's interactivity request URL: Approve/Reject button presses",
    description:
      "Called by Slack, not with a bearer token: the request must carry Slack's signature (`X-Slack-Signature: " +
      'v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`) and a `X-Slack-Request-Timestamp` within ' +
      '5 minutes; a signed request is accepted once. The pressing Slack user acts as the identity SLACK_USER_MAP ' +
      'gives them, under the rules of `/v1/onboardings/{id}/approve` and `/reject` (a reject gives the reason ' +
      '"rejected in Slack by slack:<user>"). Presses of other buttons and other interaction types are answered 200 ' +
      'and ignored.',
    body: SlackInteractionFormSchema,
    bodyRequired: true,
    bodyMedia: 'form',
    example: {
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: 'U0123ABCD', username: 'alice' },
        actions: [{ action_id: 'osm-onboarding.approve', value: '7c9e6679-7425-40de-944b-e07fc1f90ae7' }],
      }),
    },
    headers: ['X-Slack-Signature', 'X-Slack-Request-Timestamp'],
    responses: {
      200: {
        description: 'the decision was taken (or the press was not ours)',
        schema: R.SlackInteractionAnswerSchema,
      },
    },
    errors: [
      'SLACK_SIGNATURE_MISSING',
      'SLACK_SIGNATURE_INVALID',
      'SLACK_REQUEST_STALE',
      'SLACK_REQUEST_REPLAYED',
      'SLACK_USER_NOT_MAPPED',
      'SLACK_NOT_CONFIGURED',
      'UNSUPPORTED_MEDIA_TYPE',
      'VALIDATION_FAILED',
      'FORBIDDEN',
      ...DECISION_ERRORS,
      'DEPENDENCY_UNAVAILABLE',
    ],
  })
  @Post('interactions')
  @HttpCode(200)
  interactions(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.slack.handle(
      { timestamp: header(req, 'x-slack-request-timestamp'), signature: header(req, 'x-slack-signature') },
      () => rawBody(req, res),
    );
  }
}
