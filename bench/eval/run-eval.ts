/**
 * The evaluation loop: every concept × prompt goes through /v1/compare's service, once per strength. The
 * unsteered arms (baseline, prompted) do not depend on the strength, so they run with the first strength only;
 * the steered arms run at every strength. Each answer becomes one record.
 */
import type { CompareArmName, CompareRequest, CompareResponse } from '../../src/schemas/compare.js';
import { conceptName, type EvalConcept, type EvalConfig } from './config.js';
import { conceptMatcher } from './concept-score.js';

/** What the harness needs: the compare service, or anything that answers like it. */
export interface Comparer {
  compare(request: CompareRequest, signal: AbortSignal): Promise<CompareResponse>;
}

export interface EvalRecord {
  concept: string;
  /** index into config.prompts */
  prompt: number;
  arm: CompareArmName;
  /** null for the unsteered arms */
  strength: number | null;
  sample: number;
  text: string;
  usesConcept: boolean;
  completionTokens: number;
  /** mean log-probability under the unsteered model (null without tokens) */
  fluency: number | null;
  klToBaseline: number | null;
  /** the arm's decode rate in this call (arms share decode steps, so they are close) */
  tokensPerSecond: number;
}

export const isSteeredArm = (arm: CompareArmName): boolean => arm.endsWith('steered');

export function compareRequest(config: EvalConfig, model: string, concept: EvalConcept, prompt: string, strength: number, arms: CompareArmName[]): CompareRequest {
  const messages: CompareRequest['messages'] = [];
  if (config.system) messages.push({ role: 'system', content: config.system });
  messages.push({ role: 'user', content: prompt });
  return {
    model,
    messages,
    max_tokens: config.max_tokens,
    temperature: config.temperature,
    seed: config.seed,
    n: config.n,
    steer: { ...(concept.steer ?? { phrase: conceptName(concept) }), strength },
    arms,
    // {name} is the harness's own placeholder; {message} is left for the endpoint
    prompt_template: config.prompt_template.replaceAll('{name}', conceptName(concept)),
  };
}

export interface RunOptions {
  model: string;
  signal?: AbortSignal;
  /** called after each compare call */
  onProgress?: (done: number, total: number) => void;
}

export async function runEvaluation(config: EvalConfig, comparer: Comparer, options: RunOptions): Promise<EvalRecord[]> {
  const signal = options.signal ?? new AbortController().signal;
  const steeredArms = config.arms.filter(isSteeredArm);
  const calls = config.concepts.length * config.prompts.length * (steeredArms.length ? config.strengths.length : 1);
  const records: EvalRecord[] = [];
  let done = 0;
  for (const concept of config.concepts) {
    const uses = conceptMatcher(concept.words);
    for (const [promptIndex, prompt] of config.prompts.entries()) {
      for (const [s, strength] of config.strengths.entries()) {
        const arms = s === 0 ? config.arms : steeredArms;
        if (arms.length === 0) break;
        const response = await comparer.compare(compareRequest(config, options.model, concept, prompt, strength, arms), signal);
        for (const arm of response.arms) {
          for (const sample of arm.samples) {
            records.push({
              concept: concept.id,
              prompt: promptIndex,
              arm: arm.arm,
              strength: arm.steered ? strength : null,
              sample: sample.index,
              text: sample.text,
              usesConcept: uses(sample.text),
              completionTokens: sample.usage.completion_tokens,
              fluency: sample.fluency,
              klToBaseline: sample.kl_to_baseline,
              tokensPerSecond: arm.mean.tokens_per_second,
            });
          }
        }
        options.onProgress?.(++done, calls);
      }
    }
  }
  return records;
}

export interface ThroughputRow {
  arm: CompareArmName;
  sequences: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/**
 * Each arm alone, `sequences` samples at once (a full batch), on the first concept and prompt at `strength`:
 * the cost of steering (and of a longer prompted prompt) in tokens per second of wall time.
 */
export async function measureThroughput(
  config: EvalConfig,
  comparer: Comparer,
  options: { model: string; sequences: number; strength: number; signal?: AbortSignal },
): Promise<ThroughputRow[]> {
  const signal = options.signal ?? new AbortController().signal;
  const rows: ThroughputRow[] = [];
  for (const arm of config.arms) {
    const request = compareRequest(config, options.model, config.concepts[0]!, config.prompts[0]!, options.strength, [arm]);
    const started = performance.now();
    const response = await comparer.compare({ ...request, n: options.sequences }, signal);
    const seconds = (performance.now() - started) / 1000;
    const tokens = response.usage.completion_tokens;
    rows.push({ arm, sequences: options.sequences, tokens, seconds, tokensPerSecond: tokens / seconds });
  }
  return rows;
}
