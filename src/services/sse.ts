/**
 * Server-sent events in OpenAI's dialect: `data: <json>\n\n` per chunk, a mid-stream failure as a data event
 * `{"error":{...}}`, and always `data: [DONE]` last. The status line and headers wait for the first chunk, so
 * anything that fails before the first token is still an ordinary JSON error with its proper status.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { ClientClosedError, describeError } from '../errors.js';

const encode = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const DONE = 'data: [DONE]\n\n';

/**
 * An AbortSignal that fires when the client disconnects before the response is complete. Watches the
 * response: its 'close' comes both after a normal end and on a dropped socket, and `writableEnded` (end()
 * was called) tells the two apart.
 */
export function clientDisconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort(new ClientClosedError());
  });
  return controller.signal;
}

/**
 * Waits for the first chunk (rejecting like a normal request if it fails), then streams the rest. Returns the
 * reply, for an async Fastify handler to return.
 */
export async function sendEventStream(reply: FastifyReply, chunks: AsyncIterable<unknown>): Promise<FastifyReply> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();

  async function* events(): AsyncGenerator<string> {
    try {
      if (!first.done) {
        yield encode(first.value);
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield encode(next.value);
      }
    } catch (err) {
      if (err instanceof ClientClosedError) return;
      const described = describeError(err);
      if (described.status >= 500) reply.log.error({ err }, 'stream failed after its first chunk');
      yield encode(described.body);
    } finally {
      // when the client went away mid-stream, let the chunk source run its cleanup (it aborts the generations)
      await iterator.return?.();
    }
    yield DONE;
  }

  return reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    // proxies such as nginx would otherwise buffer the stream and deliver it in lumps
    .header('x-accel-buffering', 'no')
    .send(Readable.from(events(), { objectMode: false }));
}
