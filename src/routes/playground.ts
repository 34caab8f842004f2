/**
 * The web playground: GET / serves src/web/index.html, GET /playground/<file> its scripts and styles. Plain
 * files, no build step and no bundle. These routes are outside /v1/, so no API key guards them (the page asks
 * for one when the API needs it), and hidden from the OpenAPI document: they are a page, not an API.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';

export const WEB_DIR = new URL('../web/', import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Same-origin everything: the page talks only to this server and runs only its own files. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

class PlaygroundFileNotFound extends ApiError {
  constructor(name: string) {
    super(404, 'not_found_error', `The playground has no file '${name}'`, null, 'unknown_url');
  }
}

export const playgroundRoutes: FastifyPluginAsync = async (app) => {
  // Only names listed at start-up are served, so no request path ever reaches the file system.
  const served = new Set((await readdir(WEB_DIR)).filter((name) => extname(name) in CONTENT_TYPES && /^[\w.-]+$/.test(name)));

  async function send(name: string, reply: import('fastify').FastifyReply) {
    if (!served.has(name)) throw new PlaygroundFileNotFound(name);
    // read per request (a few kB): edits show on reload, and no stale copy outlives a deploy
    const body = await readFile(new URL(name, WEB_DIR));
    return reply
      .type(CONTENT_TYPES[extname(name)]!)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .send(body);
  }

  app.get('/', { schema: { hide: true } }, async (_request, reply) => send('index.html', reply));
  app.get<{ Params: { file: string } }>('/playground/:file', { schema: { hide: true } }, async (request, reply) =>
    send(request.params.file, reply),
  );
};
