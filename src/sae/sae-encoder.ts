/**
 * Fast SAE readout for request-time and corpus-scale work: dense encodes of many residual rows with each row's
 * top features, and nearest features by decoder cosine, through the native saeEncode (ggml's CPU matmul, off
 * the JS thread). Sae.encode stays the plain reference implementation the tests compare against.
 *
 * Encodes run one at a time, process-wide: each already uses every thread it is given, and two at once would
 * only fight over the cores (and over the engine's, whose threads busy-wait).
 */
import { loadAddon, SAE_ACTIVATION, type NativeSaeEncodeArgs, type NativeSaeEncodeResult } from '../native/addon.js';
import type { Sae } from './sae.js';

/** Rows per native call when the caller wants no dense output: bounds the scratch matrix (rows × dSae floats). */
const MAX_SCRATCH_FLOATS = 32 * 1024 * 1024;
/**
 * Products smaller than this run on one thread: starting ggml's worker threads costs several ms per call
 * (measured ~8 ms with 2 threads against 0.1 ms for one demo-size row on one), more than small products take.
 */
const PARALLEL_MIN_MACS = 64 * 1024 * 1024;
/** Decoder norms are summed in slices of this many floats between event-loop yields. */
const NORM_SLICE_FLOATS = 4 * 1024 * 1024;

export interface EncodeOptions {
  /** features reported per row, strongest first (default 0: none) */
  topN?: number;
  /** also return every activation (rows × dSae); pass an array to have it filled in place */
  dense?: boolean | Float32Array;
}

export interface EncodeResult {
  rows: number;
  topN: number;
  /** rows × topN feature indices, strongest first; -1 where a row has fewer active features */
  indices: Int32Array;
  /** rows × topN activations (0 where the index is -1) */
  values: Float32Array;
  /** rows × dSae activations, when asked for */
  dense?: Float32Array;
}

export interface NearFeature {
  index: number;
  cosine: number;
}

type SaeEncodeFn = (args: NativeSaeEncodeArgs) => Promise<NativeSaeEncodeResult>;

let queueTail: Promise<unknown> = Promise.resolve();

/** Runs `work` after every encode queued before it. */
function serialised<T>(work: () => Promise<T>): Promise<T> {
  const run = queueTail.then(work, work);
  queueTail = run.catch(() => undefined);
  return run;
}

export class SaeEncoder {
  /** max(θ, 0) per latent for jumprelu (the engine's clamp uses the same floor), else null */
  private readonly floor: Float32Array | null;
  private decoderNorms: Promise<Float32Array> | undefined;

  private constructor(
    readonly sae: Sae,
    private readonly saeEncode: SaeEncodeFn,
    readonly threads: number,
  ) {
    this.floor = sae.threshold ? sae.threshold.map((t) => Math.max(0, t)) : null;
  }

  /** An encoder on the native addon; `threads` defaults to the physical cores llama.cpp uses. */
  static async create(sae: Sae, options: { threads?: number } = {}): Promise<SaeEncoder> {
    const { addon, binaries } = await loadAddon();
    const threads = options.threads ?? binaries.llama.cpuMathCores;
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer (got ${threads})`);
    return new SaeEncoder(sae, (args) => addon.saeEncode(args), threads);
  }

  /** Activations of `rows` residual rows (rows × dIn floats), as Sae.encode computes them, plus each row's top features. */
  async encode(x: Float32Array, rows: number, options: EncodeOptions = {}): Promise<EncodeResult> {
    const { dIn, dSae } = this.sae;
    const topN = Math.min(options.topN ?? 0, dSae);
    if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer (got ${rows})`);
    if (x.length !== rows * dIn) throw new RangeError(`encode input has ${x.length} values; expected ${rows} × ${dIn}`);
    if (!Number.isSafeInteger(topN) || topN < 0) throw new RangeError(`topN must be a non-negative integer (got ${options.topN})`);
    let dense: Float32Array | undefined;
    if (options.dense instanceof Float32Array) {
      if (options.dense.length !== rows * dSae) throw new RangeError(`dense has ${options.dense.length} values; expected ${rows} × ${dSae}`);
      dense = options.dense;
    } else if (options.dense) {
      dense = new Float32Array(rows * dSae);
    }
    const indices = new Int32Array(rows * topN);
    const values = new Float32Array(rows * topN);
    const step = dense ? rows : Math.max(1, Math.floor(MAX_SCRATCH_FLOATS / dSae));
    for (let from = 0; from < rows; from += step) {
      const count = Math.min(step, rows - from);
      const out = await this.run({
        x: x.subarray(from * dIn, (from + count) * dIn),
        rows: count,
        weights: this.sae.wEnc,
        scale: null,
        bias: this.sae.encoderBias,
        ...this.activation(),
        topN,
        dense: dense ? dense.subarray(from * dSae, (from + count) * dSae) : null,
      });
      indices.set(out.indices, from * topN);
      values.set(out.values, from * topN);
    }
    return dense ? { rows, topN, indices, values, dense } : { rows, topN, indices, values };
  }

  /** The n features whose decoder directions are closest in cosine to feature f's (f itself excluded). */
  async nearestByDecoder(f: number, n: number): Promise<NearFeature[]> {
    const { sae } = this;
    sae.checkFeature(f);
    const norms = await (this.decoderNorms ??= rowNorms(sae.wDec, sae.dSae, sae.dIn));
    const own = norms[f]!;
    const want = Math.min(n + 1, sae.dSae);
    if (own === 0 || want <= 1) return [];
    // cosine = d_f·d_g / (|d_f| |d_g|): the product scaled by 1/|d_g| per feature, then divided by |d_f|
    const scale = norms.map((norm) => (norm > 0 ? 1 / norm : 0));
    const out = await this.run({
      x: sae.decoderRow(f),
      rows: 1,
      weights: sae.wDec,
      scale,
      bias: null,
      activation: SAE_ACTIVATION.identity,
      floor: null,
      k: 0,
      topN: want,
      dense: null,
    });
    const near: NearFeature[] = [];
    out.indices.forEach((index, i) => {
      if (index >= 0 && index !== f && near.length < n) near.push({ index, cosine: out.values[i]! / own });
    });
    return near;
  }

  private activation(): Pick<NativeSaeEncodeArgs, 'activation' | 'floor' | 'k'> {
    const { sae } = this;
    if (sae.architecture === 'topk') return { activation: SAE_ACTIVATION.topk, floor: null, k: sae.k! };
    if (sae.architecture === 'jumprelu') return { activation: SAE_ACTIVATION.jumprelu, floor: this.floor, k: 0 };
    return { activation: SAE_ACTIVATION.relu, floor: null, k: 0 };
  }

  private run(args: Omit<NativeSaeEncodeArgs, 'dIn' | 'dSae' | 'threads'>): Promise<NativeSaeEncodeResult> {
    const { dIn, dSae } = this.sae;
    const threads = args.rows * dIn * dSae >= PARALLEL_MIN_MACS ? this.threads : 1;
    return serialised(() => this.saeEncode({ ...args, dIn, dSae, threads }));
  }
}

/** Euclidean norm of each row of a rows × width matrix, yielding to the event loop between slices. */
async function rowNorms(matrix: Float32Array, rows: number, width: number): Promise<Float32Array> {
  const norms = new Float32Array(rows);
  const rowsPerSlice = Math.max(1, Math.floor(NORM_SLICE_FLOATS / width));
  for (let from = 0; from < rows; from += rowsPerSlice) {
    for (let r = from; r < Math.min(rows, from + rowsPerSlice); r++) {
      let s = 0;
      for (let i = r * width, end = i + width; i < end; i++) s += matrix[i]! * matrix[i]!;
      norms[r] = Math.sqrt(s);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return norms;
}
