// Owns what a handler or the exception filter does with the response object Nest hands it, whichever HTTP
// platform runs underneath (HTTP_PLATFORM, src/http/platform.ts): Express gives its Response (a Node
// ServerResponse), Fastify its reply (the Node response is `reply.raw`). Handlers that answer themselves
// (streams, files, text) go through these helpers, so both platforms send the same status, headers and bytes.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** What `@Res({ passthrough: true })` is used for: both platforms' responses have these two. */
export interface PassthroughReply {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

/** The response object of either platform, as Nest hands it to a handler or a filter. */
export type HttpReply = object;

interface FastifyLike {
  raw: ServerResponse;
  request: object;
  sent: boolean;
  hijack(): void;
  code(status: number): FastifyLike;
  header(name: string, value: string): FastifyLike;
  send(body?: unknown): unknown;
}

const isFastify = (res: HttpReply): res is FastifyLike => typeof (res as Partial<FastifyLike>).hijack === 'function';

/** The Node response underneath. */
export function nodeResponse(res: HttpReply): ServerResponse {
  return isFastify(res) ? res.raw : (res as ServerResponse);
}

/** The request object the platform handed the handler (where authentication left its marks). */
export function requestOf(res: HttpReply): object {
  return isFastify(res) ? res.request : (res as ServerResponse & { req: IncomingMessage }).req;
}

/** True once the status line is out (the filter can then only end the response). */
export function headersSent(res: HttpReply): boolean {
  return isFastify(res) ? res.sent || res.raw.headersSent : (res as ServerResponse).headersSent;
}

/**
 * Answers with a body: an object is sent as JSON, a string or Buffer as is with `type` (Express and Fastify both
 * add `; charset=utf-8` to a JSON answer's type).
 */
export function send(
  res: HttpReply,
  opts: { status: number; body: unknown; type?: string; headers?: Record<string, string> },
): void {
  const r = res as FastifyLike;
  if (isFastify(res)) r.code(opts.status);
  else (res as unknown as { status(c: number): void }).status(opts.status);
  for (const [k, v] of Object.entries(opts.headers ?? {})) r.header(k, v);
  if (opts.type) r.header('Content-Type', opts.type);
  r.send(opts.body);
}

/**
 * Takes the response over for a stream the handler writes itself (Server-Sent Events, exports): the status and
 * headers go out at once, and the platform sends nothing more (Fastify: the reply is hijacked).
 */
export function startStream(res: HttpReply, status: number, headers: OutgoingHttpHeaders): ServerResponse {
  const raw = nodeResponse(res);
  if (isFastify(res)) res.hijack();
  raw.writeHead(status, headers);
  raw.flushHeaders();
  return raw;
}
