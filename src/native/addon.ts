/**
 * The whole native boundary, typed in one place. Every value is checked here (or by the engine) before it
 * crosses into C++; the addon trusts its inputs. Slow calls (model load, decode, quantize) return promises
 * and run on a worker thread; native objects are freed by an explicit dispose().
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { resolveLlamaBinaries, type LlamaBinaries } from './binaries.js';

export const APPLY_ALL = 0;
export const APPLY_PROMPT = 1;
export const APPLY_GENERATION = 2;
export type NativeApplyTo = typeof APPLY_ALL | typeof APPLY_PROMPT | typeof APPLY_GENERATION;

export interface NativeModelParams {
  /** layers to offload to the GPU (0 on CPU; -1 = all) */
  gpuLayers: number;
  useMmap: boolean;
}

export interface NativeModelInfo {
  nLayer: number;
  nEmbd: number;
  nVocab: number;
  nCtxTrain: number;
  nParams: number;
  sizeBytes: number;
  description: string;
  bos: number;
  eos: number;
  addBos: boolean;
  chatTemplate: string | null;
}

export interface NativeContextParams {
  /** total KV cells, shared by all sequences (kv_unified) */
  nCtx: number;
  /** the most tokens one llama_decode call carries (= its micro-batch) */
  nBatch: number;
  nSeqMax: number;
  threads: number;
  /** false: no cb_eval at all (a hook-free reference context for tests) */
  hook: boolean;
}

export interface NativeAddIntervention {
  kind: 'add';
  layer: number;
  applyTo: NativeApplyTo;
  vector: Float32Array; // n_embd
}

/** Pins an SAE feature: a = act(enc·x + bias), x += (value - a)·decoder, act = x > threshold ? x : 0. */
export interface NativeClampIntervention {
  kind: 'clamp';
  layer: number;
  applyTo: NativeApplyTo;
  encoder: Float32Array; // n_embd
  bias: number; // b_enc_f - enc_f·b_dec folded in
  threshold: number; // 0 for ReLU/TopK, θ for JumpReLU
  decoder: Float32Array; // n_embd
  value: number;
}

/** Adds row i of `vectors` at position firstPosition + i (evaluation: e.g. replacing the residual by an SAE's reconstruction). */
export interface NativePositionalAddIntervention {
  kind: 'add-positions';
  layer: number;
  applyTo: NativeApplyTo;
  vectors: Float32Array; // n × n_embd
  firstPosition: number;
}

export type NativeIntervention = NativeAddIntervention | NativeClampIntervention | NativePositionalAddIntervention;

export interface NativeSamplerParams {
  /** 0 = greedy */
  temperature: number;
  topK: number; // 0 = off
  topP: number; // 1 = off
  minP: number; // 0 = off
  seed: number; // uint32
  repeatPenalty: number; // 1 = off
  frequencyPenalty: number;
  presencePenalty: number;
  penaltyLastN: number;
  logitBiasTokens: Int32Array;
  logitBiasValues: Float32Array;
  grammar: string | null; // GBNF, root rule "root"
}

export interface NativeCapture {
  layer: number;
  rows: Int32Array; // batch rows whose residual (after interventions) is copied out
}

export interface NativeBatch {
  tokens: Int32Array;
  positions: Int32Array;
  seqIds: Int32Array;
  /** 1 where the row is a generated token (interventions with apply_to generation), 0 for prompt tokens */
  generated: Uint8Array;
  /** rows to sample after the decode, each with its sampler and its count of top logprobs (-1: none) */
  sampleRows: Int32Array;
  samplers: NativeSampler[];
  topLogprobs: Int32Array;
  /** rows whose full logits are copied out (raw, before sampling) */
  logitRows: Int32Array;
  captures: NativeCapture[];
}

export interface NativeDecodeResult {
  /** per sample row */
  tokens: Int32Array;
  isEog: Uint8Array;
  /** log-probability of the sampled token under the raw logits */
  logprobs: Float32Array;
  topTokens: Int32Array[];
  topLogprobs: Float32Array[];
  /** per logit row, n_vocab floats */
  logits: Float32Array[];
  /** per capture, rows.length × n_embd floats */
  captures: Float32Array[];
}

export interface NativeModel {
  readonly info: NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  /** the raw bytes of one token's piece (special tokens rendered) */
  tokenBytes(token: number): Uint8Array;
  dispose(): void;
}

export interface NativeContext {
  decode(batch: NativeBatch): Promise<NativeDecodeResult>;
  setInterventions(seqId: number, interventions: NativeIntervention[]): void;
  clearInterventions(seqId: number): void;
  /** removes the sequence's KV cells in [p0, p1) (-1 = open end) */
  seqRemove(seqId: number, p0: number, p1: number): boolean;
  /** the largest position the sequence holds in the KV cache, -1 when it holds none */
  seqPosMax(seqId: number): number;
  /** llama.cpp's own control vector (layers 1..n-1), used as a reference; null clears it */
  setControlVector(data: Float32Array | null, layerStart: number, layerEnd: number): void;
  dispose(): void;
}

export interface NativeSampler {
  dispose(): void;
}

export interface NativeTrainerParams {
  /** tokens per training window (and per optimizer step) */
  nCtx: number;
  threads: number;
  /** AdamW learning rate: linear warm-up to lr, then cosine decay to lrMin at totalSteps */
  lr: number;
  lrMin: number;
  warmupSteps: number;
  totalSteps: number;
  weightDecay: number;
}

export interface NativeTrainerProgress {
  trainBatches: number;
  trainTotal: number;
  evalBatches: number;
  evalTotal: number;
  step: number;
  lr: number;
}

export interface NativeTrainer {
  /**
   * One pass over `windows` (ndata × (nCtx + 1) tokens; each window trains next-token prediction on its nCtx
   * positions), training on the first nTrain windows and evaluating on the rest.
   */
  epoch(windows: Int32Array, nTrain: number): Promise<{ trainLoss: number; trainAccuracy: number; evalLoss: number | null }>;
  progress(): NativeTrainerProgress;
  save(path: string): void;
  dispose(): void;
}

/** The nonlinearity saeEncode applies after W·x·scale + bias (values as native/src/sae-encode.cc has them). */
export const SAE_ACTIVATION = { identity: 0, relu: 1, jumprelu: 2, topk: 3 } as const;
export type NativeSaeActivation = (typeof SAE_ACTIVATION)[keyof typeof SAE_ACTIVATION];

/**
 * One dense SAE encode: out[r, f] = act((weights[f]·x[r])·scale[f] + bias[f]) for every row, on ggml's CPU
 * backend off the JS thread, with each row's topN largest outputs (positive ones only, except for identity).
 * The typed arrays are read and written in place, never copied, and must not change until the promise settles.
 */
export interface NativeSaeEncodeArgs {
  x: Float32Array; // rows × dIn
  rows: number;
  dIn: number;
  dSae: number;
  weights: Float32Array; // dSae × dIn, one contiguous row per output
  scale: Float32Array | null; // dSae, multiplies the product before the bias
  bias: Float32Array | null; // dSae
  activation: NativeSaeActivation;
  floor: Float32Array | null; // jumprelu: dSae values; an output is kept only above its floor
  k: number; // topk: outputs kept per row
  topN: number; // 0..dSae
  dense: Float32Array | null; // rows × dSae: receives every output when given
  threads: number;
}

export interface NativeSaeEncodeResult {
  /** rows × topN feature indices, largest first; -1 pads a row with fewer qualifying outputs */
  indices: Int32Array;
  values: Float32Array;
}

interface AddonExports {
  loadBackends(binsDir: string): void;
  setLogLevel(level: number): void;
  lastLlamaError(): string;
  loadModel(path: string, params: NativeModelParams): Promise<NativeModel>;
  createContext(model: NativeModel, params: NativeContextParams): NativeContext;
  createSampler(model: NativeModel, params: NativeSamplerParams): NativeSampler;
  quantizeModel(input: string, output: string, ftype: number, threads: number): Promise<void>;
  /** the model must be loaded with useMmap false (its weights are written) */
  createTrainer(model: NativeModel, params: NativeTrainerParams): NativeTrainer;
  /** copies a GGUF file with string metadata keys set (synchronous; reads the whole file) */
  setGgufStrings(input: string, output: string, entries: Record<string, string>): void;
  saeEncode(args: NativeSaeEncodeArgs): Promise<NativeSaeEncodeResult>;
}

let loaded: { addon: AddonExports; binaries: LlamaBinaries } | undefined;

/** Loads the addon built for the llama.cpp variant node-llama-cpp picked (CPU, CUDA, Vulkan, Metal). */
export async function loadAddon(gpu: 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu' = 'auto'): Promise<{
  addon: AddonExports;
  binaries: LlamaBinaries;
}> {
  if (loaded) return loaded;
  const binaries = await resolveLlamaBinaries(gpu);
  const addonPath = new URL(`../../build/variants/${binaries.variant}/steerd.node`, import.meta.url).pathname;
  if (!existsSync(addonPath)) {
    throw new Error(
      `the steerd native addon for ${binaries.variant} is not built (${addonPath} is missing): run npm run build:native`,
    );
  }
  const require = createRequire(import.meta.url);
  const addon = require(addonPath) as AddonExports;
  addon.loadBackends(binaries.binsDir);
  loaded = { addon, binaries };
  return loaded;
}

/** ggml quantization types for quantizeModel (llama_ftype) */
export const LLAMA_FTYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q6_K: 18 } as const;
