/**
 * What steering needs from the model: its shape, its tokenizer, and a way to read the residual stream for a
 * piece of text. The engine satisfies this structurally; tests use a fake.
 */
export interface ResidualSource {
  readonly info: {
    readonly nLayer: number;
    readonly nEmbd: number;
    /** the BOS token id; its row is skipped when averaging (see firstContentRow) */
    readonly bos: number;
    /** the most tokens one capture may hold; longer texts are cut */
    readonly nCtxPerSequence?: number;
  };
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
  /** per requested layer, the residual after block `layer`, tokens.length × nEmbd row-major */
  captureResiduals(tokens: readonly number[], layers: readonly number[], signal?: AbortSignal): Promise<Float32Array[]>;
}

/**
 * The BOS position is an attention sink whose residual norm is typically tens of times any other's; averaging
 * it in would make "the typical residual" mostly BOS. So statistics start after it.
 */
export function firstContentRow(tokens: readonly number[], bos: number): number {
  return tokens.length > 0 && tokens[0] === bos ? 1 : 0;
}

/** Tokenizes user or calibration text the way steering reads it: BOS if the model wants one, no special-token parsing. */
/** Tokenizes for a capture, cut to what one sequence holds (a long calibration text on a short context). */
export function tokenizeForCapture(source: ResidualSource, text: string): number[] {
  const tokens = source.tokenize(text, { addSpecial: true, parseSpecial: false });
  const limit = source.info.nCtxPerSequence;
  return limit !== undefined && tokens.length > limit ? tokens.slice(0, limit) : tokens;
}

/** Mean of rows [from, to) of a rows × width matrix, accumulated in float64. */
export function meanRows(matrix: Float32Array, width: number, from: number, to: number): Float32Array {
  const sum = new Float64Array(width);
  for (let r = from; r < to; r++) {
    const o = r * width;
    for (let i = 0; i < width; i++) sum[i]! += matrix[o + i]!;
  }
  const out = new Float32Array(width);
  const n = to - from;
  for (let i = 0; i < width; i++) out[i] = sum[i]! / n;
  return out;
}

export function l2Norm(v: ArrayLike<number>, offset = 0, length = v.length - offset): number {
  let s = 0;
  for (let i = 0; i < length; i++) s += v[offset + i]! * v[offset + i]!;
  return Math.sqrt(s);
}
