/**
 * The TopK trainer's options, their defaults and how the defaults scale with the SAE and the dataset, and the
 * shapes of what the trainer reports. Kept apart from the training loop so the CLI and the report can show
 * the values actually used.
 */
import { availableParallelism } from 'node:os';

export interface TopKTrainOptions {
  /** latents */
  dSae: number;
  /** latents kept per row */
  k: number;
  /** the residual layer the activations were captured at (the output of block L) */
  hookLayer: number;
  hookName?: string;
  /** passes over the training rows (default 1) */
  epochs?: number;
  /** rows per step (default 4096, fewer when the dataset is small) */
  batchSize?: number;
  /** peak Adam learning rate (default defaultLearningRate(dSae, dIn)) */
  lr?: number;
  /** linear warm-up from 0 (default 5% of the steps, at most 1000) */
  warmupSteps?: number;
  /** fraction of the steps, at the end, over which lr decays linearly to 0 (default 0.2; 0 disables) */
  lrDecayFraction?: number;
  /** dead latents AuxK uses per row (default d_in/2, capped by how many are dead) */
  auxK?: number;
  /** AuxK loss coefficient (default 1/32; 0 disables AuxK) */
  auxKCoef?: number;
  /** a latent that has not fired for this many rows is dead (default defaultDeadWindowRows) */
  deadWindowRows?: number;
  /** strength of the over-use penalty (see topk-backward.ts; default DEFAULT_BALANCE; 0 disables) */
  balance?: number;
  seed?: number;
  /** threads for the dense encoder product (default: the machine's available parallelism, at most 8) */
  threads?: number;
  /** rows held out of training for the final evaluation (default 5% of the rows, at most 16384) */
  evalRows?: number;
  /** steps between onProgress calls (default: about every 5% of the run) */
  progressEverySteps?: number;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
}

/** Averages over the steps since the previous call. */
export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  rowsDone: number;
  totalRows: number;
  loss: number;
  fvu: number;
  auxLoss: number;
  balanceLoss: number;
  /** latents that have not fired within the dead window, now */
  deadFraction: number;
  lr: number;
  rowsPerSecond: number;
  elapsedSeconds: number;
}

export interface TrainHistoryEntry {
  step: number;
  rowsDone: number;
  loss: number;
  fvu: number;
  auxLoss: number;
  balanceLoss: number;
  deadFraction: number;
  lr: number;
}

export interface ResolvedTrainOptions {
  dSae: number;
  k: number;
  hookLayer: number;
  hookName: string;
  epochs: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  lrDecaySteps: number;
  auxK: number;
  auxKCoef: number;
  deadWindowRows: number;
  balance: number;
  seed: number;
  threads: number;
  evalRows: number;
  trainRows: number;
  totalSteps: number;
  progressEverySteps: number;
}

export const DEFAULT_BATCH_SIZE = 4096;
export const DEFAULT_AUX_K_COEF = 1 / 32;
/**
 * Mild on purpose. On the tests' skewed synthetic data (3 of 64 directions in 95% of rows) max/median firing
 * frequency went 21-23 → 14-16 at 0.03 for ≤ 0.01 of FVU, and → 5-6 at 0.1 for ~0.035.
 */
export const DEFAULT_BALANCE = 0.03;
/** OpenAI counts a latent dead after 10M tokens without firing; never wait longer than that. */
const MAX_DEAD_WINDOW_ROWS = 10_000_000;
const MAX_THREADS = 8;

/**
 * OpenAI's fit 2e-4·(2^14/d_sae)^0.5 (as EleutherAI sparsify uses it), times (768/d_in)^0.5. The fit was made
 * on models of d_model ≥ 768; Adam moves every coordinate by about lr per step whatever the gradient's size,
 * and a unit-norm decoder row's coordinates are ~1/√d_in, so the same angular step on a narrower residual
 * stream needs lr ∝ 1/√d_in. On the tests' d_in 32 data this lands at the measured optimum (1e-2..2e-2),
 * where the bare fit (3e-3) left a tenth of the latents dead after the same number of steps. Capped at 3e-2.
 */
export function defaultLearningRate(dSae: number, dIn: number): number {
  return Math.min(3e-2, 2e-4 * Math.sqrt(2 ** 14 / dSae) * Math.sqrt(768 / dIn));
}

/**
 * OpenAI's 10M-token window assumes billions of training tokens; on a few million rows nothing would ever be
 * called dead. Use 1/20 of the rows the run will see, but at least enough rows for a latent at its fair share
 * (k/d_sae) to have been expected to fire 100 times (so bad luck never looks like death), at least one batch,
 * and never more than a quarter of the run (so AuxK has time to act) or 10M.
 */
export function defaultDeadWindowRows(rowsSeen: number, dSae: number, k: number, batchSize: number): number {
  const fairShareWindow = Math.min((100 * dSae) / k, rowsSeen / 4);
  return Math.round(Math.min(MAX_DEAD_WINDOW_ROWS, Math.max(rowsSeen / 20, fairShareWindow, batchSize)));
}

export function resolveTrainOptions(rowCount: number, dIn: number, o: TopKTrainOptions): ResolvedTrainOptions {
  const positiveInteger = (name: string, v: number): number => {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer (got ${v})`);
    return v;
  };
  const nonNegative = (name: string, v: number): number => {
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a finite number ≥ 0 (got ${v})`);
    return v;
  };
  positiveInteger('d_in', dIn);
  const dSae = positiveInteger('dSae', o.dSae);
  const k = positiveInteger('k', o.k);
  if (k > dSae) throw new Error(`k (${k}) cannot exceed dSae (${dSae})`);
  if (!Number.isSafeInteger(o.hookLayer) || o.hookLayer < 0) throw new Error(`hookLayer must be an integer ≥ 0 (got ${o.hookLayer})`);
  if (rowCount < 2) throw new Error(`need at least 2 activation rows to train on (got ${rowCount})`);

  const evalRows = o.evalRows ?? Math.min(16_384, Math.floor(rowCount * 0.05));
  if (!Number.isSafeInteger(evalRows) || evalRows < 0 || evalRows > rowCount - 1) {
    throw new Error(`evalRows must be an integer in [0, ${rowCount - 1}] (got ${evalRows})`);
  }
  const trainRows = rowCount - evalRows;
  const epochs = positiveInteger('epochs', o.epochs ?? 1);
  const batchSize = Math.min(positiveInteger('batchSize', o.batchSize ?? DEFAULT_BATCH_SIZE), trainRows);
  const totalSteps = epochs * Math.ceil(trainRows / batchSize);
  const lr = o.lr ?? defaultLearningRate(dSae, dIn);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`lr must be a positive number (got ${lr})`);
  const warmupSteps = Math.min(totalSteps, o.warmupSteps ?? Math.min(1000, Math.ceil(totalSteps * 0.05)));
  nonNegative('warmupSteps', warmupSteps);
  const lrDecayFraction = nonNegative('lrDecayFraction', o.lrDecayFraction ?? 0.2);
  if (lrDecayFraction > 1) throw new Error(`lrDecayFraction must be in [0, 1] (got ${lrDecayFraction})`);
  const rowsSeen = trainRows * epochs;
  return {
    dSae,
    k,
    hookLayer: o.hookLayer,
    hookName: o.hookName ?? `blocks.${o.hookLayer}.hook_resid_post`,
    epochs,
    batchSize,
    lr,
    warmupSteps,
    lrDecaySteps: Math.round(totalSteps * lrDecayFraction),
    auxK: Math.min(dSae, positiveInteger('auxK', o.auxK ?? Math.max(1, Math.floor(dIn / 2)))),
    auxKCoef: nonNegative('auxKCoef', o.auxKCoef ?? DEFAULT_AUX_K_COEF),
    deadWindowRows: positiveInteger('deadWindowRows', o.deadWindowRows ?? defaultDeadWindowRows(rowsSeen, dSae, k, batchSize)),
    balance: nonNegative('balance', o.balance ?? DEFAULT_BALANCE),
    seed: o.seed ?? 0,
    threads: positiveInteger('threads', o.threads ?? Math.min(MAX_THREADS, availableParallelism())),
    evalRows,
    trainRows,
    totalSteps,
    progressEverySteps: positiveInteger('progressEverySteps', o.progressEverySteps ?? Math.max(1, Math.round(totalSteps / 20))),
  };
}

/** Linear warm-up to the peak, flat, then linear decay to 0 over the last lrDecaySteps. */
export function learningRateAt(step: number, o: Pick<ResolvedTrainOptions, 'lr' | 'warmupSteps' | 'lrDecaySteps' | 'totalSteps'>): number {
  let lr = o.lr;
  if (step < o.warmupSteps) lr *= (step + 1) / o.warmupSteps;
  const decayStart = o.totalSteps - o.lrDecaySteps;
  if (o.lrDecaySteps > 0 && step >= decayStart) lr *= (o.totalSteps - step) / (o.lrDecaySteps + 1);
  return lr;
}
