/**
 * The work a sequence slot carries: a generation (prefill, then one sampled token per step), an evaluation
 * (prefill only, returning logits and/or residual rows) or a score (teacher forcing: prefill a prompt and a
 * given continuation, returning the continuation's log-probabilities). Jobs hold their own progress; the
 * engine loop only schedules them.
 */
import type { NativeIntervention, NativeSampler } from '../native/addon.js';
import { logSoftmax, logSumExp } from './log-softmax.js';
import type { FinishReason, GenerationResult, ScoreResult, TokenEvent, TopLogprob } from './types.js';
import { TextStream } from './text-stream.js';
import { EventQueue } from './event-queue.js';

abstract class BaseJob {
  seq = -1;
  /** prompt tokens already in the KV cache */
  prefilled = 0;
  /** true while a decode carrying this job's tokens is in flight */
  inFlight = false;
  aborted = false;
  done = false;
  readonly createdAt = performance.now();

  constructor(
    readonly prompt: readonly number[],
    readonly interventions: NativeIntervention[],
  ) {}

  get prefilling(): boolean {
    return this.prefilled < this.prompt.length;
  }

  /** whether fed row `index` stands for a generated token (interventions with apply_to generation steer it) */
  isGeneratedRow(_index: number): boolean {
    return false;
  }

  /** whether the full logits of fed row `index` are wanted (they arrive through acceptLogits) */
  wantsLogits(_index: number): boolean {
    return false;
  }

  acceptLogits(_index: number, _logits: Float32Array): void {}

  /** the next position in the sequence */
  abstract get nPast(): number;
  abstract fail(error: Error): void;
  /** called once the job left its slot (finished, aborted or failed) */
  abstract finishAborted(): void;
}

export interface GenerateJobOptions {
  maxTokens: number;
  stop: readonly string[];
  logprobs: boolean;
  topLogprobs: number;
  /** keep the log-distribution of the first this many generated positions */
  distributions: number;
  sampler: NativeSampler;
  tokenBytes: (token: number) => Uint8Array;
  tokenText: (token: number) => string;
}

export class GenerateJob extends BaseJob {
  readonly kind = 'generate';
  readonly generated: number[] = [];
  readonly events = new EventQueue<TokenEvent>();
  readonly result: Promise<GenerationResult>;
  private readonly distributions: Float32Array[] = [];
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: Error) => void;
  private readonly text: TextStream;
  private firstTokenAt = 0;

  constructor(
    prompt: readonly number[],
    interventions: NativeIntervention[],
    readonly options: GenerateJobOptions,
  ) {
    super(prompt, interventions);
    this.text = new TextStream(options.stop);
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // a caller that only awaits `result` must not see an unhandled rejection from the stream side
    this.result.catch(() => undefined);
  }

  get nPast(): number {
    return this.prefilled + Math.max(0, this.generated.length - 1);
  }

  /** the token fed at the next decode step once the prompt is in */
  get lastToken(): number {
    return this.generated[this.generated.length - 1]!;
  }

  get topLogprobsRequested(): number {
    return this.options.logprobs ? this.options.topLogprobs : -1;
  }

  /** whether the row sampled next should also bring back its full logits */
  get wantsDistribution(): boolean {
    return this.generated.length < this.options.distributions;
  }

  /** `index` is the generated position the logits predict */
  override acceptLogits(index: number, logits: Float32Array): void {
    this.distributions[index] = logSoftmax(logits);
  }

  accept(token: number, isEog: boolean, logprob: number, topTokens: Int32Array, topLogprobs: Float32Array): void {
    if (!this.firstTokenAt) this.firstTokenAt = performance.now();
    if (isEog) return this.finish('stop');
    this.generated.push(token);
    const { text, stopped } = this.text.push(this.options.tokenBytes(token));
    const event: TokenEvent = { token, text };
    if (this.options.logprobs) {
      event.logprob = logprob;
      event.topLogprobs = Array.from(topTokens, (t, i): TopLogprob => {
        const bytes = this.options.tokenBytes(t);
        return { token: t, text: this.options.tokenText(t), bytes: Array.from(bytes), logprob: topLogprobs[i]! };
      });
    }
    this.events.push(event);
    if (stopped) this.finish('stop');
    else if (this.generated.length >= this.options.maxTokens) this.finish('length');
  }

  finish(reason: FinishReason): void {
    if (this.done) return;
    this.done = true;
    const held = this.text.flush();
    if (held && reason !== 'abort') this.events.push({ token: -1, text: held });
    this.events.end();
    const now = performance.now();
    this.resolveResult({
      text: this.text.fullText,
      tokens: [...this.generated],
      finishReason: reason,
      promptTokens: this.prompt.length,
      completionTokens: this.generated.length,
      timeToFirstTokenMs: this.firstTokenAt ? this.firstTokenAt - this.createdAt : now - this.createdAt,
      durationMs: now - this.createdAt,
      // the position that sampled EOS (or was cut off by an abort) has no token to go with it
      ...(this.options.distributions > 0 ? { distributions: this.distributions.slice(0, this.generated.length) } : {}),
    });
  }

  finishAborted(): void {
    this.finish('abort');
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.events.fail(error);
    this.rejectResult(error);
  }
}

export interface EvaluateResult {
  /** per prompt token, n_vocab raw logits (when asked) */
  logits: Float32Array[];
  /** per requested layer, tokens × n_embd residual rows after that block (interventions included) */
  residuals: Float32Array[];
}

export class EvaluateJob extends BaseJob {
  readonly kind = 'evaluate';
  readonly logits: Float32Array[] = [];
  readonly residuals: Float32Array[];
  readonly promise: Promise<EvaluateResult>;
  private resolve!: (r: EvaluateResult) => void;
  private reject!: (e: Error) => void;

  constructor(
    prompt: readonly number[],
    interventions: NativeIntervention[],
    readonly layers: readonly number[],
    readonly wantLogits: boolean,
    nEmbd: number,
    /** rows from this index on stand for generated tokens (a generation replayed with its steering) */
    readonly generatedFrom = Infinity,
  ) {
    super(prompt, interventions);
    this.residuals = layers.map(() => new Float32Array(prompt.length * nEmbd));
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  get nPast(): number {
    return this.prefilled;
  }

  override isGeneratedRow(index: number): boolean {
    return index >= this.generatedFrom;
  }

  override wantsLogits(): boolean {
    return this.wantLogits;
  }

  override acceptLogits(index: number, logits: Float32Array): void {
    this.logits[index] = logits;
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    this.resolve({ logits: this.logits, residuals: this.residuals });
  }

  finishAborted(): void {
    this.fail(new DOMException('the evaluation was aborted', 'AbortError'));
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }
}

/**
 * Feeds prompt + tokens[0..n-2] in one go (the last token is predicted, never fed) and keeps, for each token,
 * its log-probability under the logits of the row before it: the generation replayed by teacher forcing.
 */
export class ScoreJob extends BaseJob {
  readonly kind = 'score';
  readonly logprobs: Float32Array;
  readonly distributions: Float32Array[] = [];
  readonly promise: Promise<ScoreResult>;
  private readonly promptLength: number;
  private resolve!: (r: ScoreResult) => void;
  private reject!: (e: Error) => void;

  constructor(
    promptTokens: readonly number[],
    readonly tokens: readonly number[],
    interventions: NativeIntervention[],
    readonly distributionCount: number,
  ) {
    super([...promptTokens, ...tokens.slice(0, -1)], interventions);
    this.promptLength = promptTokens.length;
    this.logprobs = new Float32Array(tokens.length);
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  get nPast(): number {
    return this.prefilled;
  }

  override isGeneratedRow(index: number): boolean {
    return index >= this.promptLength;
  }

  /** the last prompt row predicts tokens[0], each later row the token after it */
  override wantsLogits(index: number): boolean {
    return index >= this.promptLength - 1;
  }

  override acceptLogits(index: number, logits: Float32Array): void {
    const position = index - (this.promptLength - 1);
    const logZ = logSumExp(logits);
    this.logprobs[position] = logits[this.tokens[position]!]! - logZ;
    if (position < this.distributionCount) this.distributions[position] = logSoftmax(logits, logZ);
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    this.resolve({ logprobs: this.logprobs, distributions: this.distributions });
  }

  finishAborted(): void {
    this.fail(new DOMException('the scoring was aborted', 'AbortError'));
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }
}

export type Job = GenerateJob | EvaluateJob | ScoreJob;
