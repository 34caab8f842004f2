/**
 * The sparse half of a TopK SAE training step: reconstructions, the three loss terms and their gradients, from
 * the latents TopKForward selected. Only selected latents get gradient (TopK passes none to the rest), so a row
 * costs ~4·(k + k_aux)·d_in multiply-adds against the forward pass's d_sae·d_in — but with AuxK busy (many
 * dead latents, k_aux = d_in/2) that is as much as the forward pass, so it is split across threads too:
 *  1. reconstruct, by rows: e, ê − e and each row's loss sums;
 *  2. (main thread) lossScales sums those in row order into the losses and the gradient scales;
 *  3. accumulate, by latents: each thread owns a range of latents and adds up their gradients over every row,
 *     in row order, so each sum is computed in one order whatever the number of threads;
 *  4. (main thread) bDecGradient.
 *
 * Losses, all on the trainer's normalised inputs x (x̂ = b_dec + Σ_j z_j·W_dec[f_j], e = x − x̂):
 *  - reconstruction  ‖e‖² / V, averaged over the batch: the FVU estimate (V = E‖x − mean‖², fixed per run);
 *  - AuxK (OpenAI, EleutherAI sparsify): the k_aux most active DEAD latents reconstruct the error,
 *    ê = Σ z_aux·W_dec[f_aux], loss = coef·min(dead/k_aux, 1)·Σ‖ê − e‖² / Σ‖e − ē‖², e treated as a constant.
 *    The only gradient a dead latent ever sees: it pulls dead latents toward what the live ones miss;
 *  - balance: each kept activation pays strength·w_f·z/√V, w_f = log₂(frequency_f / target)₊ (see
 *    LatentActivity.overuseWeights). A frequency-weighted L1 on the over-used latents only: it lowers their
 *    activations everywhere, so they drop out of TopK on the rows where they contribute least and other latents
 *    take those rows over. Chosen over a selection-only bias (DeepSeek's auxiliary-loss-free balancing) because
 *    the SAELens format has nowhere to keep such a bias: an SAE exported without it would pick different latents
 *    than it was trained with. Chosen over a frequency penalty because frequencies have no gradient through
 *    TopK; the activations that make them do.
 */

import type { TrainBuffers } from './train-buffers.js';

export interface ReconstructRange {
  rowFrom: number;
  rowTo: number;
  auxK: number;
  balanceOn: boolean;
}

/** How each loss term's gradient reaches the latents (from lossScales). */
export interface GradientScales {
  /** ∂loss/∂x̂ = −errorScale·e */
  errorScale: number;
  /** ∂loss/∂ê = auxScale·(ê − e); 0 when AuxK is off this step */
  auxScale: number;
  /** ∂loss/∂z_f += balanceScale·overuseWeight_f for every kept activation */
  balanceScale: number;
}

export interface GradientRange extends GradientScales {
  latentFrom: number;
  latentTo: number;
  rows: number;
  auxK: number;
}

export interface StepLosses {
  /** total loss optimised */
  loss: number;
  /** reconstruction term: the batch's FVU */
  fvu: number;
  auxLoss: number;
  balanceLoss: number;
}

export class TopKBackward {
  constructor(private readonly b: TrainBuffers) {}

  /** Phase 1 for rows [rowFrom, rowTo): errors, AuxK's differences and the rows' loss sums. */
  reconstruct({ rowFrom, rowTo, auxK, balanceOn }: ReconstructRange): void {
    const { dIn, k, maxAuxK, centred, topIndex, topValue, auxIndex, auxValue, wDec, error, auxDiff, rowStats, overuseWeights } = this.b;
    // e = (x − b_dec) − Σ z·W_dec: start from the centred row
    error.set(centred.subarray(rowFrom * dIn, rowTo * dIn), rowFrom * dIn);
    for (let r = rowFrom; r < rowTo; r++) {
      const e = r * dIn;
      let overuse = 0;
      for (let j = r * k; j < (r + 1) * k; j++) {
        const z = topValue[j]!;
        if (z === 0) continue;
        const f = topIndex[j]!;
        const d = f * dIn;
        for (let i = 0; i < dIn; i++) error[e + i]! -= z * wDec[d + i]!;
        if (balanceOn) overuse += overuseWeights[f]! * z;
      }
      let sse = 0;
      for (let i = 0; i < dIn; i++) sse += error[e + i]! * error[e + i]!;
      let auxSse = 0;
      if (auxK > 0) {
        for (let i = 0; i < dIn; i++) auxDiff[e + i] = -error[e + i]!;
        for (let j = r * maxAuxK; j < r * maxAuxK + auxK; j++) {
          const z = auxValue[j]!;
          if (z === 0) continue;
          const d = auxIndex[j]! * dIn;
          for (let i = 0; i < dIn; i++) auxDiff[e + i]! += z * wDec[d + i]!;
        }
        for (let i = 0; i < dIn; i++) auxSse += auxDiff[e + i]! * auxDiff[e + i]!;
      }
      rowStats[3 * r] = sse;
      rowStats[3 * r + 1] = auxSse;
      rowStats[3 * r + 2] = overuse;
    }
  }

  /** Phase 3 for latents [latentFrom, latentTo): zeroes their gradients and sums them over the batch. */
  accumulate(range: GradientRange): void {
    const { dIn, k, maxAuxK, topIndex, topValue, auxIndex, auxValue, error, auxDiff, overuseWeights } = this.b;
    const { latentFrom, latentTo, rows, auxK, errorScale, auxScale, balanceScale } = range;
    this.b.gradWEnc.fill(0, latentFrom * dIn, latentTo * dIn);
    this.b.gradWDec.fill(0, latentFrom * dIn, latentTo * dIn);
    this.b.gradBEnc.fill(0, latentFrom, latentTo);
    for (let r = 0; r < rows; r++) {
      for (let j = r * k; j < (r + 1) * k; j++) {
        const f = topIndex[j]!;
        if (f < latentFrom || f >= latentTo) continue;
        this.accumulateLatent(r, f, topValue[j]!, error, -errorScale, balanceScale * overuseWeights[f]!);
      }
      if (auxScale === 0) continue;
      for (let j = r * maxAuxK; j < r * maxAuxK + auxK; j++) {
        const f = auxIndex[j]!;
        if (f < latentFrom || f >= latentTo) continue;
        this.accumulateLatent(r, f, auxValue[j]!, auxDiff, auxScale, 0);
      }
    }
  }

  /**
   * Gradient through latent f of row r with activation z, where ∂loss/∂(its reconstruction) = scale·v_r:
   * W_dec[f] gets z·scale·v_r; if z > 0 (the ReLU passes), ∂loss/∂z = W_dec[f]·scale·v_r (+ extra) flows to
   * b_enc[f] and, through the centred input, to W_enc[f].
   */
  private accumulateLatent(r: number, f: number, z: number, v: Float32Array, scale: number, extra: number): void {
    if (z === 0) return;
    const { dIn, wDec, centred, gradWDec, gradWEnc, gradBEnc } = this.b;
    const d = f * dIn;
    const x = r * dIn;
    let dz = extra;
    for (let i = 0; i < dIn; i++) {
      const g = scale * v[x + i]!;
      dz += wDec[d + i]! * g;
      gradWDec[d + i]! += z * g;
    }
    gradBEnc[f]! += dz;
    for (let i = 0; i < dIn; i++) gradWEnc[d + i]! += dz * centred[x + i]!;
  }
}

export interface LossInputs {
  rows: number;
  /** E‖x − mean‖² of the normalised inputs */
  totalVariance: number;
  auxK: number;
  /** AuxK coefficient × min(dead / configured k_aux, 1) */
  auxWeight: number;
  balance: number;
  balanceOn: boolean;
}

/** Phase 2: the batch's losses and gradient scales, from the per-row sums (added in row order). */
export function lossScales(b: TrainBuffers, o: LossInputs, errorSum: Float64Array): { losses: StepLosses; scales: GradientScales } {
  const { dIn, error, rowStats } = b;
  const { rows, totalVariance } = o;
  let sse = 0;
  let auxSse = 0;
  let overuse = 0;
  errorSum.fill(0);
  for (let r = 0; r < rows; r++) {
    sse += rowStats[3 * r]!;
    auxSse += rowStats[3 * r + 1]!;
    overuse += rowStats[3 * r + 2]!;
    for (let i = 0; i < dIn; i++) errorSum[i]! += error[r * dIn + i]!;
  }
  const mainScale = 1 / (rows * totalVariance);
  // Σ‖e − ē‖² = Σ‖e‖² − rows·‖ē‖²: AuxK's loss is relative to how much error is left to explain
  let meanSquared = 0;
  for (let i = 0; i < dIn; i++) meanSquared += (errorSum[i]! / rows) ** 2;
  const errorVariance = sse - rows * meanSquared;
  const auxOn = o.auxK > 0 && o.auxWeight > 0 && errorVariance > 1e-12 * sse;
  const auxNorm = auxOn ? o.auxWeight / errorVariance : 0;
  const balanceScale = o.balanceOn ? o.balance / (rows * Math.sqrt(totalVariance)) : 0;
  const fvu = sse * mainScale;
  const auxLoss = auxSse * auxNorm;
  const balanceLoss = overuse * balanceScale;
  return {
    losses: { loss: fvu + auxLoss + balanceLoss, fvu, auxLoss, balanceLoss },
    scales: { errorScale: 2 * mainScale, auxScale: 2 * auxNorm, balanceScale },
  };
}

/**
 * Phase 4: ∂loss/∂b_dec. x̂ contains b_dec (−errorScale·Σe), and the encoder reads x − b_dec, which adds
 * −W_encᵀ·Σ_rows ∂loss/∂pre; that sum per latent is exactly ∂loss/∂b_enc, so it costs one d_sae×d_in pass.
 */
export function bDecGradient(b: TrainBuffers, errorSum: Float64Array, errorScale: number, out: Float32Array): void {
  const { dIn, dSae, wEnc, gradBEnc } = b;
  for (let i = 0; i < dIn; i++) out[i] = -errorScale * errorSum[i]!;
  for (let f = 0; f < dSae; f++) {
    const g = gradBEnc[f]!;
    if (g === 0) continue;
    const o = f * dIn;
    for (let i = 0; i < dIn; i++) out[i]! -= g * wEnc[o + i]!;
  }
}
