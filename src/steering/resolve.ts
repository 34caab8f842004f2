/**
 * Turns a request's `steer` spec into the engine's interventions, plus the echo shown to the user. Everything
 * that depends on the model or the SAE (layer range, vector width, feature range, SAE layer) is checked here
 * and reported as a SteerError naming the offending field, before any forward pass is spent on phrases.
 *
 * Scale: an added vector has norm |strength| × (mean residual norm at its layer), so a strength means the same
 * on every model and layer; only its direction comes from the phrase, feature or vector.
 */
import type { AddIntervention, ApplyTo, ClampIntervention, Intervention } from '../engine/types.js';
import { LabelIndex } from '../sae/label-search.js';
import type { Sae } from '../sae/sae.js';
import type { SaeEncoder } from '../sae/sae-encoder.js';
import { EmptyPhraseError, PhraseVectors, type LabelledFeature, type PhraseVector } from './phrase-vectors.js';
import { l2Norm, type ResidualSource } from './residual-source.js';
import { SteerError } from './steer-error.js';
import { DEFAULT_ADD_STRENGTH, type SteerItem, type SteerSpec } from './steer-schema.js';

export { SteerError } from './steer-error.js';

/** What was applied for one item, as shown in every response (snake_case, JSON-serialisable). */
export interface SteeringEcho {
  source: 'phrase' | 'feature' | 'vector';
  phrase?: string;
  feature?: number;
  /** the feature's label, when the SAE has one */
  label?: string;
  mode: 'add' | 'clamp';
  layer: number;
  strength: number;
  apply_to: ApplyTo;
  /** norm of the vector added; null for clamp */
  vector_norm: number | null;
  /**
   * label_search: the phrase named a feature by its label (every word of the phrase is in the label) and the
   * feature's decoder direction was used; activation_addition: the phrase's mean residual minus a neutral one.
   */
  phrase_method?: 'activation_addition' | 'label_search';
  /** label_search: the feature the phrase resolved to */
  features?: { index: number; label: string; score: number }[];
  top_features?: LabelledFeature[];
}

export interface ResolvedSteering {
  interventions: Intervention[];
  steering: SteeringEcho[];
}

export interface SteeringResolverOptions {
  source: ResidualSource;
  /** mean residual norm per layer (measureMeanNorms) */
  meanNorms: Float32Array;
  /** the layer used when an item names none and there is no SAE */
  defaultLayer: number;
  /** with its labels; enables feature items, clamp, and top features for phrases */
  sae?: Sae;
  /** shared phrase cache; one is created when omitted */
  phraseVectors?: PhraseVectors;
  /** the SAE's native encoder, for a phrase's top features */
  encoder?: SaeEncoder;
  /** index over the SAE's labels for phrases; built from the SAE's labels when omitted */
  labels?: LabelIndex;
}

/** One item after the checks that need no forward pass; `param(field)` names its fields for errors. */
interface CheckedItem {
  item: SteerItem;
  param: (field?: keyof SteerItem) => string;
  source: SteeringEcho['source'];
  mode: 'add' | 'clamp';
  layer: number;
  strength: number;
  applyTo: ApplyTo;
}

export class SteeringResolver {
  private readonly source: ResidualSource;
  private readonly meanNorms: Float32Array;
  private readonly sae: Sae | undefined;
  private readonly phrases: PhraseVectors;
  /** the layer items use when they name none: the SAE's, else the configured default */
  readonly defaultLayer: number;
  /** the SAE's labels, searchable; null without an SAE or without labels (phrases then use activation addition) */
  readonly labels: LabelIndex | null;

  constructor(options: SteeringResolverOptions) {
    const { nLayer, nEmbd } = options.source.info;
    const { meanNorms, sae } = options;
    // Configuration mistakes, not request errors: fail at startup.
    if (meanNorms.length !== nLayer || !meanNorms.every((n) => Number.isFinite(n) && n > 0)) {
      throw new Error(`meanNorms must hold ${nLayer} positive finite norms (got ${meanNorms.length} values)`);
    }
    if (sae && (sae.dIn !== nEmbd || sae.hookLayer < 0 || sae.hookLayer >= nLayer)) {
      throw new Error(`the SAE (d_in ${sae.dIn}, layer ${sae.hookLayer}) does not fit the model (n_embd ${nEmbd}, ${nLayer} layers)`);
    }
    this.defaultLayer = sae ? sae.hookLayer : options.defaultLayer;
    if (!Number.isSafeInteger(this.defaultLayer) || this.defaultLayer < 0 || this.defaultLayer >= nLayer) {
      throw new Error(`the default steering layer ${this.defaultLayer} is outside 0..${nLayer - 1}`);
    }
    this.source = options.source;
    this.meanNorms = meanNorms;
    this.sae = sae;
    this.phrases = options.phraseVectors ?? new PhraseVectors({ source: options.source, sae, encoder: options.encoder });
    this.labels = sae && sae.labels.size > 0 ? (options.labels ?? new LabelIndex(sae.labels)) : null;
  }

  async resolve(steer: SteerSpec | undefined, signal?: AbortSignal): Promise<ResolvedSteering> {
    // Check every item before computing any, so a typo in item 3 costs no forward pass for item 1's phrase.
    const checked = normalise(steer).map(({ item, param }) => this.check(item, param));
    const interventions: Intervention[] = [];
    const steering: SteeringEcho[] = [];
    for (const item of checked) {
      signal?.throwIfAborted();
      const { intervention, echo } = await this.build(item, signal);
      if (intervention) interventions.push(intervention);
      steering.push(echo);
    }
    return { interventions, steering };
  }

  private check(item: SteerItem, param: CheckedItem['param']): CheckedItem {
    const { nLayer } = this.source.info;
    const given = (['phrase', 'feature', 'vector'] as const).filter((key) => item[key] !== undefined);
    if (given.length !== 1) {
      throw new SteerError(param(), 'a steering item takes exactly one of phrase, feature or vector');
    }
    const source = given[0]!;
    const mode = item.mode ?? 'add';
    if (mode !== 'add' && mode !== 'clamp') throw new SteerError(param('mode'), `mode must be "add" or "clamp" (got ${JSON.stringify(mode)})`);
    const applyTo = item.apply_to ?? 'all';
    if (!['all', 'prompt', 'generation'].includes(applyTo)) {
      throw new SteerError(param('apply_to'), `apply_to must be "all", "prompt" or "generation" (got ${JSON.stringify(applyTo)})`);
    }

    if (mode === 'clamp') {
      if (source !== 'feature') throw new SteerError(param('mode'), `clamp applies to SAE features only; use mode "add" for a ${source}`);
      if (!this.sae) throw new SteerError(param('mode'), 'clamp needs an SAE, and this server has none loaded');
      if (item.strength === undefined) {
        throw new SteerError(param('strength'), 'clamp needs a strength: the activation to pin the feature at, in SAE units');
      }
    }
    const strength = item.strength ?? DEFAULT_ADD_STRENGTH;
    if (!Number.isFinite(strength)) throw new SteerError(param('strength'), 'strength must be a finite number');
    if (mode === 'clamp' && strength < 0) throw new SteerError(param('strength'), 'a clamp value must be >= 0 (SAE activations are never negative)');

    if (source === 'feature') {
      const feature = item.feature!;
      if (!this.sae) throw new SteerError(param('feature'), 'this server has no SAE loaded, so it cannot steer by feature; use a phrase or a vector');
      if (!Number.isSafeInteger(feature) || feature < 0 || feature >= this.sae.dSae) {
        throw new SteerError(param('feature'), `feature ${feature} is out of range: the SAE has features 0..${this.sae.dSae - 1}`);
      }
    }
    if (source === 'vector') checkVector(item.vector!, this.source.info.nEmbd, param('vector'));

    const layer = item.layer ?? this.defaultLayer;
    if (!Number.isSafeInteger(layer) || layer < 0 || layer >= nLayer) {
      throw new SteerError(param('layer'), `layer ${layer} is out of range: this model has layers 0..${nLayer - 1}`);
    }
    // A feature's directions are defined at the residual its SAE was trained on, and nowhere else.
    if (source === 'feature' && layer !== this.sae!.hookLayer) {
      throw new SteerError(param('layer'), `SAE features live at layer ${this.sae!.hookLayer} (the SAE's layer); got layer ${layer}`);
    }
    return { item, param, source, mode, layer, strength, applyTo };
  }

  private async build(
    checked: CheckedItem,
    signal?: AbortSignal,
  ): Promise<{ intervention: Intervention | null; echo: SteeringEcho }> {
    const { item, source, mode, layer, strength, applyTo } = checked;
    const echo: SteeringEcho = { source, mode, layer, strength, apply_to: applyTo, vector_norm: null };
    // a phrase that names a labelled feature steers along that feature; labels live at the SAE's layer only
    const named = source === 'phrase' && this.labels && layer === this.sae!.hookLayer ? this.labels.resolvePhrase(item.phrase!) : null;
    if (named) {
      Object.assign(echo, { phrase: item.phrase, phrase_method: 'label_search', features: [{ index: named.index, label: named.label, score: named.score }] });
    } else if (source === 'phrase') {
      Object.assign(echo, { phrase: item.phrase, phrase_method: 'activation_addition' });
    }
    if (source === 'feature') {
      const label = this.sae!.label(item.feature!);
      Object.assign(echo, label === undefined ? { feature: item.feature } : { feature: item.feature, label });
    }

    if (mode === 'clamp') {
      // Unlike add, 0 is a real intervention here: it ablates the feature.
      const sae = this.sae!;
      const f = item.feature!;
      const clamp: ClampIntervention = { kind: 'clamp', layer, applyTo, ...sae.clampParams(f), decoder: sae.decoderRow(f), value: strength };
      return { intervention: clamp, echo };
    }

    const norm = Math.abs(strength) * this.meanNorms[layer]!;
    echo.vector_norm = norm;
    // Strength 0 adds nothing: skip the intervention (and the phrase's forward pass) so the output is exactly
    // the unsteered one.
    if (strength === 0) return { intervention: null, echo };

    // kept in float64 for raw vectors, whose entries may not fit float32 before normalising
    let direction: ArrayLike<number>;
    if (named) {
      direction = this.sae!.decoderRow(named.index);
    } else if (source === 'phrase') {
      const phrase = await this.phraseVector(item.phrase!, layer, checked.param('phrase'), signal);
      direction = phrase.direction;
      if (phrase.topFeatures) echo.top_features = phrase.topFeatures;
    } else if (source === 'feature') {
      direction = this.sae!.decoderRow(item.feature!);
    } else {
      direction = item.vector!;
    }
    const directionNorm = l2Norm(direction);
    if (!(directionNorm > 0) || !Number.isFinite(directionNorm)) {
      throw new SteerError(checked.param(source), `the ${source}'s direction at layer ${layer} has zero or non-finite length, so it gives no direction to steer along`);
    }
    const scale = (strength * this.meanNorms[layer]!) / directionNorm;
    const vector = new Float32Array(direction.length);
    for (let i = 0; i < vector.length; i++) vector[i] = direction[i]! * scale;
    const add: AddIntervention = { kind: 'add', layer, applyTo, vector };
    return { intervention: add, echo };
  }

  private async phraseVector(phrase: string, layer: number, param: string, signal?: AbortSignal): Promise<PhraseVector> {
    try {
      return await this.phrases.vector(phrase, layer, signal);
    } catch (err) {
      if (err instanceof EmptyPhraseError) throw new SteerError(param, `${err.message}, so it cannot steer`);
      throw err;
    }
  }
}

/** A bare string, one item or a list → items, each with the OpenAI-style `param` naming its fields. */
function normalise(steer: SteerSpec | undefined): Array<{ item: SteerItem; param: CheckedItem['param'] }> {
  if (steer === undefined) return [];
  // A bare string is the phrase itself, so all its errors point at `steer`.
  if (typeof steer === 'string') return [{ item: { phrase: steer }, param: () => 'steer' }];
  const at = (base: string) => (field?: string) => (field === undefined ? base : `${base}.${field}`);
  if (Array.isArray(steer)) return steer.map((item, i) => ({ item, param: at(`steer[${i}]`) }));
  return [{ item: steer, param: at('steer') }];
}

function checkVector(vector: readonly number[], nEmbd: number, param: string): void {
  if (vector.length !== nEmbd) {
    throw new SteerError(param, `vector has ${vector.length} values but this model's residual width (n_embd) is ${nEmbd}`);
  }
  if (!vector.every(Number.isFinite)) throw new SteerError(param, 'vector values must be finite numbers');
  const norm = l2Norm(vector);
  if (!(norm > 0 && Number.isFinite(norm))) {
    throw new SteerError(param, `vector has ${norm === 0 ? 'zero' : 'non-finite'} length, so it gives no direction to steer along`);
  }
}
