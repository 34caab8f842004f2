/**
 * The native trainer's own graph (native/src/train-graph.cc): its forward pass is the function llama.cpp serves,
 * and attention trains through it (the reason it exists: llama.cpp's training graph gives K and V no gradient).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING } from '../src/engine/types.js';
import { STORYWORLD_CHAT_TEMPLATE, generateCorpus } from '../src/forge/corpus.js';
import { modelPerplexity } from '../src/forge/evaluate-lm.js';
import { writeInitialModel } from '../src/forge/init-model.js';
import { mulberry32 } from '../src/forge/random.js';
import { buildForgeVocab } from '../src/forge/tokenizer.js';
import { makeWindows } from '../src/forge/train-model.js';
import { loadAddon } from '../src/native/addon.js';

const WINDOW = 64;
let dir: string;
let initPath: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'steerd-trainer-'));
  const corpus = generateCorpus({ seed: 5, stories: 30, chats: 10 });
  const vocab = buildForgeVocab(corpus.documents.map((d) => d.text), 400);
  initPath = path.join(dir, 'init.gguf');
  await writeInitialModel(initPath, { vocab, nEmbd: 32, nLayer: 2, nHead: 2, nFf: 64, nCtxTrain: WINDOW, seed: 3, chatTemplate: STORYWORLD_CHAT_TEMPLATE });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function flatten(windows: readonly Int32Array[]): Int32Array {
  const all = new Int32Array(windows.length * (WINDOW + 1));
  windows.forEach((w, i) => all.set(w, i * (WINDOW + 1)));
  return all;
}

describe('native trainer', () => {
  it('learns a task only attention can solve (repeat the token two places back), and llama.cpp serves the same function', async () => {
    // each window alternates two random tokens (a b a b ...): the current token alone never says which comes
    // next, so a model without working attention stays near ln(50) ≈ 3.9 nats on it
    const random = mulberry32(11);
    const windows = Array.from({ length: 1300 }, () => {
      const a = 10 + Math.floor(random() * 50);
      let b = a;
      while (b === a) b = 10 + Math.floor(random() * 50);
      return Int32Array.from({ length: WINDOW + 1 }, (_, i) => (i % 2 === 0 ? a : b));
    });
    // and some story text, where the trained model is far from certain
    const text = generateCorpus({ seed: 9, stories: 6, chats: 0 }).documents.map((d) => d.text).join('\n');
    const tokenizer = await Engine.load({ modelPath: initPath, ctx: 2 * WINDOW, parallel: 1, threads: 1, gpu: 'cpu' });
    const storyWindows = makeWindows([tokenizer.tokenize(text, { addSpecial: true, parseSpecial: false })], WINDOW).slice(0, 2);
    await tokenizer.close();
    const heldout = [...windows.slice(1200, 1202), ...storyWindows];
    const { addon } = await loadAddon('cpu');
    const model = await addon.loadModel(initPath, { gpuLayers: 0, useMmap: false });
    const trainer = addon.createTrainer(model, { nCtx: WINDOW, threads: 1, lr: 3e-3, lrMin: 1e-3, warmupSteps: 20, totalSteps: 1200, weightDecay: 0 });
    try {
      const result = await trainer.epoch(flatten(windows), 1200);
      expect(trainer.progress()).toMatchObject({ step: 1200, trainBatches: 1200, evalBatches: 100 });
      expect(result.evalLoss!).toBeLessThan(0.5);
      const savedPath = path.join(dir, 'trained.gguf');
      trainer.save(savedPath);
      // the training graph's forward pass is the function llama.cpp serves (within 1%: llama.cpp keeps K and V in F16 and may use flash attention)
      const trainerLoss = (await trainer.epoch(flatten(heldout), 0)).evalLoss!;
      // llama.cpp serving the saved weights continues the pattern for a pair of tokens it never saw together
      const engine = await Engine.load({ modelPath: savedPath, ctx: 2 * WINDOW, parallel: 1, threads: 1, gpu: 'cpu' });
      try {
        const servedLoss = Math.log(await modelPerplexity(engine, heldout.map((w) => [...w]), 'test'));
        expect(trainerLoss).toBeGreaterThan(0.5); // the story windows keep it away from zero
        expect(Math.abs(trainerLoss - servedLoss)).toBeLessThan(0.01 * servedLoss);
        const seen = new Set(windows.map((w) => `${w[0]} ${w[1]}`));
        let [a, b] = [10, 11];
        while (seen.has(`${a} ${b}`)) b++;
        const prompt = [a, b, a, b, a, b, a, b];
        const { tokens } = await engine.generate({
          promptTokens: prompt,
          maxTokens: 6,
          stop: [],
          sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
          interventions: [],
          logprobs: false,
          topLogprobs: 0,
        }).result;
        expect(tokens).toEqual([a, b, a, b, a, b]);
      } finally {
        await engine.close();
      }
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});
