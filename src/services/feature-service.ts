/**
 * The work behind the feature endpoints, free of HTTP: read the SAE's features on every token of a text (after
 * an optional steered generation), find features by label or by activation, describe one feature.
 *
 * Inspection replays the whole text (prompt + generated tokens) in one evaluation with the request's steering,
 * generated tokens marked as generated, so every token — the last generated one included, which generation
 * never feeds back — is read at the SAE's layer exactly as the steered model computes it.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { ApiError, ClientClosedError, InvalidRequestError, ModelNotFoundError } from '../errors.js';
import {
  DEFAULT_INSPECT_TOP_K,
  DEFAULT_SEARCH_LIMIT,
  type FeatureDetail,
  type FeatureInspection,
  type FeatureInspectRequest,
  type FeatureSearchResult,
} from '../schemas/features.js';
import { findConstellations, type PositionFeatures } from '../sae/constellations.js';
import { loadFeatureStats, type FeatureStats } from '../sae/feature-stats.js';
import { LabelIndex } from '../sae/label-search.js';
import type { Sae } from '../sae/sae.js';
import type { SaeEncoder } from '../sae/sae-encoder.js';
import type { SteeringResolver } from '../steering/resolve.js';
import { firstContentRow, tokenizeForCapture } from '../steering/residual-source.js';
import type { ChatTemplate } from './chat-template.js';
import { samplingParams, seedsFor } from './sampling.js';

/** Features per token that constellations are found among (more than a client usually asks to see). */
const CONSTELLATION_TOP_FEATURES = 16;
const NEAREST_FEATURES = 10;

export class SaeNotLoadedError extends ApiError {
  constructor() {
    super(404, 'not_found_error', 'this server has no SAE loaded: start it with --sae PATH to read features', null, 'sae_not_loaded');
  }
}

export class FeatureNotFoundError extends ApiError {
  constructor(index: number, dSae: number) {
    super(404, 'not_found_error', `feature ${index} does not exist: the SAE has features 0..${dSae - 1}`, 'index', 'feature_not_found');
  }
}

export type FeatureEngine = Pick<Engine, 'info' | 'tokenize' | 'tokenText' | 'generate' | 'evaluate' | 'captureResiduals'>;

export interface FeatureServiceOptions {
  engine: FeatureEngine;
  resolver: Pick<SteeringResolver, 'resolve'>;
  chatTemplate: ChatTemplate;
  /** where the SAE was loaded from (its id is the folder or file name) */
  saePath: string;
  encoder: SaeEncoder;
  labels: LabelIndex;
  stats: FeatureStats | null;
}

/**
 * The service for a loaded SAE (the encoder's): its statistics from beside its files (the --sae folder, or the
 * folder of the file given), and the resolver's label index (one index serves search and steering).
 */
export async function createFeatureService(options: {
  engine: FeatureEngine;
  resolver: Pick<SteeringResolver, 'resolve' | 'labels'>;
  chatTemplate: ChatTemplate;
  saePath: string;
  encoder: SaeEncoder;
}): Promise<FeatureService> {
  const { saePath, encoder } = options;
  const folder = (await stat(saePath)).isDirectory() ? saePath : dirname(saePath);
  const stats = await loadFeatureStats(folder, encoder.sae.dSae);
  return new FeatureService({
    ...options,
    labels: options.resolver.labels ?? new LabelIndex(encoder.sae.labels),
    stats: stats?.stats ?? null,
  });
}

export class FeatureService {
  readonly sae: Sae;

  constructor(private readonly options: FeatureServiceOptions) {
    this.sae = options.encoder.sae;
  }

  async inspect(request: FeatureInspectRequest, signal: AbortSignal): Promise<FeatureInspection> {
    try {
      return await this.read(request, signal);
    } catch (err) {
      // the engine rejects with an AbortError once the client is gone; there is no one left to answer
      if (signal.aborted) throw new ClientClosedError();
      throw err;
    }
  }

  private async read(request: FeatureInspectRequest, signal: AbortSignal): Promise<FeatureInspection> {
    const { engine, resolver, encoder } = this.options;
    const { sae } = this;
    const modelId = engine.info.modelName;
    if (request.model !== undefined && request.model !== modelId) throw new ModelNotFoundError(request.model);
    const param = request.messages ? 'messages' : 'prompt';
    const text = request.messages ? this.options.chatTemplate.render(request.messages) : request.prompt!;
    // special-token text (a rendered chat template's <|im_start|>) must become the special tokens themselves
    const promptTokens = engine.tokenize(text, { addSpecial: true, parseSpecial: true });
    if (promptTokens.length === 0) throw new InvalidRequestError(param, 'the prompt has no tokens');
    const maxTokens = request.generate?.max_tokens ?? 0;
    const limit = engine.info.nCtxPerSequence;
    if (promptTokens.length > limit || (maxTokens > 0 && promptTokens.length >= limit)) {
      throw new InvalidRequestError(param, `the prompt has ${promptTokens.length} tokens; this model's context holds at most ${limit} per request`, 'context_length_exceeded');
    }

    const { interventions, steering } = await resolver.resolve(request.steer, signal);
    let generated: number[] = [];
    if (maxTokens > 0) {
      const sampling = samplingParams({ temperature: request.generate?.temperature }, null, engine.info.nVocab);
      const generation = engine.generate({
        promptTokens,
        maxTokens,
        stop: [],
        sampling: { ...sampling, seed: seedsFor(request.generate?.seed, 1)[0]! },
        interventions,
        logprobs: false,
        topLogprobs: 0,
        signal,
      });
      const result = await generation.result;
      if (result.finishReason === 'abort' || signal.aborted) throw new ClientClosedError();
      generated = result.tokens;
    }

    const tokens = [...promptTokens, ...generated];
    const { residuals } = await engine.evaluate(tokens, { layers: [sae.hookLayer], interventions, generatedFrom: promptTokens.length, signal });
    const topK = request.top_k ?? DEFAULT_INSPECT_TOP_K;
    const topN = Math.min(sae.dSae, Math.max(topK, CONSTELLATION_TOP_FEATURES));
    const encoded = await encoder.encode(residuals[0]!, tokens.length, { topN });
    if (signal.aborted) throw new ClientClosedError();

    const strongest = (position: number) => {
      const out: { index: number; activation: number }[] = [];
      for (let j = 0; j < topN; j++) {
        const index = encoded.indices[position * topN + j]!;
        if (index < 0) break;
        out.push({ index, activation: encoded.values[position * topN + j]! });
      }
      return out;
    };
    const inspected = tokens.map((token, position) => ({
      position,
      token_id: token,
      text: engine.tokenText(token),
      source: position < promptTokens.length ? ('prompt' as const) : ('generated' as const),
      features: strongest(position)
        .slice(0, topK)
        .map((f) => ({ index: f.index, activation: f.activation, ...this.describe(f.index) })),
    }));
    // BOS is an attention sink, not text: its features would join every constellation
    const from = firstContentRow(tokens, engine.info.bos);
    const perPosition: PositionFeatures[] = tokens.slice(from).map((_, i) => ({ position: from + i, features: strongest(from + i) }));
    return {
      object: 'features.inspection',
      model: modelId,
      sae: { id: this.saeId, layer: sae.hookLayer, hook_name: sae.hookName, d_sae: sae.dSae },
      tokens: inspected,
      constellations: findConstellations(perPosition, (f) => sae.label(f)),
      ...(request.steer !== undefined ? { steering } : {}),
    };
  }

  /**
   * Label matches first (LabelIndex's score), then the features most active on the query text: each feature's
   * largest activation over the query's tokens (BOS excluded). A feature among the overall `limit` strongest is
   * necessarily among the `limit` strongest of the token where it peaks, so per-token top lists are enough.
   */
  async search(query: string, limit = DEFAULT_SEARCH_LIMIT, signal?: AbortSignal): Promise<FeatureSearchResult> {
    const { engine, encoder, labels } = this.options;
    const { sae } = this;
    const data: FeatureSearchResult['data'] = labels
      .search(query, limit)
      .map((m) => ({ index: m.index, ...this.describe(m.index), score: m.score, match: 'label' as const }));
    const listed = new Set(data.map((d) => d.index));
    const tokens = tokenizeForCapture(engine, query);
    const from = firstContentRow(tokens, engine.info.bos);
    if (data.length < limit && tokens.length > from) {
      const [rows] = await engine.captureResiduals(tokens, [sae.hookLayer], signal);
      const n = tokens.length - from;
      const topN = Math.min(sae.dSae, limit);
      const encoded = await encoder.encode(rows!.subarray(from * sae.dIn), n, { topN });
      const best = new Map<number, number>();
      encoded.indices.forEach((index, i) => {
        if (index >= 0 && !listed.has(index)) best.set(index, Math.max(best.get(index) ?? 0, encoded.values[i]!));
      });
      const ranked = [...best.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, limit - data.length);
      for (const [index, activation] of ranked) data.push({ index, ...this.describe(index), score: activation, match: 'activation' });
    }
    return { object: 'list', data };
  }

  async feature(index: number): Promise<FeatureDetail> {
    const { sae } = this;
    const { stats, encoder } = this.options;
    if (!Number.isSafeInteger(index) || index < 0 || index >= sae.dSae) throw new FeatureNotFoundError(index, sae.dSae);
    const nearest = await encoder.nearestByDecoder(index, NEAREST_FEATURES);
    const { label, density, rarity } = this.describe(index);
    return {
      object: 'feature',
      index,
      label,
      density,
      max_activation: stats?.maxActivation(index) ?? null,
      rarity,
      top_contexts: stats?.topContexts(index) ?? [],
      nearest: nearest.map((n) => ({ index: n.index, label: sae.label(n.index) ?? null, cosine: n.cosine })),
    };
  }

  private get saeId(): string {
    return basename(this.options.saePath).replace(/\.(safetensors|npz|json)$/i, '');
  }

  private describe(index: number) {
    const { stats } = this.options;
    return { label: this.sae.label(index) ?? null, density: stats?.density(index) ?? null, rarity: stats?.rarity(index) ?? null };
  }
}
