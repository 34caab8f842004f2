/**
 * The official `openai` npm client, unchanged, against a real listening server over the real engine (tiny
 * random-weight model): chat and legacy completions, streamed and not, steering passed as an extra body
 * field, usage that counts what was really tokenized and generated, API keys and error bodies.
 */
import type { FastifyInstance } from 'fastify';
import OpenAI, { AuthenticationError, BadRequestError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import type { SteeringEcho } from '../src/steering/resolve.js';
import { buildTestApp, listenOnFreePort, loadTestEngine } from './helpers/test-server.js';

const API_KEY = 'sk-steerd-test-key';
const QUESTION = 'Tell me about the sea.';
const PROMPT = 'Once upon a time';
const MAX_TOKENS = 12;
const STEER = { phrase: 'the ocean', strength: 1 };

let engine: Engine;
let apps: FastifyInstance[] = [];
let client: OpenAI;
/** talks to a second app over the same engine, one that requires API_KEY */
let keyedBaseURL: string;
let model: string;

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 2 });
  model = engine.info.modelName;
  const open = await buildTestApp(engine);
  const keyed = await buildTestApp(engine, [API_KEY]);
  apps = [open.app, keyed.app];
  client = new OpenAI({ baseURL: `${await listenOnFreePort(open.app)}/v1`, apiKey: 'x' });
  keyedBaseURL = `${await listenOnFreePort(keyed.app)}/v1`;
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await engine?.close();
});

/**
 * Adds `steer` to a request the way a user of the client would: the client sends params it does not know
 * as they are, and only its types need persuading.
 */
function withSteer<T extends object>(params: T, steer: unknown = STEER): T {
  return { ...params, steer } as T;
}

/** The `steering` echo our server adds to responses and first chunks; the client keeps it but does not type it. */
function steeringOf(response: object): SteeringEcho[] | undefined {
  return (response as { steering?: SteeringEcho[] }).steering;
}

function expectOceanEcho(steering: SteeringEcho[] | undefined): void {
  expect(steering).toEqual([
    expect.objectContaining({ source: 'phrase', phrase: 'the ocean', mode: 'add', strength: 1, apply_to: 'all' }),
  ]);
  expect(steering![0]!.vector_norm).toBeGreaterThan(0);
}

/** The tiny model's ChatML template written out by hand, so the check does not reuse the server's renderer. */
function chatMlPromptTokens(question: string): number {
  expect(engine.info.chatTemplate).toContain('<|im_start|>');
  const text = `<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`;
  return engine.tokenize(text, { addSpecial: true, parseSpecial: true }).length;
}

const chatParams = (fields: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) => ({
  model,
  messages: [{ role: 'user' as const, content: QUESTION }],
  max_tokens: MAX_TOKENS,
  temperature: 0,
  ...fields,
});

describe('chat completions', () => {
  it('answers with the steering echo and usage that counts the templated prompt and every generated token', async () => {
    const completion = await client.chat.completions.create(withSteer(chatParams({ logprobs: true })));

    expect(completion.object).toBe('chat.completion');
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expectOceanEcho(steeringOf(completion));

    const usage = completion.usage!;
    expect(usage.prompt_tokens + usage.completion_tokens).toBe(usage.total_tokens);
    // one logprob entry per sampled token: the independent count of what was generated
    expect(usage.completion_tokens).toBe(completion.choices[0]!.logprobs!.content!.length);
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(MAX_TOKENS);
    expect(usage.prompt_tokens).toBe(chatMlPromptTokens(QUESTION));
  });

  it('streams deltas that concatenate to the non-streamed greedy text, steering first and usage last', async () => {
    const whole = await client.chat.completions.create(withSteer(chatParams()));
    const stream = await client.chat.completions.create(
      withSteer({ ...chatParams(), stream: true as const, stream_options: { include_usage: true } }),
    );
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expectOceanEcho(steeringOf(chunks[0]!));
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.slice(1).every((chunk) => steeringOf(chunk) === undefined)).toBe(true);

    const text = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '')).join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    const finishes = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []));
    expect(finishes).toEqual([whole.choices[0]!.finish_reason]);

    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    // only the final chunk carries numbers; the others say usage: null
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('gives n: 2 two choices whose usage counts the prompt once and both generations', async () => {
    const completion = await client.chat.completions.create(chatParams({ n: 2 }));
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
    // greedy: the choices' different seeds change nothing
    expect(completion.choices[1]!.message.content).toBe(completion.choices[0]!.message.content);

    const single = await client.chat.completions.create(chatParams());
    expect(completion.choices[0]!.message.content).toBe(single.choices[0]!.message.content);
    expect(completion.usage!.prompt_tokens).toBe(single.usage!.prompt_tokens);
    expect(completion.usage!.completion_tokens).toBe(2 * single.usage!.completion_tokens);
  });
});

describe('legacy completions', () => {
  const completionParams = (fields: Partial<OpenAI.CompletionCreateParamsNonStreaming> = {}) => ({
    model,
    prompt: PROMPT,
    max_tokens: MAX_TOKENS,
    temperature: 0,
    ...fields,
  });

  it('answers with the steering echo and usage that counts the prompt and every generated token', async () => {
    // logprobs: 0 still lists every sampled token
    const completion = await client.completions.create(withSteer(completionParams({ logprobs: 0 })));

    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    expectOceanEcho(steeringOf(completion));

    const usage = completion.usage!;
    expect(usage.prompt_tokens + usage.completion_tokens).toBe(usage.total_tokens);
    expect(usage.completion_tokens).toBe(completion.choices[0]!.logprobs!.tokens!.length);
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.prompt_tokens).toBe(engine.tokenize(PROMPT, { addSpecial: true, parseSpecial: true }).length);
  });

  it('streams text that concatenates to the non-streamed greedy text, steering first and usage last', async () => {
    const whole = await client.completions.create(withSteer(completionParams()));
    const stream = await client.completions.create(
      withSteer({ ...completionParams(), stream: true as const, stream_options: { include_usage: true } }),
    );
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expectOceanEcho(steeringOf(chunks[0]!));
    expect(chunks.slice(1).every((chunk) => steeringOf(chunk) === undefined)).toBe(true);
    expect(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.text)).join('')).toBe(whole.choices[0]!.text);

    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
  });
});

describe('API keys', () => {
  it('rejects a wrong key with an AuthenticationError (401)', async () => {
    const wrong = new OpenAI({ baseURL: keyedBaseURL, apiKey: 'sk-wrong' });
    const error = await wrong.chat.completions.create(chatParams()).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).status).toBe(401);
    expect((error as AuthenticationError).code).toBe('invalid_api_key');
  });

  it('accepts the right key', async () => {
    const right = new OpenAI({ baseURL: keyedBaseURL, apiKey: API_KEY });
    const completion = await right.chat.completions.create(chatParams());
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect((await right.models.list()).data.map((m) => m.id)).toEqual([model]);
  });
});

describe('bad requests', () => {
  it('surface as a BadRequestError carrying the OpenAI error body', async () => {
    const error = await client.chat.completions.create(chatParams({ temperature: 3 })).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BadRequestError);
    const bad = error as BadRequestError;
    expect(bad.status).toBe(400);
    expect(bad.param).toBe('temperature');
    expect(bad.type).toBe('invalid_request_error');
    expect(bad.error).toEqual({ message: expect.any(String), type: 'invalid_request_error', param: 'temperature', code: null });
  });

  it('name the steering field at fault, also for a stream', async () => {
    const error = await client.chat.completions
      .create(withSteer({ ...chatParams(), stream: true as const }, { phrase: 'calm', layer: 99 }))
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe('steer.layer');
  });
});
