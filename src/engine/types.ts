/**
 * The engine's public contract. The engine takes resolved interventions as plain data: it knows nothing of
 * HTTP, steer specs or SAE files.
 */
export type ApplyTo = 'all' | 'prompt' | 'generation';

/** x += vector at block `layer`'s output (l_out-L = SAELens blocks.L.hook_resid_post). */
export interface AddIntervention {
  kind: 'add';
  layer: number;
  applyTo: ApplyTo;
  vector: Float32Array;
}

/** Pins one SAE feature: a = act(encoder·x + bias), x += (value - a)·decoder. */
export interface ClampIntervention {
  kind: 'clamp';
  layer: number;
  applyTo: ApplyTo;
  encoder: Float32Array;
  /** b_enc[f] - encoder·b_dec, so the engine needs no b_dec */
  bias: number;
  /** JumpReLU threshold; 0 for ReLU / TopK */
  threshold: number;
  decoder: Float32Array;
  value: number;
}

/**
 * Adds row i of `vectors` at position firstPosition + i. For evaluation rather than steering: e.g. patching in
 * an SAE's reconstruction (x + (x̂ − x)) to measure the loss it recovers.
 */
export interface PositionalAddIntervention {
  kind: 'add-positions';
  layer: number;
  applyTo: ApplyTo;
  vectors: Float32Array;
  firstPosition: number;
}

export type Intervention = AddIntervention | ClampIntervention | PositionalAddIntervention;

export interface SamplingParams {
  /** 0 = greedy */
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repeatPenalty: number;
  penaltyLastN: number;
  logitBias: ReadonlyMap<number, number>;
  /** GBNF grammar constraining the output (JSON modes) */
  grammar: string | null;
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  seed: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repeatPenalty: 1,
  penaltyLastN: 64,
  logitBias: new Map(),
  grammar: null,
};

export interface GenerateRequest {
  promptTokens: readonly number[];
  maxTokens: number;
  stop: readonly string[];
  sampling: SamplingParams;
  interventions: readonly Intervention[];
  /** report each sampled token's log-probability (under the raw, unsteered-by-sampling logits) */
  logprobs: boolean;
  /** 0..20 most likely alternatives per position (needs logprobs) */
  topLogprobs: number;
  /**
   * Keep the full next-token log-distribution (log-softmax of the raw logits, before any sampling setting)
   * of the first `distributions` generated positions, in the result. Default 0. Costs n_vocab floats each.
   */
  distributions?: number;
  signal?: AbortSignal;
}

export interface TopLogprob {
  token: number;
  text: string;
  bytes: number[];
  logprob: number;
}

/**
 * One step of a generation. Concatenating `text` over all events gives the result's text. Text that might
 * start a stop string is held back; when the generation ends on something else, the held text comes in a
 * last event with `token` -1 (no logprobs: it belongs to tokens already reported).
 */
export interface TokenEvent {
  token: number;
  /** the text this token completes ('' while a UTF-8 character or a possible stop string is pending) */
  text: string;
  logprob?: number;
  topLogprobs?: TopLogprob[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** ms from admission request to the first generated token */
  timeToFirstTokenMs: number;
  durationMs: number;
  /** with GenerateRequest.distributions: one log-distribution per generated token, for its position (EOS excluded) */
  distributions?: Float32Array[];
}

/**
 * Teacher forcing: the prompt, then `tokens` fed as if the model had generated them (rows after the prompt
 * count as generated, so apply_to: generation steers them as it would during generation).
 */
export interface ScoreRequest {
  promptTokens: readonly number[];
  tokens: readonly number[];
  interventions?: readonly Intervention[];
  /** full log-distributions for the first `distributions` positions of `tokens` (default 0) */
  distributions?: number;
  signal?: AbortSignal;
}

export interface ScoreResult {
  /** log P(tokens[i] | prompt, tokens[0..i-1]) under the raw logits, per token */
  logprobs: Float32Array;
  /** the next-token log-distribution (log-softmax) at positions 0..min(distributions, tokens)-1 */
  distributions: Float32Array[];
}

export interface Generation extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerationResult>;
}

export interface EngineInfo {
  modelPath: string;
  modelName: string;
  nLayer: number;
  nEmbd: number;
  nVocab: number;
  /** the most tokens (prompt + generation) one sequence may hold */
  nCtxPerSequence: number;
  nParallel: number;
  chatTemplate: string | null;
  bos: number;
  eos: number;
  addBos: boolean;
}

export interface EngineStats {
  activeSequences: number;
  queuedRequests: number;
  /** sequences that still hold KV cells (should equal activeSequences when idle) */
  sequencesHoldingKv: number;
}

export class QueueFullError extends Error {
  constructor(readonly queueSize: number) {
    super(`the request queue is full (${queueSize} waiting)`);
    this.name = 'QueueFullError';
  }
}

export class ContextLengthError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly limit: number,
  ) {
    super(`the prompt has ${promptTokens} tokens; this model's context holds at most ${limit} per request`);
    this.name = 'ContextLengthError';
  }
}
