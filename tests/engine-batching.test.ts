/**
 * Continuous batching keeps sequences apart: each steered (or unsteered) sequence decoded in a crowd gives
 * exactly the tokens of its solo run, and aborted sequences leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING, type GenerateRequest, type Intervention } from '../src/engine/types.js';
import { testModelPath } from './helpers/test-models.js';
import { openNative, seededVector } from './helpers/native-runs.js';

let modelPath: string;
let engine: Engine;
/** each steering's solo-run tokens */
let expected: number[][];
const greedy = { ...DEFAULT_SAMPLING, temperature: 0 };
const PROMPTS = [
  'Once upon a time there was a fox.',
  'The ocean was calm and blue.',
  'Tell me a story about a happy dog.',
  'It rained all day in the old town.',
  'A baker made bread for the king.',
];

function steerings(nEmbd: number): Intervention[][] {
  const encoder = seededVector(nEmbd, 31, 0.2);
  const decoder = seededVector(nEmbd, 32, 0.5);
  return [
    [],
    [{ kind: 'add', layer: 1, applyTo: 'all', vector: seededVector(nEmbd, 1, 3) }],
    [{ kind: 'add', layer: 2, applyTo: 'generation', vector: seededVector(nEmbd, 2, 4) }],
    [
      { kind: 'add', layer: 0, applyTo: 'prompt', vector: seededVector(nEmbd, 3, 3) },
      { kind: 'add', layer: 3, applyTo: 'all', vector: seededVector(nEmbd, 4, 2) },
    ],
    [{ kind: 'clamp', layer: 2, applyTo: 'all', encoder, decoder, bias: 0, threshold: 0, value: 8 }],
  ];
}

function request(e: Engine, i: number, interventions: Intervention[], extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    promptTokens: e.tokenize(PROMPTS[i % PROMPTS.length]!),
    maxTokens: 16,
    stop: [],
    sampling: greedy,
    interventions,
    logprobs: false,
    topLogprobs: 0,
    ...extra,
  };
}

async function solo(e: Engine, i: number, interventions: Intervention[]): Promise<number[]> {
  return (await e.generate(request(e, i, interventions)).result).tokens;
}

beforeAll(async () => {
  modelPath = await testModelPath('tiny');
  engine = await Engine.load({ modelPath, ctx: 256, parallel: 6, threads: 1, batch: 64 });
  const s = steerings(engine.info.nEmbd);
  expected = [];
  for (let i = 0; i < s.length; i++) expected.push(await solo(engine, i, s[i]!));
});
afterAll(() => engine?.close());

describe('isolation', () => {
  it('five sequences with different steering (one without) each match their solo run', async () => {
    const s = steerings(engine.info.nEmbd);
    // the steerings really differ from each other and from no steering
    expect(new Set(expected.map((t) => t.join(','))).size).toBe(s.length);
    const together = await Promise.all(s.map((iv, i) => engine.generate(request(engine, i, iv)).result));
    together.forEach((r, i) => expect(r.tokens).toEqual(expected[i]));
  });

  it('still matches when the step budget and micro-batches are smaller than the batch', async () => {
    const small = await Engine.load({ modelPath, ctx: 256, parallel: 5, threads: 1, batch: 3 });
    try {
      const s = steerings(small.info.nEmbd);
      const together = await Promise.all(s.map((iv, i) => small.generate(request(small, i, iv)).result));
      together.forEach((r, i) => expect(r.tokens).toEqual(expected[i]));
    } finally {
      await small.close();
    }
  });

  it('matches with rows of different sequences interleaved inside one decode, in micro-batches of 3', async () => {
    const s = steerings(engine.info.nEmbd);
    const native = await openNative(modelPath);
    try {
      const ctx = native.context({ nBatch: 3, nSeqMax: 5 });
      const { addon, model } = native;
      const prompts = s.map((_, i) => engine.tokenize(PROMPTS[i]!));
      const toNative = (iv: Intervention) =>
        iv.kind === 'add'
          ? { ...iv, applyTo: ({ all: 0, prompt: 1, generation: 2 } as const)[iv.applyTo] }
          : { ...iv, applyTo: ({ all: 0, prompt: 1, generation: 2 } as const)[iv.applyTo] };
      s.forEach((iv, seq) => ctx.setInterventions(seq, iv.map(toNative)));
      const samplers = s.map(() =>
        addon.createSampler(model, { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0, repeatPenalty: 1,
          frequencyPenalty: 0, presencePenalty: 0, penaltyLastN: 0, logitBiasTokens: new Int32Array(0),
          logitBiasValues: new Float32Array(0), grammar: null }));
      const out: number[][] = s.map(() => []);
      // step 0: all prompts, token-interleaved (seq0 t0, seq1 t0, ..., seq0 t1, ...)
      type R = { seq: number; token: number; pos: number; gen: boolean };
      let rows: R[] = [];
      const longest = Math.max(...prompts.map((p) => p.length));
      for (let t = 0; t < longest; t++) prompts.forEach((p, seq) => t < p.length && rows.push({ seq, token: p[t]!, pos: t, gen: false }));
      for (let step = 0; step < 16; step++) {
        // sample at each sequence's last row
        const sampleRows = s.map((_, seq) => rows.map((r) => r.seq).lastIndexOf(seq));
        const res = await ctx.decode({
          tokens: Int32Array.from(rows.map((r) => r.token)),
          positions: Int32Array.from(rows.map((r) => r.pos)),
          seqIds: Int32Array.from(rows.map((r) => r.seq)),
          generated: Uint8Array.from(rows.map((r) => (r.gen ? 1 : 0))),
          sampleRows: Int32Array.from(sampleRows),
          samplers,
          topLogprobs: Int32Array.from(s.map(() => -1)),
          logitRows: new Int32Array(0),
          captures: [],
        });
        res.tokens.forEach((t, seq) => out[seq]!.push(t));
        // next step: one row per sequence, in reverse order
        rows = s.map((_, seq) => ({ seq, token: out[seq]!.at(-1)!, pos: prompts[seq]!.length + step, gen: true })).reverse();
      }
      samplers.forEach((x) => x.dispose());
      out.forEach((tokens, i) => expect(tokens).toEqual(expected[i]));
    } finally {
      native.dispose();
    }
  });
});

describe('abort', () => {
  it('stops a generation mid-way and frees its KV cells at once', async () => {
    const controller = new AbortController();
    const gen = engine.generate(request(engine, 0, [], { maxTokens: 500, signal: controller.signal }));
    let seen = 0;
    for await (const event of gen) {
      if (event.token >= 0 && ++seen === 3) controller.abort();
    }
    const result = await gen.result;
    expect(result.finishReason).toBe('abort');
    expect(result.completionTokens).toBeLessThan(10);
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });
  });

  it('200 start/abort cycles (queued, prefilling, decoding) leave no sequence and no KV cell behind', async () => {
    const s = steerings(engine.info.nEmbd);
    const pending: Promise<unknown>[] = [];
    for (let cycle = 0; cycle < 200; cycle++) {
      const controller = new AbortController();
      const gen = engine.generate(request(engine, cycle, s[cycle % s.length]!, { maxTokens: 400, signal: controller.signal }));
      const mode = cycle % 4;
      if (mode === 0) controller.abort(); // before it got a slot
      else if (mode === 1) setTimeout(() => controller.abort(), 0);
      else {
        pending.push(
          (async () => {
            let n = 0;
            for await (const e of gen) if (e.token >= 0 && ++n === mode) controller.abort();
          })(),
        );
      }
      pending.push(gen.result.then((r) => expect(r.finishReason).toBe('abort')));
      if (cycle % 10 === 9) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });
    // and the engine still generates exactly as before
    expect(await solo(engine, 1, [])).toEqual(await solo(engine, 1, []));
  });
});
