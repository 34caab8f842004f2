/**
 * A sparse autoencoder over one layer's residual stream, in memory, with the maths the steering code needs:
 * encode / decode, a feature's encoder and decoder directions, and the parameters that let the engine pin a
 * single feature (clamp) without the rest of the SAE.
 *
 * Conventions follow SAELens: acts = act(W_encᵀ·(x - b_dec·[apply_b_dec_to_input]) + b_enc), x̂ = W_decᵀ·acts + b_dec.
 */

/** Work between event-loop yields in encodeAsync: ~10 ms of plain-JS multiply-adds. */
const YIELD_EVERY_MACS = 4_000_000;

export type SaeArchitecture = 'standard' | 'topk' | 'jumprelu';
export const SAE_ARCHITECTURES: readonly SaeArchitecture[] = ['standard', 'topk', 'jumprelu'];

export interface SaeInit {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  /** [dSae, dIn] row-major: SAELens's W_enc [d_in, d_sae] transposed (see `transpose`) */
  wEnc: Float32Array;
  /** [dSae, dIn] row-major, as in SAELens */
  wDec: Float32Array;
  bEnc: Float32Array;
  bDec: Float32Array;
  /** topk only: latents kept per row */
  k?: number;
  /** jumprelu only: per-latent threshold [dSae] */
  threshold?: Float32Array;
  /** the residual-stream layer the SAE reads: the output of block `hookLayer` (l_out-L) */
  hookLayer: number;
  /** the hook name as the file gave it (informational); defaults to blocks.L.hook_resid_post */
  hookName?: string;
  applyBDecToInput?: boolean;
  labels?: Map<number, string>;
}

export interface FeatureActivation {
  index: number;
  activation: number;
}

/** What the engine needs to compute and pin one feature: act_f(x) = act(encoder·x + bias), 0 unless > threshold. */
export interface ClampParams {
  encoder: Float32Array;
  bias: number;
  threshold: number;
}

export class Sae {
  readonly architecture: SaeArchitecture;
  readonly dIn: number;
  readonly dSae: number;
  /** [dSae, dIn]: each feature's encoder is one contiguous row, so encoding is dSae dot products */
  readonly wEnc: Float32Array;
  readonly wDec: Float32Array;
  readonly bEnc: Float32Array;
  readonly bDec: Float32Array;
  readonly k: number | null;
  readonly threshold: Float32Array | null;
  readonly hookLayer: number;
  readonly hookName: string;
  readonly applyBDecToInput: boolean;
  /** feature index → human-readable description (Neuronpedia explanations), possibly empty */
  readonly labels: Map<number, string>;
  /**
   * b_enc - W_enc·b_dec when b_dec is subtracted from the input, else b_enc: folding b_dec into the bias once
   * lets encode skip the per-row subtraction, and is exactly the clamp bias the engine wants.
   */
  private readonly effectiveBias: Float32Array;

  constructor(init: SaeInit) {
    const { dIn, dSae } = init;
    if (!Number.isSafeInteger(dIn) || dIn <= 0 || !Number.isSafeInteger(dSae) || dSae <= 0) {
      throw new Error(`SAE dimensions must be positive integers (d_in ${dIn}, d_sae ${dSae})`);
    }
    expectLength('wEnc', init.wEnc, dSae * dIn);
    expectLength('wDec', init.wDec, dSae * dIn);
    expectLength('bEnc', init.bEnc, dSae);
    expectLength('bDec', init.bDec, dIn);
    if (init.architecture === 'topk') {
      if (init.k === undefined || !Number.isSafeInteger(init.k) || init.k < 1 || init.k > dSae) {
        throw new Error(`a topk SAE needs an integer k in [1, ${dSae}] (got ${init.k})`);
      }
    }
    if (init.architecture === 'jumprelu') {
      if (!init.threshold) throw new Error('a jumprelu SAE needs a threshold per latent');
      expectLength('threshold', init.threshold, dSae);
    }
    this.architecture = init.architecture;
    this.dIn = dIn;
    this.dSae = dSae;
    this.wEnc = init.wEnc;
    this.wDec = init.wDec;
    this.bEnc = init.bEnc;
    this.bDec = init.bDec;
    this.k = init.architecture === 'topk' ? init.k! : null;
    this.threshold = init.architecture === 'jumprelu' ? init.threshold! : null;
    this.hookLayer = init.hookLayer;
    this.hookName = init.hookName ?? `blocks.${init.hookLayer}.hook_resid_post`;
    this.applyBDecToInput = init.applyBDecToInput ?? true;
    this.labels = init.labels ?? new Map();

    this.effectiveBias = Float32Array.from(this.bEnc);
    if (this.applyBDecToInput) {
      for (let f = 0; f < dSae; f++) this.effectiveBias[f] = this.bEnc[f]! - dot(this.wEnc, f * dIn, this.bDec, 0, dIn);
    }
  }

  /** Dense feature activations, rows × dSae, for rows × dIn inputs. */
  encode(x: Float32Array, rows: number): Float32Array {
    expectLength('encode input', x, rows * this.dIn);
    const out = new Float32Array(rows * this.dSae);
    this.preActivate(x, rows, out, 0, this.dSae);
    for (let r = 0; r < rows; r++) this.activateRow(out, r * this.dSae);
    return out;
  }

  /**
   * encode, yielding to the event loop between slices of features. Plain JS manages a few hundred million
   * multiply-adds a second, so one row through a 16k × 2304 SAE blocks for ~100 ms, long enough to stall every
   * token stream the server is serving; request-time callers use this.
   */
  async encodeAsync(x: Float32Array, rows: number): Promise<Float32Array> {
    expectLength('encode input', x, rows * this.dIn);
    const out = new Float32Array(rows * this.dSae);
    const featuresPerSlice = Math.max(1, Math.floor(YIELD_EVERY_MACS / (rows * this.dIn)));
    for (let from = 0; from < this.dSae; from += featuresPerSlice) {
      this.preActivate(x, rows, out, from, Math.min(this.dSae, from + featuresPerSlice));
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let r = 0; r < rows; r++) this.activateRow(out, r * this.dSae);
    return out;
  }

  /** Reconstruction, rows × dIn, from rows × dSae activations. Zero activations (the vast majority) are skipped. */
  decode(acts: Float32Array, rows: number): Float32Array {
    const { dIn, dSae } = this;
    expectLength('decode input', acts, rows * dSae);
    const out = new Float32Array(rows * dIn);
    for (let r = 0; r < rows; r++) {
      const o = r * dIn;
      out.set(this.bDec, o);
      for (let f = 0; f < dSae; f++) {
        const a = acts[r * dSae + f]!;
        if (a === 0) continue;
        const d = f * dIn;
        for (let i = 0; i < dIn; i++) out[o + i]! += a * this.wDec[d + i]!;
      }
    }
    return out;
  }

  /** Feature f's decoder direction (a copy; length dIn). */
  decoderRow(f: number): Float32Array {
    this.checkFeature(f);
    return this.wDec.slice(f * this.dIn, (f + 1) * this.dIn);
  }

  /** Feature f's encoder direction (a copy; length dIn). */
  encoderRow(f: number): Float32Array {
    this.checkFeature(f);
    return this.wEnc.slice(f * this.dIn, (f + 1) * this.dIn);
  }

  /**
   * Parameters reproducing feature f's activation from the raw residual x: act(encoder·x + bias), zeroed unless
   * the pre-activation exceeds `threshold`. Exact for standard and jumprelu; for topk it is the activation the
   * feature has whenever it is among the k largest (a single feature cannot see the others).
   */
  clampParams(f: number): ClampParams {
    return {
      encoder: this.encoderRow(f),
      bias: this.effectiveBias[f]!,
      // SAELens's JumpReLU is ReLU(pre)·[pre > θ]; with θ < 0 the ReLU is the binding cut, so report max(θ, 0)
      // and the engine's single `pre > threshold ? pre : 0` matches exactly.
      threshold: this.threshold ? Math.max(0, this.threshold[f]!) : 0,
    };
  }

  /** The n most active features for one input row (dIn floats), strongest first; inactive features are omitted. */
  topFeatures(x: Float32Array, n: number): FeatureActivation[] {
    return this.strongest(this.encode(x, 1), n);
  }

  /** topFeatures without blocking the event loop (see encodeAsync). */
  async topFeaturesAsync(x: Float32Array, n: number): Promise<FeatureActivation[]> {
    return this.strongest(await this.encodeAsync(x, 1), n);
  }

  /** The bias encode adds to W_enc·x for raw inputs: b_enc, minus W_enc·b_dec when b_dec is subtracted from the input. */
  get encoderBias(): Float32Array {
    return this.effectiveBias;
  }

  label(f: number): string | undefined {
    return this.labels.get(f);
  }

  checkFeature(f: number): void {
    if (!Number.isSafeInteger(f) || f < 0 || f >= this.dSae) {
      throw new RangeError(`feature ${f} is out of range: this SAE has features 0..${this.dSae - 1}`);
    }
  }

  private strongest(acts: Float32Array, n: number): FeatureActivation[] {
    return largestIndices(acts, 0, this.dSae, Math.min(n, this.dSae))
      .map((index) => ({ index, activation: acts[index]! }))
      .filter((f) => f.activation > 0);
  }

  /** Pre-activations of features [fFrom, fTo) for every row, into out (rows × dSae). */
  private preActivate(x: Float32Array, rows: number, out: Float32Array, fFrom: number, fTo: number): void {
    const { dIn, dSae } = this;
    // Feature-major: each encoder row is read from memory once and stays in cache across the input rows.
    for (let f = fFrom; f < fTo; f++) {
      const bias = this.effectiveBias[f]!;
      for (let r = 0; r < rows; r++) out[r * dSae + f] = dot(this.wEnc, f * dIn, x, r * dIn, dIn) + bias;
    }
  }

  /** Applies the architecture's nonlinearity in place to one row of pre-activations. */
  private activateRow(pre: Float32Array, start: number): void {
    const { dSae } = this;
    if (this.architecture === 'topk') {
      const keep = largestIndices(pre, start, dSae, this.k!);
      const kept = keep.map((i) => pre[start + i]!);
      pre.fill(0, start, start + dSae);
      // SAELens: top k of the pre-activations, then ReLU on those
      keep.forEach((i, j) => (pre[start + i] = Math.max(0, kept[j]!)));
      return;
    }
    const threshold = this.threshold;
    for (let f = 0; f < dSae; f++) {
      const v = pre[start + f]!;
      const floor = threshold ? Math.max(0, threshold[f]!) : 0;
      if (!(v > floor)) pre[start + f] = 0;
    }
  }
}

/** Row-major [rows, cols] → [cols, rows]. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  expectLength('matrix', m, rows * cols);
  const out = new Float32Array(m.length);
  // Blocked so both the reads and the writes stay within a few cache lines per block.
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = m[r * cols + c]!;
    }
  }
  return out;
}

/** a[aOff..aOff+n) · b[bOff..bOff+n), with four accumulators so the adds are not one long dependency chain. */
function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[aOff + i]! * b[bOff + i]!;
    s1 += a[aOff + i + 1]! * b[bOff + i + 1]!;
    s2 += a[aOff + i + 2]! * b[bOff + i + 2]!;
    s3 += a[aOff + i + 3]! * b[bOff + i + 3]!;
  }
  for (; i < n; i++) s0 += a[aOff + i]! * b[bOff + i]!;
  return s0 + s1 + s2 + s3;
}

/**
 * Indices (relative to `start`) of the k largest of values[start..start+count), largest first, via a size-k
 * min-heap: O(count·log k) with no per-element allocation; NaNs are never selected over numbers.
 */
export function largestIndices(values: Float32Array, start: number, count: number, k: number): number[] {
  if (k <= 0) return [];
  const heap = new Int32Array(k);
  let size = 0;
  const less = (i: number, j: number): boolean => !(values[start + i]! >= values[start + j]!);
  const siftDown = (pos: number): void => {
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= size) return;
      const r = l + 1;
      const smaller = r < size && less(heap[r]!, heap[l]!) ? r : l;
      if (!less(heap[smaller]!, heap[pos]!)) return;
      [heap[pos], heap[smaller]] = [heap[smaller]!, heap[pos]!];
      pos = smaller;
    }
  };
  for (let i = 0; i < count; i++) {
    if (size < k) {
      heap[size] = i;
      for (let pos = size++; pos > 0; ) {
        const parent = (pos - 1) >> 1;
        if (!less(heap[pos]!, heap[parent]!)) break;
        [heap[pos], heap[parent]] = [heap[parent]!, heap[pos]!];
        pos = parent;
      }
    } else if (values[start + i]! > values[start + heap[0]!]! || Number.isNaN(values[start + heap[0]!]!)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  const key = (i: number): number => {
    const v = values[start + i]!;
    return Number.isNaN(v) ? -Infinity : v;
  };
  // ties (and ±Infinity pairs, whose difference is NaN) fall back to index order
  return Array.from(heap.subarray(0, size)).sort((i, j) => key(j) - key(i) || i - j);
}

function expectLength(what: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected) throw new Error(`${what} has ${array.length} values; expected ${expected}`);
}
