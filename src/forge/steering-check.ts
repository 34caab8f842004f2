/**
 * The forge's closing demonstration: steering one SAE feature (found by its label) makes the model write about
 * its concept when the prompt does not ask for it — and at what cost in fluency, measured as the perplexity of
 * the answers under the unsteered model.
 */
import type { Engine } from '../engine/engine.js';
import { DEFAULT_SAMPLING, type Intervention } from '../engine/types.js';
import { tokenLogProb } from './evaluate-lm.js';
import { Progress } from './progress.js';

export interface SteeringArm {
  strength: number;
  /** share of answers that mention the concept */
  rate: number;
  /** perplexity of the answers' tokens under the unsteered model, given the prompt */
  perplexity: number;
  example: string;
}

export interface SteeringCheckInput {
  engine: Engine;
  promptTokens: number[];
  /** builds the interventions for a strength (0 = none) */
  interventions: (strength: number) => Intervention[];
  mentions: (text: string) => boolean;
  strengths: readonly number[];
  /** also run the unsteered arm, strength 0, first (default true) */
  baseline?: boolean;
  samples: number;
  temperature: number;
  maxTokens: number;
  seed: number;
}

async function answerPerplexity(engine: Engine, prompt: number[], answers: number[][]): Promise<number> {
  let nll = 0;
  let count = 0;
  for (const answer of answers) {
    if (!answer.length) continue;
    const tokens = [...prompt, ...answer].slice(0, engine.info.nCtxPerSequence);
    const { logits } = await engine.evaluate(tokens, { logits: true });
    for (let i = prompt.length; i < tokens.length; i++) {
      nll -= tokenLogProb(logits[i - 1]!, tokens[i]!);
      count++;
    }
  }
  return count ? Math.exp(nll / count) : NaN;
}

export async function steeringCheck(input: SteeringCheckInput): Promise<SteeringArm[]> {
  const { engine } = input;
  const arms: SteeringArm[] = [];
  const strengths = [...(input.baseline === false ? [] : [0]), ...input.strengths.filter((s) => s !== 0)];
  const progress = new Progress('steering check', strengths.length);
  for (const [i, strength] of strengths.entries()) {
    const results = await Promise.all(
      Array.from({ length: input.samples }, (_, s) =>
        engine.generate({
          promptTokens: input.promptTokens,
          maxTokens: input.maxTokens,
          stop: [],
          sampling: { ...DEFAULT_SAMPLING, temperature: input.temperature, seed: input.seed + s },
          interventions: strength === 0 ? [] : input.interventions(strength),
          logprobs: false,
          topLogprobs: 0,
        }).result,
      ),
    );
    arms.push({
      strength,
      rate: results.filter((r) => input.mentions(r.text)).length / results.length,
      perplexity: await answerPerplexity(engine, input.promptTokens, results.map((r) => r.tokens)),
      example: results[0]?.text ?? '',
    });
    progress.update(i + 1, { rate: arms.at(-1)!.rate, ppl: arms.at(-1)!.perplexity });
  }
  return arms;
}
