/**
 * Wires the services the HTTP layer uses around a loaded engine (and SAE): steering resolver, chat template,
 * grammars, completion service, and the model description served by /v1/models.
 */
import type { Engine } from '../engine/engine.js';
import { ModelLoadingError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ModelObject } from '../schemas/models.js';
import type { Sae } from '../sae/sae.js';
import { SaeEncoder } from '../sae/sae-encoder.js';
import { measureMeanNorms } from '../steering/mean-norms.js';
import { SteeringResolver } from '../steering/resolve.js';
import { ChatTemplate } from './chat-template.js';
import { CompareService } from './compare-service.js';
import { CompletionService } from './completion-service.js';
import { createFeatureService, type FeatureService } from './feature-service.js';
import { GrammarCompiler } from './grammar.js';

export interface Services {
  metrics: Metrics;
  /** absent while the model loads (and when the app is built only for its OpenAPI document) */
  completions?: CompletionService;
  /** POST /v1/compare */
  compare?: CompareService;
  model?: ModelObject;
  /** the /v1/features endpoints; null when no SAE is loaded */
  features?: FeatureService | null;
}

export interface LoadedSae {
  path: string;
  sae: Sae;
}

export interface CreateServicesOptions {
  engine: Engine;
  metrics: Metrics;
  sae?: LoadedSae | null;
  /** --steer-layer; the middle layer when absent */
  steerLayer?: number;
  /** told about degraded but working set-ups (e.g. no usable chat template) */
  warn?: (message: string) => void;
}

export function defaultSteerLayer(nLayer: number): number {
  return Math.floor(nLayer / 2);
}

/** Measures the model's residual norms (a few forward passes) and builds everything on top of the engine. */
export async function createServices(options: CreateServicesOptions): Promise<Services> {
  const { engine, metrics } = options;
  const { info } = engine;
  const meanNorms = await measureMeanNorms(engine);
  // one native encoder serves phrases' top features and the feature endpoints
  const encoder = options.sae ? await SaeEncoder.create(options.sae.sae) : undefined;
  const resolver = new SteeringResolver({
    source: engine,
    meanNorms,
    defaultLayer: options.steerLayer ?? defaultSteerLayer(info.nLayer),
    sae: options.sae?.sae,
    encoder,
  });
  const chatTemplate = new ChatTemplate(info.chatTemplate, {
    bos: info.bos >= 0 ? engine.tokenText(info.bos) : '',
    eos: info.eos >= 0 ? engine.tokenText(info.eos) : '',
    addBos: info.addBos,
  });
  if (chatTemplate.fallbackReason) {
    options.warn?.(`chat prompts use a plain "role: content" transcript: ${chatTemplate.fallbackReason}`);
  }
  const completions = new CompletionService({
    engine,
    resolver,
    metrics,
    chatTemplate,
    grammars: new GrammarCompiler(engine.llama),
  });
  const features = options.sae && encoder ? await createFeatureService({ engine, resolver, chatTemplate, saePath: options.sae.path, encoder }) : null;
  const compare = new CompareService({ engine, resolver, metrics, chatTemplate });
  return { metrics, completions, compare, features, model: describeModel(engine, resolver.defaultLayer, meanNorms, options.sae ?? null) };
}

/** The loaded services, or the 503 a request gets while the model is still loading. */
export function requireLoaded(services: Services): Required<Services> {
  if (!services.completions || !services.compare || !services.model) throw new ModelLoadingError();
  return services as Required<Services>;
}

function describeModel(engine: Engine, steerLayer: number, meanNorms: Float32Array, sae: LoadedSae | null): ModelObject {
  const { info } = engine;
  return {
    id: info.modelName,
    object: 'model',
    created: Math.floor(Date.now() / 1000),
    owned_by: 'steerd',
    n_layer: info.nLayer,
    n_embd: info.nEmbd,
    n_ctx_per_sequence: info.nCtxPerSequence,
    steer_layer: steerLayer,
    mean_residual_norm: meanNorms[steerLayer] ?? 0,
    sae: sae && {
      path: sae.path,
      d_sae: sae.sae.dSae,
      layer: sae.sae.hookLayer,
      labels: Object.fromEntries([...sae.sae.labels].map(([index, label]) => [String(index), label])),
    },
  };
}
