import { requestOf, startStream, type HttpReply } from '../common/http-reply.js';
import { watchCredential } from '../auth/sessions.js';
import type { ProgressEvent } from './progress-event.js';

/**
 * Writes a progress stream as Server-Sent Events until it ends, the client goes away, or the
 * credential the stream was opened with ends (revoked, expired): then an `error` event says so
 * and the response ends; reconnecting with the same credential is refused (401).
 */
export async function writeSse(
  reply: HttpReply,
  stream: AsyncGenerator<ProgressEvent>,
  idOf: (e: ProgressEvent) => string | number,
): Promise<void> {
  const res = startStream(reply, 200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  let ended: (reason: string) => void = () => undefined;
  const credentialEnded = new Promise<{ ended: string }>((resolve) => (ended = (reason) => resolve({ ended: reason })));
  const unwatch = watchCredential(requestOf(reply), ended);
  res.on('close', () => void stream.return(undefined));
  try {
    // A client that left while the stream was being opened (authentication, Postgres reads): `close` has fired already,
    // and the stream would wait for events no one reads, holding its slot (stream-slots.ts), until its request ends.
    if (res.destroyed || !res.socket || res.socket.destroyed) {
      await stream.return(undefined);
      return;
    }
    for (;;) {
      // Waiting for the next event must not keep a revoked stream open until that event comes.
      const next = await Promise.race([stream.next(), credentialEnded]);
      if ('ended' in next) {
        const error = { code: 'UNAUTHENTICATED', message: `the credential of this stream was ${next.ended}` };
        res.write(`event: error\ndata: ${JSON.stringify({ error })}\n\n`);
        void stream.return(undefined);
        return;
      }
      if (next.done) return;
      const event = next.value;
      res.write(`id: ${idOf(event)}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    }
  } finally {
    unwatch();
    clearInterval(keepAlive);
    res.end();
  }
}
