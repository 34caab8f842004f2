/** Maps the OpenAI sampling fields (plus steerd's top_k, min_p, repeat_penalty) to the engine's SamplingParams. */
import { randomInt } from 'node:crypto';
import { DEFAULT_SAMPLING, type SamplingParams } from '../engine/types.js';
import { InvalidRequestError } from '../errors.js';

/** The sampling fields both request schemas share, already validated for range. */
export interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repeat_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
}

export function samplingParams(fields: SamplingFields, grammar: string | null, nVocab: number): SamplingParams {
  const logitBias = new Map<number, number>();
  for (const [key, bias] of Object.entries(fields.logit_bias ?? {})) {
    const token = Number(key);
    if (!Number.isSafeInteger(token) || token >= nVocab) {
      throw new InvalidRequestError('logit_bias', `logit_bias has token id ${key}, but this model's vocabulary is 0..${nVocab - 1}`);
    }
    logitBias.set(token, bias);
  }
  let temperature = fields.temperature ?? DEFAULT_SAMPLING.temperature;
  let topP = fields.top_p ?? DEFAULT_SAMPLING.topP;
  // top_p 0 keeps only the most likely token: that is greedy decoding, which llama.cpp spells temperature 0
  if (topP === 0) {
    temperature = 0;
    topP = 1;
  }
  return {
    ...DEFAULT_SAMPLING,
    temperature,
    topP,
    topK: fields.top_k ?? DEFAULT_SAMPLING.topK,
    minP: fields.min_p ?? DEFAULT_SAMPLING.minP,
    presencePenalty: fields.presence_penalty ?? DEFAULT_SAMPLING.presencePenalty,
    frequencyPenalty: fields.frequency_penalty ?? DEFAULT_SAMPLING.frequencyPenalty,
    repeatPenalty: fields.repeat_penalty ?? DEFAULT_SAMPLING.repeatPenalty,
    logitBias,
    grammar,
  };
}

/**
 * One seed per choice: seed, seed+1, ... (as uint32, llama.cpp's seed type), so each choice is repeatable on
 * its own. Without a seed the request gets a random one, like OpenAI.
 */
export function seedsFor(seed: number | null | undefined, count: number): number[] {
  const base = seed ?? randomInt(0, 2 ** 32);
  return Array.from({ length: count }, (_, i) => (base + i) >>> 0);
}

export function stopStrings(stop: string | string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return typeof stop === 'string' ? [stop] : stop;
}
