/**
 * Per-latent bookkeeping across steps: how long since each latent last fired (which latents are dead, for
 * AuxK) and a running estimate of how often each fires (for the load-balancing penalty).
 */

export class LatentActivity {
  /** rows seen since the latent last had a nonzero activation; starts at 0, so nothing is dead before one window */
  readonly rowsSinceFired: Float64Array;
  /** exponential moving average of each latent's firing frequency (fraction of rows), starting at the target */
  readonly frequency: Float64Array;
  private readonly firedThisBatch: Int32Array;

  /**
   * @param deadWindowRows a latent is dead once it has not fired for this many rows
   * @param targetFrequency k/d_sae, every latent's share when all fire equally
   */
  constructor(
    readonly dSae: number,
    readonly deadWindowRows: number,
    readonly targetFrequency: number,
  ) {
    this.rowsSinceFired = new Float64Array(dSae);
    this.frequency = new Float64Array(dSae).fill(targetFrequency);
    this.firedThisBatch = new Int32Array(dSae);
  }

  /** Counts the batch's firings (selected with a positive activation) and updates both statistics. */
  record(topIndex: Int32Array, topValue: Float32Array, rows: number, k: number): void {
    const fired = this.firedThisBatch;
    fired.fill(0);
    for (let j = 0; j < rows * k; j++) if (topValue[j]! > 0) fired[topIndex[j]!]!++;
    // Average over enough rows that an on-target latent is expected to fire ~100 times: the estimate's noise
    // (~1/√100) is then well below the factor-of-two deviations the balance penalty acts on.
    const rate = Math.min(0.5, (rows * this.targetFrequency) / 100);
    for (let f = 0; f < this.dSae; f++) {
      const count = fired[f]!;
      this.rowsSinceFired[f] = count > 0 ? 0 : this.rowsSinceFired[f]! + rows;
      this.frequency[f] = (1 - rate) * this.frequency[f]! + (rate * count) / rows;
    }
  }

  /** Writes the ids of the dead latents into `out` (length ≥ dSae) and returns how many there are. */
  collectDead(out: Int32Array): number {
    let count = 0;
    for (let f = 0; f < this.dSae; f++) if (this.rowsSinceFired[f]! >= this.deadWindowRows) out[count++] = f;
    return count;
  }

  deadCount(): number {
    let count = 0;
    for (let f = 0; f < this.dSae; f++) if (this.rowsSinceFired[f]! >= this.deadWindowRows) count++;
    return count;
  }

  /**
   * The balance penalty's per-latent weight: log₂ of how many times its share a latent fires, 0 for latents at
   * or under their share (1 at twice, 5 at 32×). Logarithmic because frequencies span orders of magnitude, and
   * one-sided because under-used latents are AuxK's business and pushing them up would fight reconstruction.
   */
  overuseWeights(out: Float32Array): void {
    for (let f = 0; f < this.dSae; f++) out[f] = Math.max(0, Math.log2(this.frequency[f]! / this.targetFrequency));
  }
}
