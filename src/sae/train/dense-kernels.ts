/**
 * The one dense product SAE training needs: pre-activations out[r, f] = bias[f] + a_r · b_f, where both a (the
 * input rows) and b (the encoder rows) are row-major with the shared dimension contiguous — "A·Bᵀ". Everything
 * else in a TopK SAE step touches only the k selected latents per row and is sparse.
 *
 * Written for V8, which does not vectorise: a 4×4 register tile (4 input rows × 4 encoder rows) turns 8 typed
 * array loads into 16 multiply-adds, against 2 loads per multiply-add for a plain dot product, and each encoder
 * row is reused from L1 across the rows of a block. Measured 0.4-0.9 GMAC/s on one 2.5 GHz Xeon core versus
 * ~0.1-0.3 for the dot-product loop (which also streams the whole encoder from memory per row when d_sae·d_in
 * exceeds the cache).
 *
 * Every output is one double-precision accumulator summed over i = 0..dim-1 in order, in the tile and in the
 * edge loops alike, then `+ bias` and a float32 store: the result for a row does not depend on which block,
 * tile position or thread computed it, so training is bit-identical for any thread count.
 */

export interface DenseOperand {
  data: Float32Array;
  /** index of row 0's first element in `data` */
  offset: number;
}

/**
 * out[outOffset + r·outStride + f] = bias[f] + Σ_i a[r, i]·b[f, i] for r ∈ [0, rows), f ∈ [fFrom, fTo).
 * `bias` may be null (zero). `dim` is the shared (contiguous) dimension of both operands.
 */
export function multiplyTransposed(
  a: DenseOperand,
  rows: number,
  b: Float32Array,
  bias: Float32Array | null,
  fFrom: number,
  fTo: number,
  dim: number,
  out: Float32Array,
  outOffset: number,
  outStride: number,
): void {
  const x = a.data;
  const w = b;
  const rowsTiled = rows - (rows % 4);
  const fTiled = fFrom + (fTo - fFrom) - ((fTo - fFrom) % 4);
  for (let f = fFrom; f < fTiled; f += 4) {
    const w0 = f * dim;
    const w1 = w0 + dim;
    const w2 = w1 + dim;
    const w3 = w2 + dim;
    const c0 = bias === null ? 0 : bias[f]!;
    const c1 = bias === null ? 0 : bias[f + 1]!;
    const c2 = bias === null ? 0 : bias[f + 2]!;
    const c3 = bias === null ? 0 : bias[f + 3]!;
    for (let r = 0; r < rowsTiled; r += 4) {
      const xa = a.offset + r * dim;
      const xb = xa + dim;
      const xc = xb + dim;
      const xd = xc + dim;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let i = 0; i < dim; i++) {
        const u0 = w[w0 + i]!;
        const u1 = w[w1 + i]!;
        const u2 = w[w2 + i]!;
        const u3 = w[w3 + i]!;
        let v = x[xa + i]!;
        s00 += v * u0; s01 += v * u1; s02 += v * u2; s03 += v * u3;
        v = x[xb + i]!;
        s10 += v * u0; s11 += v * u1; s12 += v * u2; s13 += v * u3;
        v = x[xc + i]!;
        s20 += v * u0; s21 += v * u1; s22 += v * u2; s23 += v * u3;
        v = x[xd + i]!;
        s30 += v * u0; s31 += v * u1; s32 += v * u2; s33 += v * u3;
      }
      let o = outOffset + r * outStride + f;
      out[o] = s00 + c0; out[o + 1] = s01 + c1; out[o + 2] = s02 + c2; out[o + 3] = s03 + c3;
      o += outStride;
      out[o] = s10 + c0; out[o + 1] = s11 + c1; out[o + 2] = s12 + c2; out[o + 3] = s13 + c3;
      o += outStride;
      out[o] = s20 + c0; out[o + 1] = s21 + c1; out[o + 2] = s22 + c2; out[o + 3] = s23 + c3;
      o += outStride;
      out[o] = s30 + c0; out[o + 1] = s31 + c1; out[o + 2] = s32 + c2; out[o + 3] = s33 + c3;
    }
    for (let r = rowsTiled; r < rows; r++) {
      for (let j = f; j < f + 4; j++) {
        out[outOffset + r * outStride + j] = dot(x, a.offset + r * dim, w, j * dim, dim) + (bias === null ? 0 : bias[j]!);
      }
    }
  }
  for (let f = fTiled; f < fTo; f++) {
    const c = bias === null ? 0 : bias[f]!;
    for (let r = 0; r < rows; r++) out[outOffset + r * outStride + f] = dot(x, a.offset + r * dim, w, f * dim, dim) + c;
  }
}

/** One in-order accumulator, as the tile uses, so edge outputs round exactly like tiled ones. */
export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOff + i]! * b[bOff + i]!;
  return s;
}
