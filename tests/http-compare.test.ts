/**
 * POST /v1/compare on the real engine (tiny random-weight model), greedy where texts are compared: each arm
 * gives exactly the text of the matching chat completion, the measures agree with what they are defined from
 * (baseline's KL to itself is 0, its fluency is the mean of its own logprobs), n > 1, streaming, and 400s.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import type { CompareChunk, CompareResponse } from '../src/schemas/compare.js';
import { buildTestApp, listenOnFreePort, loadTestEngine, waitFor } from './helpers/test-server.js';

const MESSAGE = 'Tell me about the sea.';
const STEER = { phrase: 'the ocean', strength: 4 };
/** what the default prompt_template makes of MESSAGE and STEER */
const PROMPTED_MESSAGE = `${MESSAGE} Make sure to use the ocean.`;

let engine: Engine;
let app: FastifyInstance;
let model: string;

async function post(url: string, payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url, payload: { model, ...payload } });
}

interface ChatAnswer {
  text: string;
  logprobs: number[];
  /** each token's text, and how far (nats) the runner-up was behind it */
  pieces: string[];
  gaps: number[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

/**
 * Float rounding depends on where a sequence's KV cells sit in the cache it shares with other sequences, so a
 * greedy choice between two tokens closer than this may flip between a solo run and a crowded one (the tiny
 * random model has such near-ties: 2e-4 nats apart at token 11 of the baseline answer).
 */
const NEAR_TIE = 1e-3;

/** The arm's greedy text is the chat completion's, up to its first near-tie at least. */
function expectSameGreedyText(actual: string, reference: ChatAnswer, what: string): void {
  const tie = reference.gaps.findIndex((gap) => gap < NEAR_TIE);
  // a check of a handful of tokens at least, or it would prove nothing
  expect(tie < 0 || tie >= 4, `${what}: near-tie at token ${tie}`).toBe(true);
  if (tie < 0) expect(actual, what).toBe(reference.text);
  else expect(actual.startsWith(reference.pieces.slice(0, tie).join('')), `${what}: ${actual} vs ${reference.text}`).toBe(true);
}

/** Greedy chat completions (n choices), 200 expected. */
async function chat(content: string, extra: Record<string, unknown> = {}): Promise<ChatAnswer[]> {
  const response = await post('/v1/chat/completions', {
    messages: [{ role: 'user', content }],
    max_tokens: 16,
    temperature: 0,
    logprobs: true,
    top_logprobs: 2,
    ...extra,
  });
  expect(response.statusCode, response.body).toBe(200);
  type Entry = { token: string; logprob: number; top_logprobs: { logprob: number }[] };
  const body = response.json() as { choices: { message: { content: string }; logprobs: { content: Entry[] } }[]; usage: ChatAnswer['usage'] };
  return body.choices.map((c) => ({
    text: c.message.content,
    logprobs: c.logprobs.content.map((e) => e.logprob),
    pieces: c.logprobs.content.map((e) => e.token),
    gaps: c.logprobs.content.map((e) => e.top_logprobs[0]!.logprob - e.top_logprobs[1]!.logprob),
    usage: body.usage,
  }));
}

async function compare(extra: Record<string, unknown> = {}): Promise<CompareResponse> {
  const response = await post('/v1/compare', { messages: [{ role: 'user', content: MESSAGE }], max_tokens: 16, temperature: 0, steer: STEER, ...extra });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as CompareResponse;
}

function arm(result: CompareResponse, name: string) {
  const found = result.arms.find((a) => a.arm === name);
  expect(found, name).toBeDefined();
  return found!;
}

const average = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 4 });
  ({ app } = await buildTestApp(engine));
  model = engine.info.modelName;
});

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

describe('arms', () => {
  it('each equal the matching chat completion (up to a near-tie), all four decoding in the same steps', async () => {
    let mostSequences = 0;
    const onStep = (step: { sequences: number }) => (mostSequences = Math.max(mostSequences, step.sequences));
    engine.on('step', onStep);
    const result = await compare();
    engine.off('step', onStep);
    expect(mostSequences).toBe(4);
    expect(result).toMatchObject({ object: 'compare', model });
    expect(result.arms.map((a) => a.arm)).toEqual(['baseline', 'prompted', 'steered', 'prompted+steered']);
    expect(result.steering).toEqual([expect.objectContaining({ source: 'phrase', phrase: 'the ocean', strength: 4 })]);

    const [baseline] = await chat(MESSAGE);
    const [steered] = await chat(MESSAGE, { steer: STEER });
    const [prompted] = await chat(PROMPTED_MESSAGE);
    const [both] = await chat(PROMPTED_MESSAGE, { steer: STEER });
    expect(new Set([baseline!.text, steered!.text, prompted!.text, both!.text]).size).toBe(4);
    for (const [name, expected, userMessage] of [
      ['baseline', baseline!, MESSAGE],
      ['prompted', prompted!, PROMPTED_MESSAGE],
      ['steered', steered!, MESSAGE],
      ['prompted+steered', both!, PROMPTED_MESSAGE],
    ] as const) {
      const a = arm(result, name);
      expect(a.user_message).toBe(userMessage);
      expect(a.steered).toBe(name.endsWith('steered'));
      expect(a.samples).toHaveLength(1);
      const sample = a.samples[0]!;
      expectSameGreedyText(sample.text, expected, name);
      expect(sample.usage.prompt_tokens).toBe(expected.usage.prompt_tokens);
      expect(sample.tokens).toHaveLength(sample.usage.completion_tokens);
      expect(sample.finish_reason).toBe('length');
      expect(sample.time_ms).toBeGreaterThan(0);
    }
    const completion = result.arms.reduce((s, a) => s + a.usage.completion_tokens, 0);
    expect(result.usage.completion_tokens).toBe(completion);
    expect(engine.stats().sequencesHoldingKv).toBe(0);
  });

  it('runs only the arms asked for, in their order', async () => {
    const result = await compare({ arms: ['steered', 'baseline'] });
    expect(result.arms.map((a) => a.arm)).toEqual(['steered', 'baseline']);
  });
});

describe('measures', () => {
  it("baseline: KL to itself 0, fluency the mean of its own logprobs; steering moves both, KL over 32 positions", async () => {
    const result = await compare({ max_tokens: 40, arms: ['baseline', 'steered'] });
    const [plain] = await chat(MESSAGE, { max_tokens: 40 });
    const baseline = arm(result, 'baseline').samples[0]!;
    expect(baseline.tokens).toHaveLength(40);
    expect(baseline.kl_positions).toBe(32);
    expect(Math.abs(baseline.kl_to_baseline!)).toBeLessThan(1e-3);
    // a batched teacher-forced pass against one-row decodes: float rounding only
    expect(baseline.fluency!).toBeCloseTo(average(plain!.logprobs), 3);
    expect(baseline.perplexity!).toBeCloseTo(Math.exp(-baseline.fluency!), 6);

    const steered = arm(result, 'steered').samples[0]!;
    expect(steered.kl_to_baseline!).toBeGreaterThan(0.05);
    // greedy under the plain model picks its likeliest tokens; steered tokens are less likely to it
    expect(steered.fluency!).toBeLessThan(baseline.fluency!);
    expect(arm(result, 'steered').mean).toMatchObject({ fluency: steered.fluency, kl_to_baseline: steered.kl_to_baseline });
  });

  it('n > 1: n samples per arm with seeds seed+i, and their means', async () => {
    const sampling = { temperature: 0.9, seed: 7, n: 3, max_tokens: 12 };
    const result = await compare({ ...sampling, arms: ['baseline', 'steered'] });
    const chats = await chat(MESSAGE, { ...sampling });
    const baseline = arm(result, 'baseline');
    expect(baseline.samples.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(baseline.samples.map((s) => s.seed)).toEqual([7, 8, 9]);
    expect(baseline.samples.map((s) => s.text)).toEqual(chats.map((c) => c.text));
    for (const a of result.arms) {
      expect(a.mean.fluency!).toBeCloseTo(average(a.samples.map((s) => s.fluency!)), 9);
      expect(a.mean.kl_to_baseline!).toBeCloseTo(average(a.samples.map((s) => s.kl_to_baseline!)), 9);
      expect(a.mean.completion_tokens).toBe(average(a.samples.map((s) => s.usage.completion_tokens)));
      expect(a.mean.tokens_per_second).toBeGreaterThan(0);
    }
  });
});

describe('streaming', () => {
  function parseEvents(body: string): string[] {
    expect(body.endsWith('\n\n')).toBe(true);
    return body
      .split('\n\n')
      .filter((e) => e !== '')
      .map((e) => {
        expect(e.startsWith('data: ')).toBe(true);
        return e.slice('data: '.length);
      });
  }

  it('tags each chunk with its arm, ends each sample with its measures, then a summary and one [DONE]', async () => {
    const payload = { messages: [{ role: 'user', content: MESSAGE }], max_tokens: 16, temperature: 0, steer: STEER, n: 2, seed: 3 };
    const expected = (await post('/v1/compare', payload)).json() as CompareResponse;
    const response = await post('/v1/compare', { ...payload, stream: true });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseEvents(response.body);
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.filter((e) => e === '[DONE]')).toHaveLength(1);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as CompareChunk);
    expect(chunks[0]!.steering).toEqual(expected.steering);
    expect(chunks.slice(1).every((c) => c.steering === undefined)).toBe(true);

    const last = chunks.at(-1)!;
    expect(last).toMatchObject({ object: 'compare.chunk', arm: null, index: null, usage: expected.usage });
    // everything but timings is the same as the plain response
    const withoutTimes = (arms: CompareResponse['arms']) =>
      arms.map(({ mean: { tokens_per_second: _, ...mean }, samples, ...a }) => ({
        ...a,
        mean,
        samples: samples.map(({ time_ms: _t, time_to_first_token_ms: _f, ...s }) => s),
      }));
    expect(withoutTimes(last.arms!)).toEqual(withoutTimes(expected.arms));

    for (const a of expected.arms) {
      for (const sample of a.samples) {
        const mine = chunks.filter((c) => c.arm === a.arm && c.index === sample.index);
        expect(mine.map((c) => c.delta.content ?? '').join('')).toBe(sample.text);
        const ends = mine.filter((c) => c.finish_reason !== null);
        expect(ends).toHaveLength(1);
        expect(ends[0]).toBe(mine.at(-1));
        expect(ends[0]!.sample).toMatchObject({ text: sample.text, kl_to_baseline: sample.kl_to_baseline, fluency: sample.fluency });
      }
    }
  });

  it('answers errors found before the first token as JSON, not as a stream', async () => {
    const response = await post('/v1/compare', {
      messages: [{ role: 'user', content: MESSAGE }],
      steer: { vector: Array.from({ length: engine.info.nEmbd }, () => 1) },
      stream: true,
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json().error.param).toBe('prompt_template');
  });

  it('a client that hangs up mid-stream stops every arm and leaves no sequence behind', async () => {
    const baseUrl = await listenOnFreePort(app);
    const client = new AbortController();
    const response = await fetch(`${baseUrl}/v1/compare`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model,
        messages: [{ role: 'user', content: MESSAGE }],
        steer: STEER,
        stream: true,
        n: 3,
        max_tokens: 400,
        // no early end of sequence: only the hang-up can stop these 12 generations
        logit_bias: { [engine.info.eos]: -100 },
      }),
      signal: client.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    client.abort();
    await reader.cancel().catch(() => undefined);
    await waitFor('the engine to free every sequence', () => {
      const stats = engine.stats();
      return stats.activeSequences === 0 && stats.queuedRequests === 0 && stats.sequencesHoldingKv === 0;
      // the full 12 × 400 tokens take several seconds on this machine: freed this soon means stopped
    }, 1_500);
  });
});

describe('prompt_template', () => {
  const vectorSteer = () => ({ vector: Array.from({ length: engine.info.nEmbd }, (_, i) => Math.sin(i)), strength: 6 });

  it('is needed for prompted arms when the steering has no phrase', async () => {
    const response = await post('/v1/compare', { messages: [{ role: 'user', content: MESSAGE }], steer: vectorSteer(), max_tokens: 4 });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ type: 'invalid_request_error', param: 'prompt_template' });
    expect(response.json().error.message).toMatch(/feature or vector/);
    // not for the other arms
    const unprompted = await compare({ steer: vectorSteer(), arms: ['baseline', 'steered'] });
    expect(unprompted.arms).toHaveLength(2);
  });

  it('rewrites the last user message with {message} and {phrase}', async () => {
    const result = await compare({
      messages: [
        { role: 'user', content: 'First question.' },
        { role: 'assistant', content: 'An answer.' },
        { role: 'user', content: MESSAGE },
      ],
      steer: [{ phrase: 'dragons' }, { phrase: 'fire', strength: 2 }],
      prompt_template: 'Talk about {phrase}. {message}',
      arms: ['prompted'],
    });
    expect(result.arms[0]!.user_message).toBe(`Talk about dragons and fire. ${MESSAGE}`);
    const own = await compare({ steer: vectorSteer(), prompt_template: '{message} Be brief.', arms: ['prompted'] });
    expect(own.arms[0]!.user_message).toBe(`${MESSAGE} Be brief.`);
  });

  it('says "not to use" for a negative strength by default', async () => {
    const result = await compare({ steer: { phrase: 'rain', strength: -1 }, arms: ['prompted'] });
    expect(result.arms[0]!.user_message).toBe(`${MESSAGE} Make sure not to use rain.`);
  });
});

describe('bad requests', () => {
  it.each([
    { name: 'a repeated arm', extra: { arms: ['baseline', 'baseline'] }, param: 'arms', message: /listed twice/ },
    { name: 'an unknown arm', extra: { arms: ['baseline', 'loud'] }, param: 'arms[1]', message: /Invalid value/ },
    { name: 'no arms', extra: { arms: [] }, param: 'arms', message: /Invalid value/ },
    { name: 'no steer', extra: { steer: undefined }, param: 'steer', message: /Missing required parameter/ },
    { name: 'a chat-only field', extra: { logprobs: true }, param: 'logprobs', message: /Unrecognized request argument/ },
    { name: '{phrase} without a phrase', extra: { steer: { vector: [1] }, prompt_template: 'Use {phrase}.' }, param: 'prompt_template', message: /no phrase/ },
    { name: 'an empty template', extra: { prompt_template: '' }, param: 'prompt_template', message: /Invalid value/ },
    { name: 'a prompt past the context', extra: { messages: [{ role: 'user', content: 'sea '.repeat(600) }] }, param: 'messages', message: /context/ },
    { name: 'no user message for the prompted arm', extra: { messages: [{ role: 'system', content: 'Be nice.' }] }, param: 'messages', message: /last user message/ },
  ])('$name: 400 naming $param', async ({ extra, param, message }) => {
    const response = await post('/v1/compare', { messages: [{ role: 'user', content: MESSAGE }], steer: STEER, max_tokens: 4, ...extra });
    expect(response.statusCode, response.body).toBe(400);
    const { error } = response.json() as { error: { type: string; param: string; message: string } };
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
    expect(error.message).toMatch(message);
  });

  it('an unknown model: 404', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/compare', payload: { model: 'nope', messages: [{ role: 'user', content: 'x' }], steer: 'x' } });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('model_not_found');
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });
  });
});
