/**
 * Steering through the HTTP layer on the real engine (tiny random-weight model), greedy throughout so texts
 * compare exactly: strength 0 is a true no-op, strong steering changes the output, the echo reports the scale
 * the server applied, and concurrent requests keep their own steering.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, StepEvent } from '../src/engine/engine.js';
import type { ModelObject } from '../src/schemas/models.js';
import type { SteeringEcho } from '../src/steering/resolve.js';
import { buildTestApp, loadTestEngine } from './helpers/test-server.js';

const MAX_TOKENS = 16;

let engine: Engine;
let app: FastifyInstance;
let modelInfo: ModelObject;
/** a fixed pseudo-random direction of the model's width */
let vector: number[];
let unsteered: string;

interface ChatResult {
  text: string;
  steering: SteeringEcho[];
}

/** A greedy chat completion; fails the test (with the body) on anything but 200. */
async function chat(steer?: unknown): Promise<ChatResult> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    payload: {
      model: modelInfo.id,
      messages: [{ role: 'user', content: 'Tell me about the sea.' }],
      max_tokens: MAX_TOKENS,
      temperature: 0,
      ...(steer === undefined ? {} : { steer }),
    },
  });
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json() as { choices: { message: { content: string } }[]; steering: SteeringEcho[] };
  return { text: body.choices[0]!.message.content, steering: body.steering };
}

function randomVector(length: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 2 });
  ({ app } = await buildTestApp(engine));
  modelInfo = ((await app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: ModelObject[] }).data[0]!;
  vector = randomVector(engine.info.nEmbd, 42);
  unsteered = (await chat()).text;
  expect(unsteered.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

describe('strength 0 and an empty list', () => {
  it.each([
    { name: 'a phrase at strength 0', steer: () => ({ phrase: 'the ocean', strength: 0 }) },
    { name: 'a vector at strength 0', steer: () => ({ vector, strength: 0 }) },
    { name: 'an empty list', steer: () => [] },
  ])('$name gives exactly the unsteered text', async ({ steer }) => {
    const result = await chat(steer());
    expect(result.text).toBe(unsteered);
    // the echo still lists each item, with nothing added
    for (const echo of result.steering) expect(echo).toMatchObject({ strength: 0, vector_norm: 0 });
  });
});

describe('strong steering', () => {
  it('by a random vector at strength 8 changes the text', async () => {
    expect((await chat({ vector, strength: 8 })).text).not.toBe(unsteered);
  });

  it('by a phrase at strength 4 changes the text', async () => {
    expect((await chat({ phrase: 'the ocean', strength: 4 })).text).not.toBe(unsteered);
  });
});

describe('the steering echo', () => {
  it('shows layer, mode, strength and a vector norm of |strength| × the mean residual norm of /v1/models', async () => {
    const { steering } = await chat([
      { vector, strength: 8 },
      { phrase: 'the ocean', strength: -2, apply_to: 'generation' },
    ]);
    const layer = modelInfo.steer_layer;
    const meanNorm = modelInfo.mean_residual_norm;
    expect(meanNorm).toBeGreaterThan(0);
    expect(steering).toEqual([
      { source: 'vector', mode: 'add', layer, strength: 8, apply_to: 'all', vector_norm: expect.any(Number) },
      expect.objectContaining({ source: 'phrase', phrase: 'the ocean', mode: 'add', layer, strength: -2, apply_to: 'generation' }),
    ]);
    expect(steering[0]!.vector_norm).toBeCloseTo(8 * meanNorm, 3);
    expect(steering[1]!.vector_norm).toBeCloseTo(2 * meanNorm, 3);
  });
});

describe('concurrent requests', () => {
  it('each get exactly the text of their own steering run alone, while sharing decode steps', async () => {
    const byVector = { vector, strength: 8 };
    const byPhrase = { phrase: 'the ocean', strength: 4 };
    const soloVector = await chat(byVector);
    const soloPhrase = await chat(byPhrase);
    expect(soloVector.text).not.toBe(soloPhrase.text);

    // proof that the two really ran in the same batches, not one after the other
    let mostSequences = 0;
    const onStep = (step: StepEvent) => (mostSequences = Math.max(mostSequences, step.sequences));
    engine.on('step', onStep);
    try {
      const [together1, together2] = await Promise.all([chat(byVector), chat(byPhrase)]);
      expect(together1).toEqual(soloVector);
      expect(together2).toEqual(soloPhrase);
    } finally {
      engine.off('step', onStep);
    }
    expect(mostSequences).toBe(2);
  });
});

describe('where steering applies', () => {
  it("apply_to 'prompt' and 'generation' give different texts, both unlike the unsteered one", async () => {
    const promptOnly = await chat({ vector, strength: 8, apply_to: 'prompt' });
    const generationOnly = await chat({ vector, strength: 8, apply_to: 'generation' });
    expect(promptOnly.steering[0]!.apply_to).toBe('prompt');
    expect(generationOnly.steering[0]!.apply_to).toBe('generation');
    expect(promptOnly.text).not.toBe(generationOnly.text);
    expect(promptOnly.text).not.toBe(unsteered);
    expect(generationOnly.text).not.toBe(unsteered);
  });

  it.each([
    { name: 'the first layer', layer: () => 0 },
    { name: 'the last layer', layer: () => modelInfo.n_layer - 1 },
  ])('steers at $name', async ({ layer }) => {
    const result = await chat({ vector, strength: 8, layer: layer() });
    expect(result.steering[0]).toMatchObject({ source: 'vector', layer: layer(), strength: 8 });
    expect(result.steering[0]!.vector_norm).toBeGreaterThan(0);
    expect(result.text).not.toBe(unsteered);
  });
});
