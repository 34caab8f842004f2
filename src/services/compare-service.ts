/**
 * The work behind POST /v1/compare, free of HTTP: one chat request run as several arms (baseline, prompted,
 * steered, prompted+steered) with the same seed and sampling settings. The arms' generations go to the engine
 * together, so they decode in the same batches, each sequence with its own steering; each sample is then
 * scored by a teacher-forced pass of the unsteered model on the original prompt, for fluency and KL (see
 * compare-measures.ts for the definitions).
 */
import { randomUUID } from 'node:crypto';
import type { Engine } from '../engine/engine.js';
import { EventQueue } from '../engine/event-queue.js';
import type { GenerationResult, Intervention } from '../engine/types.js';
import { ClientClosedError, ModelNotFoundError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Usage } from '../schemas/common.js';
import {
  COMPARE_ARMS,
  KL_POSITIONS,
  type CompareArm,
  type CompareArmName,
  type CompareChunk,
  type CompareRequest,
  type CompareResponse,
  type CompareSample,
} from '../schemas/compare.js';
import type { SteeringEcho, SteeringResolver } from '../steering/resolve.js';
import type { ChatTemplate } from './chat-template.js';
import { mean, meanKl, meanOfPresent } from './compare-measures.js';
import { lastUserMessage, promptedMessages } from './compare-prompt.js';
import { samplingParams, seedsFor, stopStrings } from './sampling.js';

/** What the service needs from the engine (a structural slice). */
export type CompareEngine = Pick<Engine, 'info' | 'tokenize' | 'generate' | 'score'>;

export interface CompareServiceOptions {
  engine: CompareEngine;
  resolver: Pick<SteeringResolver, 'resolve'>;
  metrics: Metrics;
  chatTemplate: ChatTemplate;
}

interface ArmPlan {
  arm: CompareArmName;
  steered: boolean;
  promptTokens: number[];
  userMessage: string;
}

type CompareUpdate =
  | { kind: 'token'; arm: CompareArmName; index: number; text: string }
  | { kind: 'sample'; arm: CompareArmName; sample: CompareSample };

/** A comparison under way: its arms and the updates of all its samples, in arrival order. */
interface Comparison {
  id: string;
  created: number;
  arms: ArmPlan[];
  steering: SteeringEcho[];
  updates: AsyncIterable<CompareUpdate>;
  abort: AbortController;
}

const unixTime = () => Math.floor(Date.now() / 1000);

export class CompareService {
  constructor(private readonly options: CompareServiceOptions) {}

  get modelId(): string {
    return this.options.engine.info.modelName;
  }

  async compare(request: CompareRequest, signal: AbortSignal): Promise<CompareResponse> {
    const comparison = await this.start(request, signal);
    const samples: CompareSample[][] = comparison.arms.map(() => []);
    let complete = false;
    try {
      for await (const update of comparison.updates) {
        if (update.kind === 'sample') samples[this.armSlot(comparison, update.arm)]!.push(update.sample);
      }
      complete = true;
    } finally {
      if (!complete) comparison.abort.abort();
    }
    const arms = this.armsOf(comparison, samples);
    return {
      id: comparison.id,
      object: 'compare',
      created: comparison.created,
      model: this.modelId,
      arms,
      usage: totalUsage(arms),
      steering: comparison.steering,
    };
  }

  async compareStream(request: CompareRequest, signal: AbortSignal): Promise<AsyncIterable<CompareChunk>> {
    return this.chunks(await this.start(request, signal));
  }

  private async *chunks(comparison: Comparison): AsyncGenerator<CompareChunk> {
    const head = { id: comparison.id, object: 'compare.chunk' as const, created: comparison.created, model: this.modelId };
    const samples: CompareSample[][] = comparison.arms.map(() => []);
    let first = true;
    let complete = false;
    try {
      for await (const update of comparison.updates) {
        const steering = first ? { steering: comparison.steering } : {};
        first = false;
        if (update.kind === 'token') {
          yield { ...head, arm: update.arm, index: update.index, delta: { content: update.text }, finish_reason: null, ...steering };
        } else {
          const { sample } = update;
          samples[this.armSlot(comparison, update.arm)]!.push(sample);
          yield { ...head, arm: update.arm, index: sample.index, delta: {}, finish_reason: sample.finish_reason, sample, ...steering };
        }
      }
      complete = true;
    } finally {
      // an error, or a client that left mid-stream: the remaining generations free their sequences at once
      if (!complete) comparison.abort.abort();
    }
    const arms = this.armsOf(comparison, samples);
    yield { ...head, arm: null, index: null, delta: {}, finish_reason: null, arms, usage: totalUsage(arms) };
  }

  /**
   * Resolves steering and prompts, then starts the samples. Everything that can be known before the first
   * token (bad steering or template, context overflow, a full queue) fails here or in the first update.
   */
  private async start(request: CompareRequest, signal: AbortSignal): Promise<Comparison> {
    const { engine, resolver, chatTemplate, metrics } = this.options;
    if (request.model !== this.modelId) throw new ModelNotFoundError(request.model);
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const armNames = request.arms ?? [...COMPARE_ARMS];
      const tokenize = (messages: CompareRequest['messages']) =>
        engine.tokenize(chatTemplate.render(messages), { addSpecial: true, parseSpecial: true });
      const original = { promptTokens: tokenize(request.messages), userMessage: lastUserMessage(request.messages) ?? '' };
      const prompted = armNames.some((arm) => arm.startsWith('prompted'))
        ? promptedMessages(request.messages, request.steer, request.prompt_template)
        : null;
      const promptedPlan = prompted && { promptTokens: tokenize(prompted.messages), userMessage: prompted.userMessage };
      const sampling = samplingParams(request, null, engine.info.nVocab);
      const { interventions, steering } = await resolver.resolve(request.steer, signal);
      const arms: ArmPlan[] = armNames.map((arm) => ({
        arm,
        steered: arm.endsWith('steered'),
        ...(arm.startsWith('prompted') ? promptedPlan! : original),
      }));
      if (arms.some((arm) => arm.steered)) {
        for (const mode of new Set(interventions.map((intervention) => intervention.kind))) metrics.steeredRequests.inc({ mode });
      }
      const run: SampleRun = {
        originalPrompt: original.promptTokens,
        interventions,
        maxTokens: request.max_completion_tokens ?? request.max_tokens ?? engine.info.nCtxPerSequence,
        stop: stopStrings(request.stop),
        sampling,
        signal: abort.signal,
      };
      const seeds = seedsFor(request.seed, request.n ?? 1);
      // sample-major: the arms of one seed are submitted side by side, so they share decode steps
      const jobs = seeds.flatMap((seed, index) => arms.map((arm) => ({ arm, index, seed })));
      const updates = new EventQueue<CompareUpdate>();
      this.runAll(jobs, run, updates, abort);
      return { id: `cmp-${randomUUID().replaceAll('-', '')}`, created: unixTime(), arms, steering, updates, abort };
    } catch (err) {
      abort.abort();
      if (signal.aborted) throw new ClientClosedError();
      throw err;
    }
  }

  /**
   * Runs the samples, at most max(arms, engine sequences) at a time: each one holds up to KL_POSITIONS
   * distributions of n_vocab floats until it is scored, so a large n must not hold them all at once.
   */
  private runAll(jobs: SampleJob[], run: SampleRun, updates: EventQueue<CompareUpdate>, abort: AbortController): void {
    const width = Math.min(jobs.length, Math.max(new Set(jobs.map((job) => job.arm)).size, this.options.engine.info.nParallel));
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && !abort.signal.aborted) await this.runSample(jobs[next++]!, run, updates);
    };
    Promise.all(Array.from({ length: width }, worker)).then(
      () => updates.end(),
      (err: Error) => {
        abort.abort();
        updates.fail(err);
      },
    );
  }

  private async runSample({ arm, index, seed }: SampleJob, run: SampleRun, updates: EventQueue<CompareUpdate>): Promise<void> {
    const { engine } = this.options;
    const generation = engine.generate({
      promptTokens: arm.promptTokens,
      maxTokens: run.maxTokens,
      stop: run.stop,
      sampling: { ...run.sampling, seed },
      interventions: arm.steered ? run.interventions : [],
      logprobs: false,
      topLogprobs: 0,
      distributions: KL_POSITIONS,
      signal: run.signal,
    });
    generation.result.then((result) => this.countGeneration(result), () => undefined);
    for await (const event of generation) {
      if (event.text !== '') updates.push({ kind: 'token', arm: arm.arm, index, text: event.text });
    }
    const result = await generation.result;
    // aborted: the client left, or another sample failed and its error is already on its way
    if (result.finishReason === 'abort') throw new ClientClosedError();
    const reference = await engine.score({
      promptTokens: run.originalPrompt,
      tokens: result.tokens,
      distributions: KL_POSITIONS,
      signal: run.signal,
    });
    const fluency = mean(reference.logprobs);
    const klPositions = Math.min(KL_POSITIONS, result.tokens.length);
    updates.push({
      kind: 'sample',
      arm: arm.arm,
      sample: {
        index,
        seed,
        text: result.text,
        tokens: result.tokens,
        finish_reason: result.finishReason === 'length' ? 'length' : 'stop',
        usage: usage(result.promptTokens, result.completionTokens),
        fluency,
        perplexity: fluency === null ? null : Math.exp(-fluency),
        kl_to_baseline: meanKl(result.distributions ?? [], reference.distributions, KL_POSITIONS),
        kl_positions: klPositions,
        time_ms: result.durationMs,
        time_to_first_token_ms: result.timeToFirstTokenMs,
      },
    });
  }

  private countGeneration(result: GenerationResult): void {
    const { metrics } = this.options;
    metrics.promptTokens.inc(result.promptTokens);
    metrics.generatedTokens.inc(result.completionTokens);
    if (result.completionTokens > 0) metrics.timeToFirstToken.observe(result.timeToFirstTokenMs / 1000);
  }

  private armSlot(comparison: Comparison, arm: CompareArmName): number {
    return comparison.arms.findIndex((plan) => plan.arm === arm);
  }

  private armsOf(comparison: Comparison, samples: CompareSample[][]): CompareArm[] {
    return comparison.arms.map((plan, slot) => {
      const sorted = [...samples[slot]!].sort((a, b) => a.index - b.index);
      const fluency = meanOfPresent(sorted.map((s) => s.fluency));
      const completion = sorted.reduce((sum, s) => sum + s.usage.completion_tokens, 0);
      const seconds = sorted.reduce((sum, s) => sum + s.time_ms, 0) / 1000;
      return {
        arm: plan.arm,
        steered: plan.steered,
        user_message: plan.userMessage,
        samples: sorted,
        mean: {
          fluency,
          perplexity: fluency === null ? null : Math.exp(-fluency),
          kl_to_baseline: meanOfPresent(sorted.map((s) => s.kl_to_baseline)),
          completion_tokens: completion / Math.max(1, sorted.length),
          tokens_per_second: seconds > 0 ? completion / seconds : 0,
        },
        usage: usage(plan.promptTokens.length, completion),
      };
    });
  }
}

interface SampleJob {
  arm: ArmPlan;
  index: number;
  seed: number;
}

/** What every sample of one comparison shares. */
interface SampleRun {
  originalPrompt: number[];
  interventions: Intervention[];
  maxTokens: number;
  stop: string[];
  sampling: ReturnType<typeof samplingParams>;
  signal: AbortSignal;
}

function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function totalUsage(arms: readonly CompareArm[]): Usage {
  const prompt = arms.reduce((sum, arm) => sum + arm.usage.prompt_tokens, 0);
  const completion = arms.reduce((sum, arm) => sum + arm.usage.completion_tokens, 0);
  return usage(prompt, completion);
}
