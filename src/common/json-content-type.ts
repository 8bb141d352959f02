// The REST edge's media type: a /v1 request that carries a body must say it is JSON. Without this, express's JSON
// parser skips the body and the caller gets a confusing "namespace: must be a string"; here it gets a 415 that
// names the header. Bodiless calls (retry, apply, cancel without a reason) need no Content-Type. Slack's
// interactivity callbacks are form-encoded by Slack itself (src/integrations/slack), so that path is exempt.
const FORM_PATHS = new Set(['/v1/integrations/slack/interactions']);
import type { NextFunction, Request, Response } from 'express';
import { HTTP_STATUS } from './http-status.js';

export function requireJsonBodies() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const length = Number(req.headers['content-length']);
    const hasBody = req.headers['transfer-encoding'] !== undefined || length > 0;
    if (!hasBody || !req.path.startsWith('/v1/') || FORM_PATHS.has(req.path) || req.is(['application/json', '+json'])) {
      next();
      return;
    }
    const given = req.headers['content-type'];
    const got = given ? `"${given}"` : 'no Content-Type';
    res.status(HTTP_STATUS.UNSUPPORTED_MEDIA_TYPE).json({
      error: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `the body must be JSON with Content-Type: application/json (got ${got})`,
        hint: "curl: add -H 'content-type: application/json'",
      },
    });
  };
}
