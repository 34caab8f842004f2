/**
 * The generation loop over the native addon: one llama.cpp context, a fixed set of sequence slots,
 * continuous batching (new requests join between decode steps, finished or aborted ones leave at once and
 * free their KV cells), and per-sequence interventions on the residual stream.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { loadAddon, type NativeContext, type NativeModel } from '../native/addon.js';
import type { GpuChoice } from '../native/binaries.js';
import { planBatch, type BatchPlan } from './batch-plan.js';
import { EvaluateJob, GenerateJob, ScoreJob, type EvaluateResult, type Job } from './jobs.js';
import { checkModelFile, ModelLoadError } from './model-file.js';
import { checkTokens, toNativeInterventions, toNativeSampler } from './native-inputs.js';
import {
  ContextLengthError,
  QueueFullError,
  type EngineInfo,
  type EngineStats,
  type GenerateRequest,
  type Generation,
  type Intervention,
  type ScoreRequest,
  type ScoreResult,
} from './types.js';

export interface EngineOptions {
  modelPath: string;
  gpu?: GpuChoice;
  /** layers offloaded to the GPU; -1 = all */
  gpuLayers?: number;
  /** tokens (prompt + generation) one sequence may hold */
  ctx?: number;
  /** sequences decoded together */
  parallel?: number;
  threads?: number;
  /** the most tokens one decode step carries */
  batch?: number;
  /** requests that may wait for a free sequence before new ones are refused */
  queue?: number;
  /** false builds a context without the residual hook (a reference for tests) */
  hook?: boolean;
}

export interface StepEvent {
  batchTokens: number;
  sequences: number;
}

export class Engine extends EventEmitter<{ step: [StepEvent] }> {
  private readonly freeSeqs: number[];
  private readonly active: Job[] = [];
  private readonly queued: Job[] = [];
  private readonly pieces = new Map<number, Uint8Array>();
  private readonly textDecoder = new TextDecoder();
  private loop: Promise<void> | undefined;
  private closed = false;
  private steps = 0;

  private constructor(
    readonly info: EngineInfo,
    readonly llama: Llama,
    private readonly model: NativeModel,
    private readonly context: NativeContext,
    private readonly createSampler: (p: ReturnType<typeof toNativeSampler>) => import('../native/addon.js').NativeSampler,
    private readonly batchSize: number,
    private readonly queueSize: number,
  ) {
    super();
    this.freeSeqs = Array.from({ length: info.nParallel }, (_, i) => i);
  }

  static async load(options: EngineOptions): Promise<Engine> {
    const modelPath = path.resolve(options.modelPath);
    await checkModelFile(modelPath);
    const { addon, binaries } = await loadAddon(options.gpu ?? 'auto');
    const gpuLayers = binaries.gpu ? (options.gpuLayers ?? -1) : 0;
    let model: NativeModel;
    try {
      model = await addon.loadModel(modelPath, { gpuLayers, useMmap: true });
    } catch (error) {
      throw new ModelLoadError(modelPath, (error as Error).message || 'llama.cpp could not load it');
    }
    const m = model.info;
    const parallel = options.parallel ?? 4;
    const ctx = Math.min(options.ctx ?? 2048, m.nCtxTrain > 0 ? m.nCtxTrain : Infinity);
    const batch = options.batch ?? 512;
    for (const [name, value, min] of [['parallel', parallel, 1], ['ctx', ctx, 8], ['batch', batch, 1]] as const) {
      if (!Number.isInteger(value) || value < min) throw new RangeError(`Expected an integer ${name} >= ${min} but received ${value}`);
    }
    const threads = options.threads ?? binaries.llama.cpuMathCores;
    let context: NativeContext;
    try {
      context = addon.createContext(model, { nCtx: ctx * parallel, nBatch: batch, nSeqMax: parallel, threads, hook: options.hook ?? true });
    } catch (error) {
      model.dispose();
      throw error;
    }
    const info: EngineInfo = {
      modelPath,
      modelName: path.basename(modelPath).replace(/\.gguf$/i, ''),
      nLayer: m.nLayer,
      nEmbd: m.nEmbd,
      nVocab: m.nVocab,
      nCtxPerSequence: ctx,
      nParallel: parallel,
      chatTemplate: m.chatTemplate,
      bos: m.bos,
      eos: m.eos,
      addBos: m.addBos,
    };
    return new Engine(info, binaries.llama, model, context, (p) => addon.createSampler(model, p), batch, options.queue ?? 64);
  }

  tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return Array.from(this.model.tokenize(text, opts.addSpecial ?? true, opts.parseSpecial ?? false));
  }

  tokenBytes(token: number): Uint8Array {
    let bytes = this.pieces.get(token);
    if (!bytes) {
      bytes = this.model.tokenBytes(token);
      this.pieces.set(token, bytes);
    }
    return bytes;
  }

  tokenText(token: number): string {
    return this.textDecoder.decode(this.tokenBytes(token));
  }

  detokenize(tokens: readonly number[]): string {
    const decoder = new TextDecoder();
    let out = '';
    for (const t of tokens) out += decoder.decode(this.tokenBytes(t), { stream: true });
    return out + decoder.decode();
  }

  generate(req: GenerateRequest): Generation {
    this.checkOpen();
    checkTokens(req.promptTokens, this.info.nVocab, 'promptTokens');
    if (req.promptTokens.length === 0) throw new RangeError('Expected a prompt of at least one token');
    if (req.promptTokens.length >= this.info.nCtxPerSequence) {
      throw new ContextLengthError(req.promptTokens.length, this.info.nCtxPerSequence);
    }
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) throw new RangeError(`Expected maxTokens >= 1 but received ${req.maxTokens}`);
    if (!Number.isInteger(req.topLogprobs) || req.topLogprobs < 0 || req.topLogprobs > 20) {
      throw new RangeError(`Expected topLogprobs in 0..20 but received ${req.topLogprobs}`);
    }
    const distributions = checkDistributions(req.distributions);
    const interventions = toNativeInterventions(req.interventions, this.info);
    const samplerParams = toNativeSampler(req.sampling, this.info.nVocab);
    this.checkQueue();
    const sampler = this.createSampler(samplerParams);
    const job = new GenerateJob([...req.promptTokens], interventions, {
      maxTokens: Math.min(req.maxTokens, this.info.nCtxPerSequence - req.promptTokens.length),
      stop: req.stop.filter((s) => s.length > 0),
      logprobs: req.logprobs,
      topLogprobs: req.topLogprobs,
      distributions,
      sampler,
      tokenBytes: (t) => this.tokenBytes(t),
      tokenText: (t) => this.tokenText(t),
    });
    job.result.finally(() => sampler.dispose()).catch(() => undefined);
    this.submit(job, req.signal);
    return { result: job.result, [Symbol.asyncIterator]: () => job.events[Symbol.asyncIterator]() };
  }

  /**
   * Runs tokens through the model as a throwaway sequence: raw logits per token and/or residual rows per layer.
   * `generatedFrom` marks tokens from that index on as generated, so interventions with apply_to "generation"
   * (and not "prompt") steer them: a generation replayed with the steering it had.
   */
  evaluate(
    tokens: readonly number[],
    options: {
      layers?: readonly number[];
      logits?: boolean;
      interventions?: readonly Intervention[];
      generatedFrom?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<EvaluateResult> {
    this.checkOpen();
    checkTokens(tokens, this.info.nVocab, 'tokens');
    if (tokens.length === 0) throw new RangeError('Expected at least one token');
    if (tokens.length > this.info.nCtxPerSequence) throw new ContextLengthError(tokens.length, this.info.nCtxPerSequence);
    const layers = options.layers ?? [];
    for (const layer of layers) {
      if (!Number.isInteger(layer) || layer < 0 || layer >= this.info.nLayer) {
        throw new RangeError(`Expected layers in 0..${this.info.nLayer - 1} but received ${layer}`);
      }
    }
    const interventions = toNativeInterventions(options.interventions ?? [], this.info);
    this.checkQueue();
    const generatedFrom = options.generatedFrom ?? Infinity;
    if (!(generatedFrom >= 0)) throw new RangeError(`Expected generatedFrom >= 0 but received ${generatedFrom}`);
    const job = new EvaluateJob([...tokens], interventions, layers, options.logits ?? false, this.info.nEmbd, generatedFrom);
    this.submit(job, options.signal);
    return job.promise;
  }

  /**
   * Teacher forcing: runs the prompt and then `tokens` as if they had been generated (one prefill, batched
   * with whatever else is decoding) and returns each token's log-probability, plus the full next-token
   * log-distributions of the first positions when asked. With the same interventions and a greedy
   * generation's tokens, it reproduces that generation's logprobs (up to float rounding across batch shapes).
   */
  score(req: ScoreRequest): Promise<ScoreResult> {
    this.checkOpen();
    checkTokens(req.promptTokens, this.info.nVocab, 'promptTokens');
    checkTokens(req.tokens, this.info.nVocab, 'tokens');
    if (req.promptTokens.length === 0) throw new RangeError('Expected a prompt of at least one token');
    const fed = req.promptTokens.length + Math.max(0, req.tokens.length - 1);
    if (fed > this.info.nCtxPerSequence) throw new ContextLengthError(fed, this.info.nCtxPerSequence);
    const distributions = checkDistributions(req.distributions);
    const interventions = toNativeInterventions(req.interventions ?? [], this.info);
    if (req.tokens.length === 0) return Promise.resolve({ logprobs: new Float32Array(0), distributions: [] });
    this.checkQueue();
    const job = new ScoreJob(req.promptTokens, [...req.tokens], interventions, distributions);
    this.submit(job, req.signal);
    return job.promise;
  }

  async captureResiduals(tokens: readonly number[], layers: readonly number[], signal?: AbortSignal): Promise<Float32Array[]> {
    return (await this.evaluate(tokens, { layers, signal })).residuals;
  }

  stats(): EngineStats {
    let holding = 0;
    for (let seq = 0; seq < this.info.nParallel; seq++) if (this.context.seqPosMax(seq) >= 0) holding++;
    return { activeSequences: this.active.length, queuedRequests: this.queued.length, sequencesHoldingKv: holding };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of [...this.queued, ...this.active]) job.aborted = true;
    this.queued.splice(0).forEach((job) => job.finishAborted());
    await this.loop;
    this.reap();
    this.context.dispose();
    this.model.dispose();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the engine is closed');
  }

  private checkQueue(): void {
    if (this.freeSeqs.length === 0 && this.queued.length >= this.queueSize) throw new QueueFullError(this.queued.length);
  }

  private submit(job: Job, signal?: AbortSignal): void {
    if (signal) {
      if (signal.aborted) {
        job.aborted = true;
        job.finishAborted();
        return;
      }
      const onAbort = () => this.abort(job);
      signal.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal.removeEventListener('abort', onAbort);
      if (job.kind === 'generate') job.result.finally(detach).catch(() => undefined);
      else job.promise.finally(detach).catch(() => undefined);
    }
    this.queued.push(job);
    this.kick();
  }

  private abort(job: Job): void {
    if (job.done) return;
    job.aborted = true;
    const queuedAt = this.queued.indexOf(job);
    if (queuedAt >= 0) {
      this.queued.splice(queuedAt, 1);
      job.finishAborted();
    } else if (!this.loop) {
      this.reap();
    }
    // while a decode runs the KV cache can't change: the loop frees it as soon as the step returns
  }

  private kick(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      if (this.queued.length && !this.closed) this.kick();
    });
  }

  private admit(): void {
    while (this.freeSeqs.length && this.queued.length) {
      const job = this.queued.shift()!;
      job.seq = this.freeSeqs.shift()!;
      if (job.interventions.length) this.context.setInterventions(job.seq, job.interventions);
      this.active.push(job);
    }
  }

  /** Frees the slots of finished and aborted jobs: their KV cells and interventions go at once. */
  private reap(): void {
    for (let i = this.active.length - 1; i >= 0; i--) {
      const job = this.active[i]!;
      if (!(job.done || job.aborted) || job.inFlight) continue;
      this.active.splice(i, 1);
      this.context.seqRemove(job.seq, -1, -1);
      this.context.clearInterventions(job.seq);
      this.freeSeqs.push(job.seq);
      this.freeSeqs.sort((a, b) => a - b);
      if (job.aborted) job.finishAborted();
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      this.reap();
      if (this.closed) return;
      this.admit();
      const plan = planBatch(this.active, this.batchSize, this.steps++);
      if (!plan) return;
      for (const span of plan.spans) span.job.inFlight = true;
      let result;
      try {
        result = await this.context.decode(plan.batch);
      } catch (error) {
        for (const span of plan.spans) {
          span.job.inFlight = false;
          span.job.fail(error as Error);
        }
        continue;
      } finally {
        for (const span of plan.spans) span.job.inFlight = false;
      }
      this.emit('step', { batchTokens: plan.batch.tokens.length, sequences: plan.spans.length });
      this.route(plan, result);
    }
  }

  private route(plan: BatchPlan, result: Awaited<ReturnType<NativeContext['decode']>>): void {
    for (const span of plan.spans) if (span.promptOffset >= 0) span.job.prefilled += span.count;
    plan.logitTargets.forEach(({ job, index }, i) => job.acceptLogits(index, result.logits[i]!));
    plan.captureTargets.forEach(({ job, layerSlot, promptOffset }, i) => {
      job.residuals[layerSlot]!.set(result.captures[i]!, promptOffset * this.info.nEmbd);
    });
    plan.sampled.forEach((job, i) => {
      if (job.aborted) return;
      job.accept(result.tokens[i]!, result.isEog[i] === 1, result.logprobs[i]!, result.topTokens[i]!, result.topLogprobs[i]!);
    });
    for (const span of plan.spans) {
      if (span.job.kind !== 'generate' && !span.job.prefilling && !span.job.aborted) span.job.complete();
    }
  }
}

function checkDistributions(count: number | undefined): number {
  if (count === undefined) return 0;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`Expected distributions >= 0 but received ${count}`);
  return count;
}
