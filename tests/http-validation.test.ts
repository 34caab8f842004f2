/**
 * Bad requests against the real engine (a tiny random-weight model): each gets its exact status, OpenAI error
 * type, param and code, and afterwards the server is still healthy with no sequence left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, BODY_LIMIT_BYTES } from '../src/app.js';
import { Engine } from '../src/engine/engine.js';
import { Metrics } from '../src/metrics.js';
import { Sae } from '../src/sae/sae.js';
import { loadSae } from '../src/sae/load.js';
import { saveSaeLens } from '../src/sae/saelens.js';
import { createServices } from '../src/services/create-services.js';
import { testModelPath } from './helpers/test-models.js';

const SAE_FEATURES = 32;
const SAE_LAYER = 1;

let engine: Engine;
/** no SAE: feature steering must be refused */
let app: FastifyInstance;
let saeApp: FastifyInstance;
let model: string;
let nEmbd: number;
let saeDir: string;

/** A small random SAE on the tiny model's residual, written and read back in the SAELens layout. */
async function writeRandomSae(folder: string, dIn: number): Promise<void> {
  let seed = 5;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2;
  const matrix = (n: number) => Float32Array.from({ length: n }, next);
  const sae = new Sae({
    architecture: 'standard',
    dIn,
    dSae: SAE_FEATURES,
    wEnc: matrix(SAE_FEATURES * dIn),
    wDec: matrix(SAE_FEATURES * dIn),
    bEnc: matrix(SAE_FEATURES),
    bDec: matrix(dIn),
    hookLayer: SAE_LAYER,
  });
  await saveSaeLens(folder, sae);
}

beforeAll(async () => {
  // ctx 1024: the steering baseline text must fit one sequence of this character-level vocabulary
  engine = await Engine.load({
    modelPath: await testModelPath('tiny'),
    gpu: 'cpu',
    gpuLayers: 0,
    ctx: 1024,
    parallel: 2,
    threads: 2,
    batch: 256,
    queue: 1,
  });
  model = engine.info.modelName;
  nEmbd = engine.info.nEmbd;
  app = await buildApp({
    config: { apiKeys: [] },
    engine,
    services: await createServices({ engine, metrics: new Metrics({ defaultMetrics: false }) }),
  });
  saeDir = await mkdtemp(join(tmpdir(), 'steerd-http-sae-'));
  await writeRandomSae(saeDir, nEmbd);
  const sae = await loadSae(saeDir, { nEmbd, nLayer: engine.info.nLayer });
  saeApp = await buildApp({
    config: { apiKeys: [] },
    engine,
    services: await createServices({ engine, metrics: new Metrics({ defaultMetrics: false }), sae: { path: saeDir, sae } }),
  });
});

afterAll(async () => {
  await app?.close();
  await saeApp?.close();
  await engine?.close();
  if (saeDir) await rm(saeDir, { recursive: true, force: true });
});

const chat = (fields: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 1,
  ...fields,
});
const completion = (fields: Record<string, unknown> = {}) => ({ model, prompt: 'hi', max_tokens: 1, ...fields });
const withoutField = (body: Record<string, unknown>, field: string) =>
  Object.fromEntries(Object.entries(body).filter(([key]) => key !== field));

interface BadRequest {
  name: string;
  url?: string;
  /** built lazily: the model id is known only once the engine is loaded */
  body: () => unknown;
  /** send `body()` as is (a string) instead of JSON-encoding it */
  raw?: boolean;
  contentType?: string;
  withSae?: boolean;
  status: number;
  type: string;
  param: string | null;
  code?: string;
}

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const invalid = { status: 400, type: 'invalid_request_error' } as const;

const BAD_REQUESTS: BadRequest[] = [
  // the body itself
  { name: 'invalid JSON', body: () => '{"model": ', raw: true, ...invalid, param: null, code: 'invalid_json' },
  { name: 'empty JSON body', body: () => '', raw: true, ...invalid, param: null, code: 'invalid_json' },
  { name: 'a JSON array instead of an object', body: () => [chat()], ...invalid, param: null },
  { name: 'a JSON string instead of an object', body: () => '"hello"', raw: true, ...invalid, param: null },
  {
    name: 'body over the size limit',
    body: () => chat({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT_BYTES + 1) }] }),
    status: 413,
    type: 'invalid_request_error',
    param: null,
    code: 'request_too_large',
  },
  {
    name: 'text/plain body',
    body: () => JSON.stringify(chat()),
    raw: true,
    contentType: 'text/plain',
    status: 415,
    type: 'invalid_request_error',
    param: null,
    code: 'unsupported_media_type',
  },
  { name: 'unknown top-level field (tools)', body: () => chat({ tools: [] }), ...invalid, param: 'tools' },

  // model
  { name: 'missing model', body: () => withoutField(chat(), 'model'), ...invalid, param: 'model' },
  { name: 'model is a number', body: () => chat({ model: 7 }), ...invalid, param: 'model' },
  {
    name: 'unknown model',
    body: () => chat({ model: 'gpt-4o' }),
    status: 404,
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_found',
  },

  // messages
  { name: 'missing messages', body: () => withoutField(chat(), 'messages'), ...invalid, param: 'messages' },
  { name: 'empty messages', body: () => chat({ messages: [] }), ...invalid, param: 'messages' },
  { name: 'messages is a string', body: () => chat({ messages: 'hi' }), ...invalid, param: 'messages' },
  {
    name: 'unknown role',
    body: () => chat({ messages: [{ role: 'wizard', content: 'hi' }] }),
    ...invalid,
    param: 'messages[0].role',
  },
  {
    name: 'content is a number',
    body: () => chat({ messages: [{ role: 'user', content: 42 }] }),
    ...invalid,
    param: 'messages[0].content',
  },
  {
    name: 'missing content',
    body: () => chat({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant' }] }),
    ...invalid,
    param: 'messages[1].content',
  },
  {
    name: 'image content part',
    body: () => chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
    ...invalid,
    param: 'messages[0].content[0].type',
  },
  {
    name: 'tool_calls on a message',
    body: () => chat({ messages: [{ role: 'user', content: 'hi', tool_calls: [] }] }),
    ...invalid,
    param: 'messages[0].tool_calls',
  },
  {
    name: 'prompt longer than the context',
    body: () => chat({ messages: [{ role: 'user', content: 'word '.repeat(1500) }] }),
    ...invalid,
    param: 'messages',
    code: 'context_length_exceeded',
  },

  // sampling fields
  { name: 'temperature 3', body: () => chat({ temperature: 3 }), ...invalid, param: 'temperature' },
  { name: 'temperature -0.5', body: () => chat({ temperature: -0.5 }), ...invalid, param: 'temperature' },
  { name: 'temperature "NaN"', body: () => chat({ temperature: 'NaN' }), ...invalid, param: 'temperature' },
  { name: 'temperature 1e400 (Infinity)', body: () => `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"temperature":1e400}`, raw: true, ...invalid, param: 'temperature' },
  { name: 'top_p 1.5', body: () => chat({ top_p: 1.5 }), ...invalid, param: 'top_p' },
  { name: 'presence_penalty 2.5', body: () => chat({ presence_penalty: 2.5 }), ...invalid, param: 'presence_penalty' },
  { name: 'frequency_penalty "high"', body: () => chat({ frequency_penalty: 'high' }), ...invalid, param: 'frequency_penalty' },
  { name: 'seed 1.5', body: () => chat({ seed: 1.5 }), ...invalid, param: 'seed' },
  { name: 'top_k -1', body: () => chat({ top_k: -1 }), ...invalid, param: 'top_k' },
  { name: 'min_p 2', body: () => chat({ min_p: 2 }), ...invalid, param: 'min_p' },
  { name: 'repeat_penalty 0', body: () => chat({ repeat_penalty: 0 }), ...invalid, param: 'repeat_penalty' },
  { name: 'logit_bias value 200', body: () => chat({ logit_bias: { '5': 200 } }), ...invalid, param: 'logit_bias.5' },
  { name: 'logit_bias token past the vocabulary', body: () => chat({ logit_bias: { '999999': 1 } }), ...invalid, param: 'logit_bias' },

  // lengths and counts
  { name: 'negative max_tokens', body: () => chat({ max_tokens: -1 }), ...invalid, param: 'max_tokens' },
  { name: 'fractional max_tokens', body: () => chat({ max_tokens: 1.5 }), ...invalid, param: 'max_tokens' },
  { name: 'huge max_tokens (1e300)', body: () => chat({ max_tokens: 1e300 }), ...invalid, param: 'max_tokens' },
  { name: 'max_completion_tokens 0', body: () => chat({ max_completion_tokens: 0 }), ...invalid, param: 'max_completion_tokens' },
  { name: 'n 0', body: () => chat({ n: 0 }), ...invalid, param: 'n' },
  { name: 'n 1000', body: () => chat({ n: 1000 }), ...invalid, param: 'n' },
  { name: 'stop with 5 entries', body: () => chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), ...invalid, param: 'stop' },
  { name: 'empty stop string', body: () => chat({ stop: ['a', ''] }), ...invalid, param: 'stop[1]' },
  { name: 'stop is a number', body: () => chat({ stop: 5 }), ...invalid, param: 'stop' },

  // output shape
  { name: 'logprobs "yes"', body: () => chat({ logprobs: 'yes' }), ...invalid, param: 'logprobs' },
  { name: 'top_logprobs 25', body: () => chat({ logprobs: true, top_logprobs: 25 }), ...invalid, param: 'top_logprobs' },
  { name: 'top_logprobs without logprobs', body: () => chat({ top_logprobs: 2 }), ...invalid, param: 'top_logprobs' },
  { name: 'response_format xml', body: () => chat({ response_format: { type: 'xml' } }), ...invalid, param: 'response_format.type' },
  {
    name: 'json_schema without its schema object',
    body: () => chat({ response_format: { type: 'json_schema' } }),
    ...invalid,
    param: 'response_format.json_schema',
  },
  { name: 'stream "true"', body: () => chat({ stream: 'true' }), ...invalid, param: 'stream' },
  {
    name: 'unknown stream option',
    body: () => chat({ stream: true, stream_options: { include_everything: true } }),
    ...invalid,
    param: 'stream_options.include_everything',
  },

  // steering: shape (schema) and fit to the model (resolver)
  { name: 'steer phrase and feature in one item', body: () => chat({ steer: { phrase: 'calm', feature: 3 } }), ...invalid, param: 'steer' },
  { name: 'steer item with neither phrase, feature nor vector', body: () => chat({ steer: [{ strength: 1 }] }), ...invalid, param: 'steer[0]' },
  { name: 'steer feature is a string', body: () => chat({ steer: [{ phrase: 'calm' }, { feature: 'x' }] }), ...invalid, param: 'steer[1].feature' },
  { name: 'steer empty phrase', body: () => chat({ steer: '' }), ...invalid, param: 'steer' },
  { name: 'steer with 17 items', body: () => chat({ steer: Array.from({ length: 17 }, () => ({ phrase: 'a' })) }), ...invalid, param: 'steer' },
  { name: 'steer strength 1e9', body: () => chat({ steer: { phrase: 'calm', strength: 1e9 } }), ...invalid, param: 'steer.strength' },
  { name: 'steer unknown mode', body: () => chat({ steer: { phrase: 'calm', mode: 'multiply' } }), ...invalid, param: 'steer.mode' },
  { name: 'steer vector of the wrong length', body: () => chat({ steer: { vector: [1, 2, 3] } }), ...invalid, param: 'steer.vector' },
  { name: 'steer layer out of range', body: () => chat({ steer: [{ phrase: 'calm', layer: 99 }] }), ...invalid, param: 'steer[0].layer' },
  { name: 'steer feature without an SAE', body: () => chat({ steer: { feature: 3 } }), ...invalid, param: 'steer.feature' },
  { name: 'steer clamp without an SAE', body: () => chat({ steer: { feature: 3, mode: 'clamp', strength: 2 } }), ...invalid, param: 'steer.mode' },
  {
    name: 'steer unknown feature index',
    withSae: true,
    body: () => chat({ steer: { feature: SAE_FEATURES } }),
    ...invalid,
    param: 'steer.feature',
  },
  {
    name: "steer feature off the SAE's layer",
    withSae: true,
    body: () => chat({ steer: [{ feature: 1, layer: SAE_LAYER + 1 }] }),
    ...invalid,
    param: 'steer[0].layer',
  },
  {
    name: 'steer clamp without a strength',
    withSae: true,
    body: () => chat({ steer: { feature: 1, mode: 'clamp' } }),
    ...invalid,
    param: 'steer.strength',
  },
  {
    name: 'steer clamp of a phrase',
    withSae: true,
    body: () => chat({ steer: { phrase: 'calm', mode: 'clamp', strength: 1 } }),
    ...invalid,
    param: 'steer.mode',
  },

  // legacy completions
  { name: 'completions: missing prompt', url: COMPLETIONS, body: () => withoutField(completion(), 'prompt'), ...invalid, param: 'prompt' },
  { name: 'completions: empty prompt list', url: COMPLETIONS, body: () => completion({ prompt: [] }), ...invalid, param: 'prompt' },
  { name: 'completions: token id past the vocabulary', url: COMPLETIONS, body: () => completion({ prompt: [1, 999999] }), ...invalid, param: 'prompt' },
  { name: 'completions: echo true', url: COMPLETIONS, body: () => completion({ echo: true }), ...invalid, param: 'echo' },
  { name: 'completions: logprobs 30', url: COMPLETIONS, body: () => completion({ logprobs: 30 }), ...invalid, param: 'logprobs' },
  { name: 'completions: messages instead of prompt', url: COMPLETIONS, body: () => chat(), ...invalid, param: 'prompt' },
  {
    name: 'completions: prompt longer than the context',
    url: COMPLETIONS,
    body: () => completion({ prompt: 'word '.repeat(1500) }),
    ...invalid,
    param: 'prompt',
    code: 'context_length_exceeded',
  },

  // routing
  { name: 'unknown route', url: '/v1/embeddings', body: () => ({ model, input: 'hi' }), status: 404, type: 'not_found_error', param: null },
];

describe('bad requests', () => {
  it('has a table of at least 40 cases', () => {
    expect(BAD_REQUESTS.length).toBeGreaterThanOrEqual(40);
  });

  it.each(BAD_REQUESTS)('$name → $status $type $param', async (row) => {
    const body = row.body();
    const response = await (row.withSae ? saeApp : app).inject({
      method: 'POST',
      url: row.url ?? CHAT,
      headers: { 'content-type': row.contentType ?? 'application/json' },
      payload: row.raw ? (body as string) : JSON.stringify(body),
    });
    expect(response.statusCode, response.body).toBe(row.status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const { error } = response.json() as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(error.type).toBe(row.type);
    expect(error.param).toBe(row.param);
    if (row.code) expect(error.code).toBe(row.code);
    expect(error.message.length).toBeGreaterThan(0);
  });
});

describe('a full queue', () => {
  it('answers 429 with Retry-After, as JSON, even for a stream', async () => {
    // Over a real socket, so the long request can be dropped afterwards like a client that gave up: that
    // must free its sequences (checked below).
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    // two sequences and one waiting place: three long generations (EOS banned) fill them all
    const long = chat({ n: 3, max_tokens: 800, temperature: 0, logit_bias: { [engine.info.eos]: -100 } });
    const client = new AbortController();
    const hog = fetch(`${address}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(long),
      signal: client.signal,
    }).catch((err: Error) => err.name);
    await waitFor(() => engine.stats().activeSequences === 2 && engine.stats().queuedRequests === 1);

    const rejected = await app.inject({ method: 'POST', url: CHAT, payload: chat({ stream: true }) });
    expect(rejected.statusCode).toBe(429);
    expect(rejected.headers['content-type']).toMatch(/^application\/json/);
    expect(rejected.headers['retry-after']).toBe('1');
    expect(rejected.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'queue_full', param: null } });

    client.abort();
    expect(await hog).toBe('AbortError');
  });
});

describe('after all that', () => {
  it('is healthy, holds no sequence, and still answers a valid request', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    // the dropped request's sequences go as soon as the decode step in flight returns
    await waitFor(() => engine.stats().activeSequences === 0 && engine.stats().queuedRequests === 0);
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });

    const response = await app.inject({ method: 'POST', url: CHAT, payload: chat({ max_tokens: 3, steer: 'calm' }) });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as { object: string; steering: unknown[]; usage: { completion_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.steering).toHaveLength(1);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);

    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/steerd_rejected_requests_total\{reason="invalid_request"\} \d+/);
    expect(metrics.body).toMatch(/steerd_rejected_requests_total\{reason="queue_full"\} 1/);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the engine');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
