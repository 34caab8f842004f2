/**
 * Steering directions from text (activation addition, Turner et al. 2023): the mean residual over a phrase's
 * tokens minus the mean residual over a neutral baseline, at one layer. Subtracting the baseline removes what
 * every residual has in common (position, "this is text"), leaving what is specific to the phrase.
 *
 * Each distinct phrase costs a forward pass, so mean residuals are cached per (phrase, layer) in a bounded LRU
 * and concurrent requests for the same phrase share one capture.
 */
import type { FeatureActivation, Sae } from '../sae/sae.js';
import type { SaeEncoder } from '../sae/sae-encoder.js';
import { Lru } from './lru.js';
import { NEUTRAL_TEXT } from './mean-norms.js';
import { firstContentRow, meanRows, tokenizeForCapture, type ResidualSource } from './residual-source.js';

export const DEFAULT_PHRASE_CACHE_SIZE = 512;
export const PHRASE_TOP_FEATURES = 5;

export interface LabelledFeature extends FeatureActivation {
  label?: string;
}

export interface PhraseVector {
  /** phrase mean minus baseline mean at the layer; not normalised */
  direction: Float32Array;
  /** the SAE features most active on the phrase's mean residual at the SAE's layer (when there is an SAE) */
  topFeatures?: LabelledFeature[];
}

/** The phrase tokenizes to nothing the model can read (e.g. only BOS). */
export class EmptyPhraseError extends Error {
  constructor(readonly phrase: string) {
    super(`the phrase ${JSON.stringify(phrase)} has no tokens`);
    this.name = 'EmptyPhraseError';
  }
}

export interface PhraseVectorsOptions {
  source: ResidualSource;
  sae?: Sae;
  /** the SAE's native encoder, for the top features (else the plain Sae.encode, in slices between event-loop turns) */
  encoder?: SaeEncoder;
  baselineText?: string;
  /** (phrase, layer) mean residuals kept; each costs nEmbd floats */
  cacheSize?: number;
}

export class PhraseVectors {
  private readonly source: ResidualSource;
  private readonly sae: Sae | undefined;
  private readonly encoder: SaeEncoder | undefined;
  private readonly baselineText: string;
  /** key: `${layer}\n${text}`; the baseline lives here too but is pinned in `baselineMeans` */
  private readonly means: Lru<string, Float32Array>;
  private readonly baselineMeans = new Map<number, Float32Array>();
  private readonly topFeatures: Lru<string, LabelledFeature[]>;
  /** text → the capture in flight for it, so concurrent requests share one forward pass */
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(options: PhraseVectorsOptions) {
    this.source = options.source;
    this.sae = options.sae;
    this.encoder = options.encoder;
    this.baselineText = options.baselineText ?? NEUTRAL_TEXT;
    const cacheSize = options.cacheSize ?? DEFAULT_PHRASE_CACHE_SIZE;
    this.means = new Lru(cacheSize);
    this.topFeatures = new Lru(cacheSize);
  }

  /** The phrase's activation-addition direction at `layer`, plus its top SAE features when an SAE is loaded. */
  async vector(phrase: string, layer: number, signal?: AbortSignal): Promise<PhraseVector> {
    const saeLayer = this.sae?.hookLayer;
    const cachedTop = this.topFeatures.get(phrase);
    const layers = saeLayer === undefined || cachedTop || saeLayer === layer ? [layer] : [layer, saeLayer];
    const [phraseMeans, baseline] = await Promise.all([
      this.meanResiduals(phrase, layers, signal),
      this.meanResiduals(this.baselineText, [layer], signal),
    ]);
    const phraseMean = phraseMeans[0]!;
    const direction = new Float32Array(phraseMean.length);
    for (let i = 0; i < direction.length; i++) direction[i] = phraseMean[i]! - baseline[0]![i]!;

    let topFeatures = cachedTop;
    if (this.sae && !topFeatures) {
      const sae = this.sae;
      const mean = phraseMeans[layers.indexOf(sae.hookLayer)]!;
      const strongest = this.encoder ? await nativeTop(this.encoder, mean) : await sae.topFeaturesAsync(mean, PHRASE_TOP_FEATURES);
      topFeatures = strongest.map((f) => {
        const label = sae.label(f.index);
        return label === undefined ? f : { ...f, label };
      });
      this.topFeatures.set(phrase, topFeatures);
    }
    return topFeatures ? { direction, topFeatures } : { direction };
  }

  /** Mean residual (BOS excluded) of `text` at each of `layers`, from the cache or one capture of the missing ones. */
  private async meanResiduals(text: string, layers: readonly number[], signal?: AbortSignal): Promise<Float32Array[]> {
    const isBaseline = text === this.baselineText;
    const lookup = (layer: number): Float32Array | undefined =>
      isBaseline ? this.baselineMeans.get(layer) : this.means.get(`${layer}\n${text}`);
    for (;;) {
      // Held here, not looked up again later: storing the new layers may evict these from the LRU.
      const found = new Map(layers.map((layer) => [layer, lookup(layer)]));
      const missing = layers.filter((layer) => !found.get(layer));
      if (missing.length === 0) return layers.map((layer) => found.get(layer)!);
      const pending = this.inflight.get(text);
      if (pending) {
        // Someone else is capturing this text (maybe other layers): wait, then look again. Their failure, such
        // as their client going away, is not ours: we simply retry with our own capture.
        await pending.catch(() => undefined);
        signal?.throwIfAborted();
        continue;
      }
      const capture = this.capture(text, missing, signal);
      this.inflight.set(text, capture);
      let captured: Float32Array[];
      try {
        captured = await capture;
      } finally {
        this.inflight.delete(text);
      }
      missing.forEach((layer, i) => {
        found.set(layer, captured[i]!);
        if (isBaseline) this.baselineMeans.set(layer, captured[i]!);
        else this.means.set(`${layer}\n${text}`, captured[i]!);
      });
      return layers.map((layer) => found.get(layer)!);
    }
  }

  private async capture(text: string, layers: readonly number[], signal?: AbortSignal): Promise<Float32Array[]> {
    const { nEmbd, bos } = this.source.info;
    const tokens = tokenizeForCapture(this.source, text);
    const from = firstContentRow(tokens, bos);
    if (tokens.length <= from) throw new EmptyPhraseError(text);
    const rows = await this.source.captureResiduals(tokens, layers, signal);
    return layers.map((layer, i) => {
      const matrix = rows[i];
      if (!matrix || matrix.length !== tokens.length * nEmbd) {
        throw new Error(`captureResiduals returned ${matrix?.length ?? 'nothing'} floats for layer ${layer}; expected ${tokens.length * nEmbd}`);
      }
      return meanRows(matrix, nEmbd, from, tokens.length);
    });
  }
}

async function nativeTop(encoder: SaeEncoder, row: Float32Array): Promise<FeatureActivation[]> {
  const { indices, values } = await encoder.encode(row, 1, { topN: PHRASE_TOP_FEATURES });
  return Array.from(indices, (index, i) => ({ index, activation: values[i]! })).filter((f) => f.index >= 0);
}
