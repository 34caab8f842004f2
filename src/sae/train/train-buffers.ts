/**
 * Every array a TopK training step reads or writes, except b_dec and its gradient (which only the main thread
 * touches). One object, so the step's phases can run on any thread: with a worker pool the arrays live in
 * SharedArrayBuffers and each thread works on its own rows or latents of the same memory.
 */

export interface TrainBuffers {
  dIn: number;
  dSae: number;
  k: number;
  /** the configured k_aux: capacity of the per-row AuxK selections */
  maxAuxK: number;
  /** batch capacity */
  maxRows: number;

  /** [dSae × dIn] row-major, [dSae], [dSae × dIn]: the parameters, updated in place between steps */
  wEnc: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  gradWEnc: Float32Array;
  gradBEnc: Float32Array;
  gradWDec: Float32Array;

  /** [rows × dIn]: the batch minus b_dec, in the trainer's normalised units */
  centred: Float32Array;
  /** the dead latents' ids this step (count passed with each request) */
  deadLatents: Int32Array;
  /** [dSae]: the balance penalty's per-latent weights this step (see LatentActivity.overuseWeights) */
  overuseWeights: Float32Array;
  /** [rows × k]: the latents TopK kept and their ReLU'd activations */
  topIndex: Int32Array;
  topValue: Float32Array;
  /** [rows × maxAuxK]: AuxK's picks among the dead latents, the first auxK of each row valid */
  auxIndex: Int32Array;
  auxValue: Float32Array;
  /** [rows × dIn]: e = x − x̂, and ê − e (AuxK's reconstruction of e, minus e) */
  error: Float32Array;
  auxDiff: Float32Array;
  /** [rows × 3]: per row ‖e‖², ‖ê − e‖², Σ overuse weight × activation; summed in row order by the main thread */
  rowStats: Float64Array;
}

export function allocateTrainBuffers(shape: { dIn: number; dSae: number; k: number; maxAuxK: number; maxRows: number }, shared: boolean): TrainBuffers {
  const { dIn, dSae, k, maxAuxK, maxRows } = shape;
  const bytes = (n: number): ArrayBuffer | SharedArrayBuffer => (shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
  const floats = (n: number): Float32Array => new Float32Array(bytes(n * 4));
  const ints = (n: number): Int32Array => new Int32Array(bytes(n * 4));
  return {
    ...shape,
    wEnc: floats(dSae * dIn),
    bEnc: floats(dSae),
    wDec: floats(dSae * dIn),
    gradWEnc: floats(dSae * dIn),
    gradBEnc: floats(dSae),
    gradWDec: floats(dSae * dIn),
    centred: floats(maxRows * dIn),
    deadLatents: ints(dSae),
    overuseWeights: floats(dSae),
    topIndex: ints(maxRows * k),
    topValue: floats(maxRows * k),
    auxIndex: ints(maxRows * maxAuxK),
    auxValue: floats(maxRows * maxAuxK),
    error: floats(maxRows * dIn),
    auxDiff: floats(maxRows * dIn),
    rowStats: new Float64Array(bytes(maxRows * 3 * 8)),
  };
}
