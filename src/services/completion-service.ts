/**
 * The work behind /v1/chat/completions and /v1/completions, free of HTTP: validated request in, OpenAI
 * response (or stream of chunks) out. Every failure that can be known before the first token (unknown model,
 * bad steering, context overflow, full queue) is thrown by the time the start promise settles, so the route
 * can still answer with a JSON error instead of a half-open stream.
 */
import { randomUUID } from 'node:crypto';
import type { Engine } from '../engine/engine.js';
import type { GenerationResult } from '../engine/types.js';
import { ClientClosedError, InvalidRequestError, ModelNotFoundError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatLogprobs } from '../schemas/chat-completions.js';
import type { ResponseFormat, Usage } from '../schemas/common.js';
import type { CompletionChunk, CompletionRequest, CompletionResponse } from '../schemas/completions.js';
import type { SteerSpec } from '../steering/steer-schema.js';
import type { SteeringEcho, SteeringResolver } from '../steering/resolve.js';
import type { ChatTemplate } from './chat-template.js';
import type { GrammarCompiler } from './grammar.js';
import { interleave, type Choice, type ChoiceUpdate } from './interleave.js';
import { chatLogprobEntry, CompletionLogprobsBuilder } from './logprobs.js';
import { samplingParams, seedsFor, stopStrings, type SamplingFields } from './sampling.js';

/** What the service needs from the engine (a structural slice, so tests can fake it). */
export type CompletionEngine = Pick<Engine, 'info' | 'tokenize' | 'generate' | 'tokenText' | 'tokenBytes'>;

export interface CompletionServiceOptions {
  engine: CompletionEngine;
  resolver: Pick<SteeringResolver, 'resolve'>;
  metrics: Metrics;
  chatTemplate: ChatTemplate;
  grammars: GrammarCompiler;
}

/** The parts of a request that drive generation, common to both endpoints. */
interface JobSpec extends SamplingFields {
  model: string;
  prompts: number[][];
  n?: number | null;
  maxTokens?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  responseFormat?: ResponseFormat | null;
  steer?: SteerSpec;
  logprobs: boolean;
  topLogprobs: number;
}

/** Generations started for one request. */
interface Job {
  id: string;
  created: number;
  choices: Choice[];
  /** prompt tokens for usage: each prompt counted once, however many choices share it */
  promptTokens: number;
  steering: SteeringEcho[];
  abort: AbortController;
  signal: AbortSignal;
}

type ChatLogprobEntry = ChatLogprobs['content'][number];

const unixTime = () => Math.floor(Date.now() / 1000);
const responseId = (prefix: string) => `${prefix}-${randomUUID().replaceAll('-', '')}`;

export class CompletionService {
  constructor(private readonly options: CompletionServiceOptions) {}

  /** The one model this server serves, as clients name it. */
  get modelId(): string {
    return this.options.engine.info.modelName;
  }

  async chat(request: ChatCompletionRequest, signal: AbortSignal): Promise<ChatCompletionResponse> {
    const job = await this.startChat(request, signal);
    const logprobs = new Map(job.choices.map(({ index }) => [index, [] as ChatLogprobEntry[]]));
    const results = await this.drain(job, (index, event) => {
      const entry = request.logprobs ? chatLogprobEntry(event, this.options.engine) : null;
      if (entry) logprobs.get(index)!.push(entry);
    });
    return {
      id: job.id,
      object: 'chat.completion',
      created: job.created,
      model: this.modelId,
      choices: [...results].map(([index, result]) => ({
        index,
        message: { role: 'assistant' as const, content: result.text },
        logprobs: request.logprobs ? { content: logprobs.get(index) ?? [] } : null,
        finish_reason: finishReason(result),
      })),
      usage: usageOf(job, results.values()),
      steering: job.steering,
    };
  }

  async chatStream(request: ChatCompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.chatChunks(await this.startChat(request, signal), request);
  }

  async completion(request: CompletionRequest, signal: AbortSignal): Promise<CompletionResponse> {
    const job = await this.startCompletion(request, signal);
    const wantLogprobs = wantsCompletionLogprobs(request);
    const logprobs = new Map(job.choices.map(({ index }) => [index, new CompletionLogprobsBuilder(this.options.engine)]));
    const results = await this.drain(job, (index, event) => {
      if (wantLogprobs) logprobs.get(index)!.add(event);
    });
    return {
      id: job.id,
      object: 'text_completion',
      created: job.created,
      model: this.modelId,
      choices: [...results].map(([index, result]) => ({
        index,
        text: result.text,
        logprobs: wantLogprobs ? logprobs.get(index)!.take() : null,
        finish_reason: finishReason(result),
      })),
      usage: usageOf(job, results.values()),
      steering: job.steering,
    };
  }

  async completionStream(request: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<CompletionChunk>> {
    return this.completionChunks(await this.startCompletion(request, signal), request);
  }

  private async startChat(request: ChatCompletionRequest, signal: AbortSignal): Promise<Job> {
    this.checkModel(request.model);
    const prompt = this.options.chatTemplate.render(request.messages);
    // special-token text in the rendered template (<|im_start|> ...) must become the special tokens themselves
    const tokens = this.options.engine.tokenize(prompt, { addSpecial: true, parseSpecial: true });
    return this.start(
      {
        ...request,
        prompts: [tokens],
        maxTokens: request.max_completion_tokens ?? request.max_tokens,
        responseFormat: request.response_format,
        logprobs: request.logprobs ?? false,
        topLogprobs: request.logprobs ? (request.top_logprobs ?? 0) : 0,
      },
      signal,
      'chatcmpl',
    );
  }

  private async startCompletion(request: CompletionRequest, signal: AbortSignal): Promise<Job> {
    this.checkModel(request.model);
    const wantLogprobs = wantsCompletionLogprobs(request);
    return this.start(
      {
        ...request,
        prompts: this.completionPrompts(request.prompt),
        maxTokens: request.max_tokens,
        responseFormat: request.response_format,
        logprobs: wantLogprobs,
        topLogprobs: request.logprobs ?? 0,
      },
      signal,
      'cmpl',
    );
  }

  private checkModel(model: string): void {
    if (model !== this.modelId) throw new ModelNotFoundError(model);
  }

  private completionPrompts(prompt: CompletionRequest['prompt']): number[][] {
    const { engine } = this.options;
    const fromText = (text: string) => engine.tokenize(text, { addSpecial: true, parseSpecial: true });
    let prompts: number[][];
    if (typeof prompt === 'string') prompts = [fromText(prompt)];
    else if (isStringArray(prompt)) prompts = prompt.map(fromText);
    else if (isTokenArray(prompt)) prompts = [prompt];
    else prompts = prompt;
    const { nVocab } = engine.info;
    prompts.forEach((tokens, i) => {
      const param = prompts.length > 1 ? `prompt[${i}]` : 'prompt';
      if (tokens.length === 0) throw new InvalidRequestError(param, 'the prompt has no tokens');
      const bad = tokens.find((t) => t >= nVocab);
      if (bad !== undefined) throw new InvalidRequestError(param, `token id ${bad} is outside this model's vocabulary (0..${nVocab - 1})`);
    });
    return prompts;
  }

  /** Resolves steering and grammar, then starts every generation; on any failure, none is left running. */
  private async start(spec: JobSpec, signal: AbortSignal, idPrefix: string): Promise<Job> {
    const { engine, resolver, grammars, metrics } = this.options;
    const abort = new AbortController();
    signal.addEventListener('abort', () => abort.abort(), { once: true });
    const choices: Choice[] = [];
    try {
      const { interventions, steering } = await resolver.resolve(spec.steer, signal);
      const constraint = await grammars.forFormat(spec.responseFormat);
      const sampling = samplingParams(spec, constraint.grammar, engine.info.nVocab);
      const stop = [...stopStrings(spec.stop), ...constraint.stop];
      const n = spec.n ?? 1;
      const seeds = seedsFor(spec.seed, n);
      spec.prompts.forEach((promptTokens, p) => {
        seeds.forEach((seed, i) => {
          const generation = engine.generate({
            promptTokens,
            maxTokens: spec.maxTokens ?? engine.info.nCtxPerSequence,
            stop,
            sampling: { ...sampling, seed },
            interventions,
            logprobs: spec.logprobs,
            topLogprobs: spec.topLogprobs,
            signal: abort.signal,
          });
          // counted when each generation ends, even one the client abandoned: the tokens were computed
          generation.result.then((result) => this.countGeneration(result), () => undefined);
          choices.push({ index: p * n + i, generation });
        });
      });
      for (const mode of new Set(interventions.map((intervention) => intervention.kind))) {
        metrics.steeredRequests.inc({ mode });
      }
      return {
        id: responseId(idPrefix),
        created: unixTime(),
        choices,
        promptTokens: spec.prompts.reduce((sum, tokens) => sum + tokens.length, 0),
        steering,
        abort,
        signal,
      };
    } catch (err) {
      abort.abort();
      if (signal.aborted) throw new ClientClosedError();
      throw err;
    }
  }

  private countGeneration(result: GenerationResult): void {
    const { metrics } = this.options;
    metrics.promptTokens.inc(result.promptTokens);
    metrics.generatedTokens.inc(result.completionTokens);
    if (result.completionTokens > 0) metrics.timeToFirstToken.observe(result.timeToFirstTokenMs / 1000);
  }

  /**
   * The job's updates in arrival order, timing the gaps between tokens. Leaving early (an error, or a stream
   * the client dropped) aborts the remaining generations so their sequences are freed at once.
   */
  private async *observe(job: Job): AsyncGenerator<ChoiceUpdate> {
    const lastTokenAt = new Map<number, number>();
    let complete = false;
    try {
      for await (const update of interleave(job.choices)) {
        if (update.event && update.event.token >= 0) {
          const now = performance.now();
          const previous = lastTokenAt.get(update.index);
          if (previous !== undefined) this.options.metrics.interTokenLatency.observe((now - previous) / 1000);
          lastTokenAt.set(update.index, now);
        }
        yield update;
      }
      complete = true;
    } finally {
      if (!complete) job.abort.abort();
    }
  }

  /** Runs a job to the end for a non-streaming response; results come back ordered by choice index. */
  private async drain(
    job: Job,
    onEvent: (index: number, event: NonNullable<ChoiceUpdate['event']>) => void,
  ): Promise<Map<number, GenerationResult>> {
    const results = new Map<number, GenerationResult>();
    for await (const update of this.observe(job)) {
      if (update.event) onEvent(update.index, update.event);
      else results.set(update.index, update.result);
    }
    if (job.signal.aborted || [...results.values()].some((r) => r.finishReason === 'abort')) {
      throw new ClientClosedError();
    }
    return new Map([...results].sort(([a], [b]) => a - b));
  }

  private async *chatChunks(job: Job, request: ChatCompletionRequest): AsyncGenerator<ChatCompletionChunk> {
    const includeUsage = request.stream_options?.include_usage ?? false;
    const head = { id: job.id, object: 'chat.completion.chunk' as const, created: job.created, model: this.modelId };
    const usageField = includeUsage ? { usage: null } : {};
    // logprobs of tokens whose text is still held back (partial UTF-8, possible stop string) wait for it
    const heldLogprobs = new Map<number, ChatLogprobEntry[]>();
    const takeLogprobs = (index: number) => {
      const entries = heldLogprobs.get(index) ?? [];
      heldLogprobs.delete(index);
      return request.logprobs ? { content: entries } : null;
    };
    const results: GenerationResult[] = [];
    let first = true;
    for await (const update of this.observe(job)) {
      // 'abort' means the client is gone: there is no one left to send anything to
      if (update.result?.finishReason === 'abort') throw new ClientClosedError();
      if (first) {
        first = false;
        const roles = job.choices.map(({ index }) => ({
          index,
          delta: { role: 'assistant' as const, content: '' },
          logprobs: null,
          finish_reason: null,
        }));
        yield { ...head, choices: roles, ...usageField, steering: job.steering };
      }
      const { index } = update;
      if (update.event) {
        const entry = request.logprobs ? chatLogprobEntry(update.event, this.options.engine) : null;
        if (entry) heldLogprobs.set(index, [...(heldLogprobs.get(index) ?? []), entry]); // a few tokens at most
        if (update.event.text === '') continue;
        const choice = { index, delta: { content: update.event.text }, logprobs: takeLogprobs(index), finish_reason: null };
        yield { ...head, choices: [choice], ...usageField };
      } else {
        results.push(update.result);
        const choice = { index, delta: {}, logprobs: takeLogprobs(index), finish_reason: finishReason(update.result) };
        yield { ...head, choices: [choice], ...usageField };
      }
    }
    if (includeUsage) yield { ...head, choices: [], usage: usageOf(job, results) };
  }

  private async *completionChunks(job: Job, request: CompletionRequest): AsyncGenerator<CompletionChunk> {
    const includeUsage = request.stream_options?.include_usage ?? false;
    const wantLogprobs = wantsCompletionLogprobs(request);
    const head = { id: job.id, object: 'text_completion' as const, created: job.created, model: this.modelId };
    const usageField = includeUsage ? { usage: null } : {};
    const builders = new Map(job.choices.map(({ index }) => [index, new CompletionLogprobsBuilder(this.options.engine)]));
    const results: GenerationResult[] = [];
    // the first chunk goes out with the first token, even an empty one, and carries the steering echo
    let first = true;
    for await (const update of this.observe(job)) {
      if (update.result?.finishReason === 'abort') throw new ClientClosedError();
      const { index } = update;
      const builder = builders.get(index)!;
      let text = '';
      let finish: 'stop' | 'length' | null = null;
      if (update.event) {
        if (wantLogprobs) builder.add(update.event);
        text = update.event.text;
        if (text === '' && !first) continue;
      } else {
        results.push(update.result);
        finish = finishReason(update.result);
      }
      const logprobs = wantLogprobs && builder.pending ? builder.take() : null;
      const steering = first ? { steering: job.steering } : {};
      first = false;
      yield { ...head, choices: [{ index, text, logprobs, finish_reason: finish }], ...usageField, ...steering };
    }
    if (includeUsage) yield { ...head, choices: [], usage: usageOf(job, results) };
  }
}

function isStringArray(value: readonly unknown[]): value is string[] {
  return typeof value[0] === 'string';
}

function isTokenArray(value: readonly unknown[]): value is number[] {
  return typeof value[0] === 'number';
}

/** 'abort' never reaches a client (the drain and the streams stop before); this narrows the type. */
function finishReason(result: GenerationResult): 'stop' | 'length' {
  return result.finishReason === 'length' ? 'length' : 'stop';
}

function usageOf(job: Job, results: Iterable<GenerationResult>): Usage {
  let completion = 0;
  for (const result of results) completion += result.completionTokens;
  return { prompt_tokens: job.promptTokens, completion_tokens: completion, total_tokens: job.promptTokens + completion };
}

/** Completions' logprobs is a count, where 0 still asks for the sampled tokens' own logprobs. */
function wantsCompletionLogprobs(request: CompletionRequest): boolean {
  return request.logprobs !== null && request.logprobs !== undefined;
}
