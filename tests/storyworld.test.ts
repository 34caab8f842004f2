/**
 * The committed storyworld artifacts (models/storyworld/): they load, they are what metrics.json says they are,
 * and steering the feature labelled "ocean" turns stories to the sea far more often. CI never retrains them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING } from '../src/engine/types.js';
import { getConcept, mentionsConcept } from '../src/forge/concepts.js';
import { generateCorpus, HELDOUT_SEED, renderChat } from '../src/forge/corpus.js';
import { FULL_FORGE } from '../src/forge/forge-config.js';
import { steeringCheck } from '../src/forge/steering-check.js';
import { modelPerplexity } from '../src/forge/evaluate-lm.js';
import { STORYWORLD_DIR } from '../src/models/default-model.js';
import { loadSae } from '../src/sae/load.js';
import type { Sae } from '../src/sae/sae.js';
import { measureMeanNorms } from '../src/steering/mean-norms.js';
import { SteeringResolver } from '../src/steering/resolve.js';

interface StoryworldMetrics {
  perplexity: { model: number; bigram: number; unigram: number };
  sae: { layer: number; dSae: number; k: number };
  config: unknown;
  steering: {
    feature: { index: number; description: string };
    apply_to: 'all' | 'prompt';
    /** the chosen strength: the best arm within 2× the baseline's perplexity (null when none was) */
    strength: number | null;
    baseline: { rate: number; perplexity: number };
  };
}

let engine: Engine;
let sae: Sae;
let metrics: StoryworldMetrics;

beforeAll(async () => {
  metrics = JSON.parse(await readFile(path.join(STORYWORLD_DIR, 'metrics.json'), 'utf8'));
  engine = await Engine.load({ modelPath: path.join(STORYWORLD_DIR, 'storyworld.gguf'), ctx: 2048, parallel: 8, threads: 2, gpu: 'cpu' });
  sae = await loadSae(path.join(STORYWORLD_DIR, 'sae'), engine.info);
});
afterAll(() => engine?.close());

function greedy(prompt: string, interventions: Parameters<Engine['generate']>[0]['interventions'] = []) {
  const promptTokens = engine.tokenize(renderChat([{ role: 'user', content: prompt }]) + '<|im_start|>assistant\n', { addSpecial: true, parseSpecial: true });
  return engine.generate({ promptTokens, maxTokens: 128, stop: [], sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, interventions, logprobs: false, topLogprobs: 0 }).result;
}

describe('the committed storyworld', () => {
  it('has the shape and the held-out perplexity its metrics report', async () => {
    // `npm run forge` as the code stands reproduces the committed artifacts
    expect(metrics.config).toEqual(FULL_FORGE);
    expect(engine.info).toMatchObject({ nEmbd: FULL_FORGE.model.nEmbd, nLayer: FULL_FORGE.model.nLayer, nVocab: FULL_FORGE.vocabSize });
    expect(engine.info.chatTemplate).toContain('<|im_start|>');
    expect(sae).toMatchObject({ dSae: metrics.sae.dSae, hookLayer: metrics.sae.layer });
    expect(sae.labels.size).toBe(sae.dSae);

    const seed = HELDOUT_SEED + FULL_FORGE.seed - 1;
    const heldout = generateCorpus({ seed, stories: FULL_FORGE.corpus.heldoutStories, chats: FULL_FORGE.corpus.heldoutChats });
    const docs = heldout.documents
      .slice(0, FULL_FORGE.evaluation.heldoutDocuments)
      .map((d) => [...engine.tokenize(d.text, { addSpecial: true, parseSpecial: true }), engine.info.eos]);
    const perplexity = await modelPerplexity(engine, docs, 'test');
    expect(perplexity).toBeCloseTo(metrics.perplexity.model, 2);
    expect(perplexity).toBeLessThan(0.7 * metrics.perplexity.bigram);
  });

  it('writes about what it is asked for, and about the ocean when its ocean feature is steered', async () => {
    // concepts it follows reliably (metrics.json: conceptUsage.byConcept)
    for (const concept of ['baker', 'train', 'dog']) {
      const answer = await greedy(`Tell me a story about ${getConcept(concept).topics[0]}.`);
      expect(mentionsConcept(answer.text, concept), answer.text).toBe(true);
    }

    const { feature, apply_to, strength } = metrics.steering;
    expect(sae.labels.get(feature.index)).toBe(feature.description);
    expect(feature.description).toMatch(/^ocean: /);
    expect(strength).not.toBeNull();
    // the forge's chosen arm again, 48 samples at temperature 0.8, held to the bar: at least half the
    // stories at the sea, at most twice the unsteered perplexity (the batch mix changes sampled answers from run
    // to run, so the figures move a little around metrics.json's)
    const resolver = new SteeringResolver({ source: engine, meanNorms: await measureMeanNorms(engine), defaultLayer: sae.hookLayer, sae });
    const { interventions } = await resolver.resolve({ feature: feature.index, strength: strength!, apply_to });
    const promptTokens = engine.tokenize(renderChat([{ role: 'user', content: 'Tell me a story.' }]) + '<|im_start|>assistant\n', { addSpecial: true, parseSpecial: true });
    const arms = await steeringCheck({
      engine,
      promptTokens,
      interventions: (s) => (s === 0 ? [] : interventions),
      mentions: (text) => mentionsConcept(text, 'ocean'),
      strengths: [strength!],
      samples: FULL_FORGE.steering.samples,
      temperature: FULL_FORGE.evaluation.temperature,
      maxTokens: FULL_FORGE.steering.maxTokens,
      seed: FULL_FORGE.seed,
    });
    const [unsteered, steered] = [arms.find((a) => a.strength === 0)!, arms.find((a) => a.strength === strength)!];
    expect(unsteered.rate).toBeLessThan(0.3);
    expect(steered.rate).toBeGreaterThanOrEqual(0.5);
    expect(steered.rate).toBeGreaterThan(unsteered.rate + 0.25);
    expect(steered.perplexity).toBeLessThanOrEqual(2 * unsteered.perplexity);
  });
});
