/**
 * What the trainer needs to know about its input before the first step: that every value is finite, the
 * mean, the total variance E‖x − mean‖² (the FVU denominator and the scale the trainer normalises to), and
 * the geometric median (b_dec's starting point).
 */

export interface InputStats {
  mean: Float64Array;
  /** E‖x − mean‖² over the sample */
  totalVariance: number;
  /** argmin_m Σ‖x − m‖ over the sample (Weiszfeld) */
  geometricMedian: Float64Array;
  sampleRows: number;
}

/** Rows the statistics are estimated from: plenty for a d_in-vector mean, and cheap. */
export const STATS_SAMPLE_ROWS = 65_536;
const WEISZFELD_ITERATIONS = 64;

/** Throws naming the first row holding NaN or ±Infinity: one bad row turns every weight into NaN within a step. */
export function assertFiniteRows(rows: Float32Array, dIn: number): void {
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i]!;
    // v - v is NaN exactly for NaN and ±Infinity
    if (v - v !== 0) throw new Error(`activation row ${Math.floor(i / dIn)} holds ${v} at dimension ${i % dIn}; every value must be finite`);
  }
}

/**
 * Row ids of an evenly strided sample of at most `maxRows` of `rowCount` (all rows when fewer). Captured
 * activations come in sequence order, so a stride spreads the sample over every part of the capture.
 */
export function stridedSample(rowCount: number, maxRows: number): Int32Array {
  const count = Math.min(rowCount, maxRows);
  const ids = new Int32Array(count);
  for (let j = 0; j < count; j++) ids[j] = Math.floor((j * rowCount) / count);
  return ids;
}

/** Statistics of rows[ids] (rows is [n × dIn] row-major), in the rows' own units. */
export function computeInputStats(rows: Float32Array, dIn: number, ids: Int32Array): InputStats {
  const n = ids.length;
  if (n === 0) throw new Error('no rows to compute statistics from');
  const mean = new Float64Array(dIn);
  for (let j = 0; j < n; j++) {
    const o = ids[j]! * dIn;
    for (let i = 0; i < dIn; i++) mean[i]! += rows[o + i]!;
  }
  for (let i = 0; i < dIn; i++) mean[i]! /= n;
  let sumSquares = 0;
  for (let j = 0; j < n; j++) {
    const o = ids[j]! * dIn;
    for (let i = 0; i < dIn; i++) {
      const d = rows[o + i]! - mean[i]!;
      sumSquares += d * d;
    }
  }
  return { mean, totalVariance: sumSquares / n, geometricMedian: geometricMedian(rows, dIn, ids, mean), sampleRows: n };
}

/**
 * Weiszfeld's iteration from the mean: m ← Σ x_j/‖x_j − m‖ / Σ 1/‖x_j − m‖. The geometric median, not the
 * mean, because residual streams carry a few rows of enormous norm (attention-sink and BOS tokens) that drag
 * the mean away from where the bulk of the rows are; b_dec should start at the bulk (OpenAI's recipe).
 */
function geometricMedian(rows: Float32Array, dIn: number, ids: Int32Array, start: Float64Array): Float64Array {
  const median = Float64Array.from(start);
  const next = new Float64Array(dIn);
  for (let iteration = 0; iteration < WEISZFELD_ITERATIONS; iteration++) {
    next.fill(0);
    let weightSum = 0;
    for (let j = 0; j < ids.length; j++) {
      const o = ids[j]! * dIn;
      let distanceSquared = 0;
      for (let i = 0; i < dIn; i++) {
        const d = rows[o + i]! - median[i]!;
        distanceSquared += d * d;
      }
      // a row sitting on the current estimate would divide by zero; its pull is bounded instead
      const weight = 1 / Math.max(Math.sqrt(distanceSquared), 1e-12);
      weightSum += weight;
      for (let i = 0; i < dIn; i++) next[i]! += weight * rows[o + i]!;
    }
    let moveSquared = 0;
    let normSquared = 0;
    for (let i = 0; i < dIn; i++) {
      const v = next[i]! / weightSum;
      moveSquared += (v - median[i]!) ** 2;
      normSquared += v * v;
      next[i] = v;
    }
    median.set(next);
    if (moveSquared <= 1e-12 * Math.max(normSquared, 1e-30)) break;
  }
  return median;
}
