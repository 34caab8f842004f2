/**
 * Trains a TopK sparse autoencoder on captured residual activations, after OpenAI's "Scaling and evaluating
 * sparse autoencoders" (Gao et al. 2024) and EleutherAI's sparsify:
 *
 *   z = TopK(W_enc·(x − b_dec) + b_enc), ReLU on the kept values;  x̂ = W_dec·z + b_dec
 *   loss = ‖x − x̂‖²/V + AuxK + balance   (V = E‖x − mean‖²: the reconstruction term is the FVU; see topk-backward.ts)
 *
 * - decoder rows are unit vectors: random directions at the start, the gradient's component along each row is
 *   removed before every Adam step and the rows are re-normalised after it, so a latent's activation is its
 *   contribution's norm and steering by a decoder row means the same for every latent;
 * - the encoder starts as the decoder's transpose, b_enc at 0, b_dec at the data's geometric median;
 * - a latent is dead after deadWindowRows rows without firing; AuxK then trains the dead latents on the live
 *   ones' residual error until they fire again;
 * - inputs are scaled by one number so that E‖x − mean‖² = d_in: learning rates then mean the same whatever the
 *   model's residual norm. TopK and ReLU commute with a positive scale, so the exported SAE (b_enc and b_dec
 *   scaled back) is exactly the trained one in the original units.
 *
 * Deterministic for a seed, whatever the thread count (see step-pool.ts and dense-kernels.ts).
 */
import { NormalRng } from '../../models/random-llama.js';
import { Sae } from '../sae.js';
import { Adam } from './adam.js';
import { assertFiniteRows, computeInputStats, stridedSample, STATS_SAMPLE_ROWS } from './input-stats.js';
import { LatentActivity } from './latent-activity.js';
import { evaluateSae, type SaeMetrics } from './metrics.js';
import { gatherCentredBatch, ShuffledBatches, shuffleInPlace } from './row-batches.js';
import { StepPool } from './step-pool.js';
import { bDecGradient, lossScales, type StepLosses } from './topk-backward.js';
import { allocateTrainBuffers, type TrainBuffers } from './train-buffers.js';
import {
  learningRateAt,
  resolveTrainOptions,
  type ResolvedTrainOptions,
  type TopKTrainOptions,
  type TrainHistoryEntry,
  type TrainProgress,
} from './topk-train-options.js';

export interface TopKTrainReport {
  dIn: number;
  options: Omit<ResolvedTrainOptions, 'progressEverySteps'>;
  /** threads the step actually ran on, and why fewer than asked, if so */
  threadsUsed: number;
  threadWarning?: string;
  bDecInit: 'geometric-median';
  /** the inputs were multiplied by this during training (the exported SAE is in the original units) */
  inputScale: number;
  rowsTrained: number;
  seconds: number;
  rowsPerSecond: number;
  /** training FVU averaged over the last 5% of steps, and the dead fraction by the trainer's window at the end */
  finalTrainFvu: number;
  finalDeadFraction: number;
  /** metrics of the exported SAE on the held-out rows (or a training sample when none are held out) */
  evalSet: 'held-out' | 'training-sample';
  eval: SaeMetrics;
}

export interface TopKTrainResult {
  sae: Sae;
  history: TrainHistoryEntry[];
  report: TopKTrainReport;
}

export async function trainTopKSae(rows: Float32Array, dIn: number, options: TopKTrainOptions): Promise<TopKTrainResult> {
  if (!Number.isSafeInteger(dIn) || dIn < 1 || rows.length % dIn !== 0) {
    throw new Error(`activations hold ${rows.length} values, not whole rows of d_in ${dIn}`);
  }
  const o = resolveTrainOptions(rows.length / dIn, dIn, options);
  assertFiniteRows(rows, dIn);
  const started = performance.now();

  // Held-out split, then statistics and scale from the training rows only.
  const allIds = Int32Array.from({ length: rows.length / dIn }, (_, i) => i);
  shuffleInPlace(allIds, new NormalRng(o.seed, 'sae-train/split'));
  const evalIds = allIds.slice(0, o.evalRows);
  const trainIds = allIds.slice(o.evalRows).sort();
  const sample = stridedSample(trainIds.length, STATS_SAMPLE_ROWS).map((j) => trainIds[j]!);
  const stats = computeInputStats(rows, dIn, sample);
  const inputScale = stats.totalVariance > 0 ? Math.sqrt(dIn / stats.totalVariance) : 1;
  const totalVariance = stats.totalVariance > 0 ? dIn : 1;

  const buffers = allocateTrainBuffers({ dIn, dSae: o.dSae, k: o.k, maxAuxK: o.auxK, maxRows: o.batchSize }, o.threads > 1);
  const bDec = new Float32Array(dIn);
  const gradBDec = new Float32Array(dIn);
  initialiseParameters(buffers, bDec, o.seed, stats.geometricMedian, inputScale);
  const { pool, warning } = await StepPool.start(buffers, o.threads);
  const history: TrainHistoryEntry[] = [];
  let rowsDone = 0;
  try {
    const adam = new Adam([
      { value: buffers.wEnc, grad: buffers.gradWEnc },
      { value: buffers.bEnc, grad: buffers.gradBEnc },
      { value: buffers.wDec, grad: buffers.gradWDec },
      { value: bDec, grad: gradBDec },
    ]);
    const activity = new LatentActivity(o.dSae, o.deadWindowRows, o.k / o.dSae);
    const balanceOn = o.balance > 0;
    const errorSum = new Float64Array(dIn);
    const batches = new ShuffledBatches(trainIds, o.batchSize, new NormalRng(o.seed, 'sae-train/shuffle'));
    const progress = new ProgressAverager(o);
    let step = 0;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      for (const ids of batches.epoch()) {
        options.signal?.throwIfAborted();
        const batchRows = ids.length;
        gatherCentredBatch(rows, dIn, ids, inputScale, bDec, buffers.centred);
        const deadCount = activity.collectDead(buffers.deadLatents);
        const auxK = o.auxKCoef > 0 ? Math.min(o.auxK, deadCount) : 0;
        if (balanceOn) activity.overuseWeights(buffers.overuseWeights);

        await pool.forward(batchRows, auxK, deadCount);
        await pool.reconstruct(batchRows, auxK, balanceOn);
        const lossInputs = { rows: batchRows, totalVariance, auxK, auxWeight: o.auxKCoef * Math.min(deadCount / o.auxK, 1), balance: o.balance, balanceOn };
        const { losses, scales } = lossScales(buffers, lossInputs, errorSum);
        if (!Number.isFinite(losses.loss)) throw new Error(`training diverged at step ${step} (loss ${losses.loss}); try a lower lr`);
        await pool.accumulate(o.dSae, { rows: batchRows, auxK, ...scales });
        bDecGradient(buffers, errorSum, scales.errorScale, gradBDec);

        removeParallelComponent(buffers.wDec, buffers.gradWDec, o.dSae, dIn);
        const lr = learningRateAt(step, o);
        adam.step(lr);
        normaliseRows(buffers.wDec, o.dSae, dIn);
        activity.record(buffers.topIndex, buffers.topValue, batchRows, o.k);
        rowsDone += batchRows;
        step++;
        const deadFraction = activity.deadCount() / o.dSae;
        history.push({ step, rowsDone, ...losses, deadFraction, lr });
        progress.add(losses, batchRows);
        if (options.onProgress && (step % o.progressEverySteps === 0 || step === o.totalSteps)) {
          options.onProgress(progress.take({ step, epoch, rowsDone, deadFraction, lr }));
        }
        // let timers, signals and I/O run between steps even on one thread
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    await pool.close();
  }

  const seconds = (performance.now() - started) / 1000;
  const sae = exportSae(buffers, bDec, o, inputScale);
  const evalSet = o.evalRows > 0 ? 'held-out' : 'training-sample';
  const evalRowIds = o.evalRows > 0 ? evalIds : stridedSample(trainIds.length, 16_384).map((j) => trainIds[j]!);
  const tail = history.slice(-Math.max(1, Math.ceil(history.length * 0.05)));
  const { progressEverySteps: _unused, ...reported } = o;
  return {
    sae,
    history,
    report: {
      dIn,
      options: reported,
      threadsUsed: pool.threads,
      ...(warning ? { threadWarning: warning } : {}),
      bDecInit: 'geometric-median',
      inputScale,
      rowsTrained: rowsDone,
      seconds,
      rowsPerSecond: rowsDone / seconds,
      finalTrainFvu: tail.reduce((s, h) => s + h.fvu, 0) / tail.length,
      finalDeadFraction: history.at(-1)?.deadFraction ?? 0,
      evalSet,
      eval: evaluateSae(sae, gatherRows(rows, dIn, evalRowIds)),
    },
  };
}

/** Decoder rows: random unit vectors; encoder: the decoder's transpose; b_enc 0; b_dec the geometric median. */
function initialiseParameters(b: TrainBuffers, bDec: Float32Array, seed: number, median: Float64Array, inputScale: number): void {
  new NormalRng(seed, 'sae-train/decoder').fillNormal(b.wDec, 1);
  normaliseRows(b.wDec, b.dSae, b.dIn);
  b.wEnc.set(b.wDec);
  for (let i = 0; i < b.dIn; i++) bDec[i] = median[i]! * inputScale;
}

/**
 * Removes from each decoder row's gradient its component along the row: with rows held at unit norm, that
 * component could only change the norm, which the re-normalisation undoes, while it still feeds Adam's
 * moments and so distorts the steps in the directions that matter.
 */
function removeParallelComponent(w: Float32Array, grad: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let along = 0;
    for (let i = 0; i < dim; i++) along += grad[o + i]! * w[o + i]!;
    if (along === 0) continue;
    for (let i = 0; i < dim; i++) grad[o + i]! -= along * w[o + i]!;
  }
}

function normaliseRows(w: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += w[o + i]! * w[o + i]!;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < dim; i++) w[o + i]! /= norm;
  }
}

/** The trained SAE in the original units: biases scaled back (weights are scale-free), in ordinary memory. */
function exportSae(b: TrainBuffers, bDec: Float32Array, o: ResolvedTrainOptions, inputScale: number): Sae {
  return new Sae({
    architecture: 'topk',
    dIn: b.dIn,
    dSae: o.dSae,
    k: o.k,
    wEnc: Float32Array.from(b.wEnc),
    wDec: Float32Array.from(b.wDec),
    bEnc: Float32Array.from(b.bEnc, (v) => v / inputScale),
    bDec: bDec.map((v) => v / inputScale),
    hookLayer: o.hookLayer,
    hookName: o.hookName,
  });
}

function gatherRows(rows: Float32Array, dIn: number, ids: Int32Array): Float32Array {
  const out = new Float32Array(ids.length * dIn);
  for (let j = 0; j < ids.length; j++) out.set(rows.subarray(ids[j]! * dIn, (ids[j]! + 1) * dIn), j * dIn);
  return out;
}

/** Row-weighted means of the losses since the last report, and the throughput over the same stretch. */
class ProgressAverager {
  private sums = { loss: 0, fvu: 0, auxLoss: 0, balanceLoss: 0 };
  private rows = 0;
  private readonly started = performance.now();
  private since = performance.now();

  constructor(private readonly o: ResolvedTrainOptions) {}

  add(losses: StepLosses, rows: number): void {
    this.sums.loss += losses.loss * rows;
    this.sums.fvu += losses.fvu * rows;
    this.sums.auxLoss += losses.auxLoss * rows;
    this.sums.balanceLoss += losses.balanceLoss * rows;
    this.rows += rows;
  }

  take(now: { step: number; epoch: number; rowsDone: number; deadFraction: number; lr: number }): TrainProgress {
    const at = performance.now();
    const rows = Math.max(1, this.rows);
    const report: TrainProgress = {
      ...now,
      totalSteps: this.o.totalSteps,
      totalRows: this.o.trainRows * this.o.epochs,
      loss: this.sums.loss / rows,
      fvu: this.sums.fvu / rows,
      auxLoss: this.sums.auxLoss / rows,
      balanceLoss: this.sums.balanceLoss / rows,
      rowsPerSecond: (this.rows * 1000) / Math.max(1e-9, at - this.since),
      elapsedSeconds: (at - this.started) / 1000,
    };
    this.sums = { loss: 0, fvu: 0, auxLoss: 0, balanceLoss: 0 };
    this.rows = 0;
    this.since = at;
    return report;
  }
}
