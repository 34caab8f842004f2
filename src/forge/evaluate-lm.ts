/**
 * How good the forged language model is: held-out perplexity against unigram and bigram baselines fitted on
 * the same training tokens, and whether it writes about the concept it is asked for.
 */
import type { Engine } from '../engine/engine.js';
import { DEFAULT_SAMPLING } from '../engine/types.js';
import { Progress } from './progress.js';

export interface BaselinePerplexities {
  unigram: number;
  bigram: number;
  /** weight of the bigram estimate in the interpolation, chosen for the lowest held-out perplexity */
  bigramLambda: number;
}

/** Unigram (add-one) and interpolated bigram perplexities on the held-out documents (first token not predicted). */
export function baselinePerplexities(train: readonly number[][], heldout: readonly number[][], nVocab: number): BaselinePerplexities {
  const unigram = new Float64Array(nVocab).fill(1);
  const bigram = new Map<number, Map<number, number>>();
  const context = new Float64Array(nVocab);
  let total = nVocab;
  for (const doc of train) {
    for (let i = 0; i < doc.length; i++) {
      unigram[doc[i]!]!++;
      total++;
      if (i === 0) continue;
      const prev = doc[i - 1]!;
      let row = bigram.get(prev);
      if (!row) bigram.set(prev, (row = new Map()));
      row.set(doc[i]!, (row.get(doc[i]!) ?? 0) + 1);
      context[prev]!++;
    }
  }
  const pairs: [number, number][] = [];
  for (const doc of heldout) for (let i = 1; i < doc.length; i++) pairs.push([doc[i - 1]!, doc[i]!]);
  const perplexity = (lambda: number) => {
    let nll = 0;
    for (const [prev, next] of pairs) {
      const pUni = unigram[next]! / total;
      const c = context[prev]!;
      const pBi = c > 0 ? (bigram.get(prev)?.get(next) ?? 0) / c : 0;
      nll -= Math.log(lambda * pBi + (1 - lambda) * pUni);
    }
    return Math.exp(nll / pairs.length);
  };
  let best = { lambda: 0, ppl: perplexity(0) };
  for (let lambda = 0.05; lambda < 1; lambda += 0.05) {
    const ppl = perplexity(lambda);
    if (ppl < best.ppl) best = { lambda, ppl };
  }
  return { unigram: perplexity(0), bigram: best.ppl, bigramLambda: Number(best.lambda.toFixed(2)) };
}

/** log-softmax of one logit row at `token` */
export function tokenLogProb(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[token]! - max - Math.log(sum);
}

/** The model's perplexity on held-out documents (each evaluated as its own sequence, first token not predicted). */
export async function modelPerplexity(engine: Engine, heldout: readonly number[][], label = 'held-out perplexity'): Promise<number> {
  let nll = 0;
  let count = 0;
  const progress = new Progress(label, heldout.length);
  for (const [d, doc] of heldout.entries()) {
    const tokens = doc.slice(0, engine.info.nCtxPerSequence);
    const { logits } = await engine.evaluate(tokens, { logits: true });
    for (let i = 1; i < tokens.length; i++) {
      nll -= tokenLogProb(logits[i - 1]!, tokens[i]!);
      count++;
    }
    progress.update(d + 1, { ppl: Math.exp(nll / count) });
  }
  return Math.exp(nll / count);
}

export interface ConceptUsage {
  rate: number;
  byConcept: Record<string, number>;
  samples: number;
}

/**
 * Asks for a story about each concept (sampled at the given temperature) and counts the answers that use the
 * concept's words. `prompt` renders the chat prompt for a concept; `mentions` decides.
 */
export async function conceptUsage(
  engine: Engine,
  concepts: readonly string[],
  prompt: (concept: string) => string,
  mentions: (text: string, concept: string) => boolean,
  options: { samplesPerConcept: number; temperature: number; maxTokens: number; seed: number },
): Promise<ConceptUsage> {
  const byConcept: Record<string, number> = {};
  let hits = 0;
  const progress = new Progress('concept usage', concepts.length);
  for (const [c, concept] of concepts.entries()) {
    const promptTokens = engine.tokenize(prompt(concept), { addSpecial: true, parseSpecial: true });
    const results = await Promise.all(
      Array.from({ length: options.samplesPerConcept }, (_, i) =>
        engine.generate({
          promptTokens,
          maxTokens: options.maxTokens,
          stop: [],
          sampling: { ...DEFAULT_SAMPLING, temperature: options.temperature, seed: options.seed + i },
          interventions: [],
          logprobs: false,
          topLogprobs: 0,
        }).result,
      ),
    );
    const n = results.filter((r) => mentions(r.text, concept)).length;
    byConcept[concept] = n / options.samplesPerConcept;
    hits += n;
    progress.update(c + 1, { rate: hits / ((c + 1) * options.samplesPerConcept) });
  }
  return { rate: hits / (concepts.length * options.samplesPerConcept), byConcept, samples: concepts.length * options.samplesPerConcept };
}
