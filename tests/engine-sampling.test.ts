/** Per-sequence sampling with llama.cpp's samplers, stop strings, limits and log-probabilities. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING, type GenerateRequest, type SamplingParams } from '../src/engine/types.js';
import { testModelPath } from './helpers/test-models.js';

let engine: Engine;
let prompt: number[];

function run(sampling: Partial<SamplingParams>, extra: Partial<GenerateRequest> = {}) {
  return engine.generate({
    promptTokens: prompt,
    maxTokens: 24,
    stop: [],
    sampling: { ...DEFAULT_SAMPLING, ...sampling },
    interventions: [],
    logprobs: false,
    topLogprobs: 0,
    ...extra,
  });
}

beforeAll(async () => {
  engine = await Engine.load({ modelPath: await testModelPath('tiny'), ctx: 128, parallel: 4, threads: 1 });
  prompt = engine.tokenize('Tell me a story about the ocean.');
});
afterAll(() => engine?.close());

describe('sampling', () => {
  it('is reproducible for a seed and differs across seeds', async () => {
    const a = await run({ temperature: 1, seed: 42 }).result;
    const b = await run({ temperature: 1, seed: 42 }).result;
    const c = await run({ temperature: 1, seed: 43 }).result;
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('greedy equals top_k 1 at any temperature', async () => {
    const greedy = await run({ temperature: 0 }).result;
    const topK1 = await run({ temperature: 1.5, topK: 1, seed: 5 }).result;
    expect(topK1.tokens).toEqual(greedy.tokens);
  });

  it('logit_bias forces or bans a token', async () => {
    const forced = engine.tokenize(' ocean', { addSpecial: false })[0]!;
    const r = await run({ temperature: 0, logitBias: new Map([[forced, 100]]) }, { maxTokens: 5 }).result;
    expect(r.tokens).toEqual([forced, forced, forced, forced, forced]);
    const greedy = await run({ temperature: 0 }).result;
    const banned = greedy.tokens[0]!;
    const r2 = await run({ temperature: 0, logitBias: new Map([[banned, -Infinity]]) }).result;
    expect(r2.tokens).not.toContain(banned);
  });

  it('penalties change a greedy continuation', async () => {
    const greedy = await run({ temperature: 0 }, { maxTokens: 48 }).result;
    const penalised = await run({ temperature: 0, frequencyPenalty: 2, presencePenalty: 2 }, { maxTokens: 48 }).result;
    expect(penalised.tokens).not.toEqual(greedy.tokens);
    // frequency penalty makes repeats rarer
    const repeats = (t: number[]) => t.length - new Set(t).size;
    expect(repeats(penalised.tokens)).toBeLessThanOrEqual(repeats(greedy.tokens));
  });

  it('a GBNF grammar constrains the output', async () => {
    const r = await run({ temperature: 1, seed: 3, grammar: 'root ::= ("yes" | "no") " " [0-9] [0-9]' }, { maxTokens: 20 }).result;
    expect(r.text).toMatch(/^(yes|no) [0-9]{2}$/);
    expect(r.finishReason).toBe('stop');
  });
});

describe('limits and stop strings', () => {
  it('stops at max tokens with finish reason length', async () => {
    const r = await run({ temperature: 0 }, { maxTokens: 7 }).result;
    expect(r.completionTokens).toBe(7);
    expect(r.finishReason).toBe('length');
    expect(r.promptTokens).toBe(prompt.length);
  });

  it('cuts the text before a stop string, never streams any of it, and stops', async () => {
    const full = await run({ temperature: 0 }, { maxTokens: 40 }).result;
    // pick a stop string from the middle of the greedy text
    const stop = full.text.slice(12, 15);
    const cutAt = full.text.indexOf(stop);
    const gen = run({ temperature: 0 }, { maxTokens: 40, stop: [stop] });
    let streamed = '';
    for await (const e of gen) streamed += e.text;
    const r = await gen.result;
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.text.slice(0, cutAt));
    expect(streamed).toBe(r.text);
  });

  it('streams text that adds up to the result, held-back text included', async () => {
    const gen = run({ temperature: 0 }, { maxTokens: 30, stop: ['\u0000never'] });
    let streamed = '';
    for await (const e of gen) streamed += e.text;
    expect(streamed).toBe((await gen.result).text);
  });
});

describe('logprobs', () => {
  it('reports the sampled token and up to 20 alternatives, sorted, matching the raw logits', async () => {
    const gen = run({ temperature: 0 }, { maxTokens: 4, logprobs: true, topLogprobs: 20 });
    const events = [];
    for await (const e of gen) if (e.token >= 0) events.push(e);
    const { logits } = await engine.evaluate([...prompt, ...events.slice(0, 3).map((e) => e.token)], { logits: true });
    events.forEach((e, i) => {
      expect(e.topLogprobs).toHaveLength(20);
      const lps = e.topLogprobs!.map((t) => t.logprob);
      expect([...lps].sort((a, b) => b - a)).toEqual(lps);
      // greedy: the sampled token is the most likely one
      expect(e.topLogprobs![0]!.token).toBe(e.token);
      expect(e.logprob).toBeCloseTo(lps[0]!, 5);
      // and it is log-softmax of the logits at that position
      const row = logits[prompt.length - 1 + i]!;
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      expect(e.logprob).toBeCloseTo(row[e.token]! - logZ, 4);
    });
  });
});

describe('input checks before the native boundary', () => {
  it('rejects bad values with clear messages', () => {
    expect(() => run({ temperature: NaN })).toThrow(/finite temperature/);
    expect(() => run({ topP: 0 })).toThrow(/top_p/);
    expect(() => run({}, { promptTokens: [1, 99999] })).toThrow(/promptTokens\[1\]/);
    expect(() => run({}, { maxTokens: 0 })).toThrow(/maxTokens/);
    expect(() => run({}, { topLogprobs: 21 })).toThrow(/topLogprobs/);
    expect(() => run({}, { interventions: [{ kind: 'add', layer: 9, applyTo: 'all', vector: new Float32Array(64) }] })).toThrow(/layer/);
    expect(() => run({}, { interventions: [{ kind: 'add', layer: 1, applyTo: 'all', vector: new Float32Array(3) }] })).toThrow(/64 floats/);
    expect(() => run({ grammar: 'root ::= (' }, {}).result).toThrow(/grammar/);
  });
});
