import type { Response } from 'express';
import type { ProgressEvent } from './progress-event.js';

/** Writes a progress stream as Server-Sent Events until it ends or the client goes away. */
export async function writeSse(res: Response, stream: AsyncGenerator<ProgressEvent>, idOf: (e: ProgressEvent) => string | number): Promise<void> {
  res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  res.on('close', () => void stream.return(undefined));
  try {
    for await (const event of stream) {
      res.write(`id: ${idOf(event)}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    }
  } finally {
    clearInterval(keepAlive);
    res.end();
  }
}
