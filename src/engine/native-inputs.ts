/**
 * Converts the engine's plain-data requests into the native addon's shapes, checking every value first:
 * the addon trusts what it receives.
 */
import {
  APPLY_ALL,
  APPLY_GENERATION,
  APPLY_PROMPT,
  type NativeIntervention,
  type NativeSamplerParams,
} from '../native/addon.js';
import type { ApplyTo, Intervention, SamplingParams } from './types.js';

const APPLY_CODES = { all: APPLY_ALL, prompt: APPLY_PROMPT, generation: APPLY_GENERATION } as const;

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RangeError(message);
}

function checkVector(v: Float32Array, nEmbd: number, what: string): void {
  expect(v instanceof Float32Array && v.length === nEmbd, `Expected ${what} of ${nEmbd} floats but received ${v?.length}`);
  for (let i = 0; i < v.length; i++) expect(Number.isFinite(v[i]), `Expected finite numbers in ${what} (index ${i})`);
}

export function toNativeInterventions(
  list: readonly Intervention[],
  shape: { nLayer: number; nEmbd: number },
): NativeIntervention[] {
  return list.map((iv, i) => {
    const where = `interventions[${i}]`;
    expect(Number.isInteger(iv.layer) && iv.layer >= 0 && iv.layer < shape.nLayer,
      `Expected ${where}.layer in 0..${shape.nLayer - 1} but received ${iv.layer}`);
    const applyTo = APPLY_CODES[iv.applyTo as ApplyTo];
    expect(applyTo !== undefined, `Expected ${where}.applyTo all|prompt|generation but received ${iv.applyTo}`);
    if (iv.kind === 'add') {
      checkVector(iv.vector, shape.nEmbd, `${where}.vector`);
      return { kind: 'add', layer: iv.layer, applyTo, vector: iv.vector };
    }
    if (iv.kind === 'add-positions') {
      expect(iv.vectors instanceof Float32Array && iv.vectors.length > 0 && iv.vectors.length % shape.nEmbd === 0,
        `Expected ${where}.vectors to hold whole rows of ${shape.nEmbd} floats`);
      for (let j = 0; j < iv.vectors.length; j++) expect(Number.isFinite(iv.vectors[j]), `Expected finite numbers in ${where}.vectors`);
      expect(Number.isInteger(iv.firstPosition) && iv.firstPosition >= 0, `Expected ${where}.firstPosition >= 0`);
      return { kind: 'add-positions', layer: iv.layer, applyTo, vectors: iv.vectors, firstPosition: iv.firstPosition };
    }
    expect(iv.kind === 'clamp', `Expected ${where}.kind add|clamp|add-positions`);
    checkVector(iv.encoder, shape.nEmbd, `${where}.encoder`);
    checkVector(iv.decoder, shape.nEmbd, `${where}.decoder`);
    for (const key of ['bias', 'threshold', 'value'] as const) {
      expect(Number.isFinite(iv[key]), `Expected a finite ${where}.${key} but received ${iv[key]}`);
    }
    return { kind: 'clamp', layer: iv.layer, applyTo, encoder: iv.encoder, decoder: iv.decoder,
      bias: iv.bias, threshold: iv.threshold, value: iv.value };
  });
}

export function toNativeSampler(p: SamplingParams, nVocab: number): NativeSamplerParams {
  const finite = (v: number, name: string) => expect(Number.isFinite(v), `Expected a finite ${name} but received ${v}`);
  finite(p.temperature, 'temperature');
  expect(p.temperature >= 0, `Expected temperature >= 0 but received ${p.temperature}`);
  expect(p.topP > 0 && p.topP <= 1, `Expected top_p in (0, 1] but received ${p.topP}`);
  expect(Number.isInteger(p.topK) && p.topK >= 0, `Expected a non-negative integer top_k but received ${p.topK}`);
  expect(p.minP >= 0 && p.minP <= 1, `Expected min_p in [0, 1] but received ${p.minP}`);
  expect(Number.isInteger(p.seed), `Expected an integer seed but received ${p.seed}`);
  expect(p.repeatPenalty > 0 && Number.isFinite(p.repeatPenalty), `Expected repeat_penalty > 0 but received ${p.repeatPenalty}`);
  finite(p.frequencyPenalty, 'frequency_penalty');
  finite(p.presencePenalty, 'presence_penalty');
  expect(Number.isInteger(p.penaltyLastN) && p.penaltyLastN >= -1, `Expected penalty_last_n >= -1 but received ${p.penaltyLastN}`);
  const tokens: number[] = [];
  const values: number[] = [];
  for (const [token, bias] of p.logitBias) {
    expect(Number.isInteger(token) && token >= 0 && token < nVocab, `Expected logit_bias token ids in 0..${nVocab - 1} but received ${token}`);
    expect(Number.isFinite(bias) || bias === -Infinity, `Expected a finite logit_bias for token ${token}`);
    tokens.push(token);
    values.push(bias);
  }
  return {
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
    // llama.cpp takes a uint32 seed
    seed: p.seed >>> 0,
    repeatPenalty: p.repeatPenalty,
    frequencyPenalty: p.frequencyPenalty,
    presencePenalty: p.presencePenalty,
    penaltyLastN: p.penaltyLastN,
    logitBiasTokens: Int32Array.from(tokens),
    logitBiasValues: Float32Array.from(values),
    grammar: p.grammar,
  };
}

export function checkTokens(tokens: readonly number[], nVocab: number, what: string): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    expect(Number.isInteger(t) && t >= 0 && t < nVocab, `Expected ${what}[${i}] to be a token id in 0..${nVocab - 1} but received ${t}`);
  }
}
