/**
 * How good an SAE is on a set of activation rows, in the numbers the SAE literature reports: FVU (fraction of
 * variance unexplained), L0 (active latents per row), dead latents, and how evenly the live ones share the
 * work. Works for every architecture the Sae class knows, with the exported SAE's own semantics (SAELens:
 * TopK keeps the k largest pre-activations then ReLU; JumpReLU needs pre > max(θ, 0)), so the numbers describe
 * what steering will actually use rather than the trainer's internal state.
 */
import type { Sae } from '../sae.js';
import { dot, multiplyTransposed } from './dense-kernels.js';
import { TopKSelector } from './topk-select.js';

export interface SaeMetrics {
  rows: number;
  /** Σ‖x − x̂‖² / Σ‖x − mean(x)‖²: 0 is perfect, 1 is no better than predicting the mean */
  fvu: number;
  /** mean ‖x − x̂‖² per row */
  mse: number;
  /** mean number of nonzero latents per row */
  l0: number;
  /** latents that never fired on these rows (a rare latent can look dead on a small set) */
  deadLatents: number;
  deadFraction: number;
  /** max / median firing frequency among the latents that fired: 1 is perfectly even */
  frequencyMaxOverMedian: number;
  /**
   * entropy of the firing distribution (each latent's share of all firings) divided by ln(d_sae): 1 when every
   * latent fires equally often, lower when a few latents dominate or many are dead
   */
  frequencyEntropy: number;
  /** latents per decade of firing frequency, [10^lower, 10^(lower+1)); the dead ones under lower = null */
  frequencyHistogram: { log10Lower: number | null; latents: number }[];
  /** per latent: fraction of rows on which it was nonzero */
  frequencies: Float64Array;
}

/** Rows encoded at once: a pre-activation block of about 1 MB whatever d_sae is. */
const BLOCK_FLOATS = 1 << 18;

export function evaluateSae(sae: Sae, rows: Float32Array): SaeMetrics {
  const { dIn, dSae } = sae;
  if (rows.length % dIn !== 0) throw new Error(`evaluation rows hold ${rows.length} values, not a multiple of d_in ${dIn}`);
  const n = rows.length / dIn;
  if (n === 0) throw new Error('no rows to evaluate on');

  const mean = new Float64Array(dIn);
  for (let r = 0; r < n; r++) for (let i = 0; i < dIn; i++) mean[i]! += rows[r * dIn + i]!;
  for (let i = 0; i < dIn; i++) mean[i]! /= n;
  let totalSquares = 0;
  for (let r = 0; r < n; r++) for (let i = 0; i < dIn; i++) totalSquares += (rows[r * dIn + i]! - mean[i]!) ** 2;

  // b_dec folded into the bias once (as Sae does): pre = W_enc·x + (b_enc − W_enc·b_dec)
  const bias = Float32Array.from(sae.bEnc);
  if (sae.applyBDecToInput) for (let f = 0; f < dSae; f++) bias[f] = sae.bEnc[f]! - dot(sae.wEnc, f * dIn, sae.bDec, 0, dIn);
  const floors = new Float32Array(dSae);
  if (sae.threshold) for (let f = 0; f < dSae; f++) floors[f] = Math.max(0, sae.threshold[f]!);

  const blockRows = Math.max(1, Math.min(n, Math.floor(BLOCK_FLOATS / dSae)));
  const pre = new Float32Array(blockRows * dSae);
  const k = sae.k ?? 0;
  const selector = new TopKSelector(k);
  const keptIndex = new Int32Array(Math.max(1, k));
  const keptValue = new Float32Array(Math.max(1, k));
  const counts = new Float64Array(dSae);
  const reconstruction = new Float64Array(dIn);
  let sse = 0;
  let active = 0;

  const addLatent = (f: number, z: number): void => {
    counts[f]!++;
    active++;
    const d = f * dIn;
    for (let i = 0; i < dIn; i++) reconstruction[i]! += z * sae.wDec[d + i]!;
  };

  for (let r0 = 0; r0 < n; r0 += blockRows) {
    const count = Math.min(blockRows, n - r0);
    multiplyTransposed({ data: rows, offset: r0 * dIn }, count, sae.wEnc, bias, 0, dSae, dIn, pre, 0, dSae);
    for (let r = 0; r < count; r++) {
      for (let i = 0; i < dIn; i++) reconstruction[i] = sae.bDec[i]!;
      const o = r * dSae;
      if (sae.architecture === 'topk') {
        const kept = selector.selectRange(pre, o, dSae, k, keptIndex, keptValue, 0);
        for (let j = 0; j < kept; j++) if (keptValue[j]! > 0) addLatent(keptIndex[j]!, keptValue[j]!);
      } else {
        for (let f = 0; f < dSae; f++) if (pre[o + f]! > floors[f]!) addLatent(f, pre[o + f]!);
      }
      const x = (r0 + r) * dIn;
      for (let i = 0; i < dIn; i++) sse += (rows[x + i]! - reconstruction[i]!) ** 2;
    }
  }

  const frequencies = counts.map((c) => c / n);
  return {
    rows: n,
    fvu: totalSquares > 0 ? sse / totalSquares : sse > 0 ? Infinity : 0,
    mse: sse / n,
    l0: active / n,
    ...frequencySpread(frequencies),
    frequencies,
  };
}

/** The dead count and the spread statistics of a per-latent firing-frequency vector. */
export function frequencySpread(
  frequencies: Float64Array,
): Pick<SaeMetrics, 'deadLatents' | 'deadFraction' | 'frequencyMaxOverMedian' | 'frequencyEntropy' | 'frequencyHistogram'> {
  const dSae = frequencies.length;
  const alive = Array.from(frequencies)
    .filter((p) => p > 0)
    .sort((a, b) => a - b);
  const median = alive.length === 0 ? 0 : alive.length % 2 === 1 ? alive[(alive.length - 1) / 2]! : (alive[alive.length / 2 - 1]! + alive[alive.length / 2]!) / 2;
  const total = alive.reduce((s, p) => s + p, 0);
  let entropy = 0;
  for (const p of alive) entropy -= (p / total) * Math.log(p / total);

  const histogram = new Map<number, number>();
  for (const p of frequencies) {
    const decade = p > 0 ? Math.floor(Math.log10(p)) : -Infinity;
    histogram.set(decade, (histogram.get(decade) ?? 0) + 1);
  }
  const bins = [...histogram.entries()].sort(([a], [b]) => a - b);
  return {
    deadLatents: dSae - alive.length,
    deadFraction: (dSae - alive.length) / dSae,
    frequencyMaxOverMedian: median > 0 ? alive[alive.length - 1]! / median : 0,
    frequencyEntropy: dSae > 1 && total > 0 ? entropy / Math.log(dSae) : 0,
    frequencyHistogram: bins.map(([decade, latents]) => ({ log10Lower: Number.isFinite(decade) ? decade : null, latents })),
  };
}
