/**
 * Accumulates per-feature statistics over dense activations, a chunk of rows at a time: how often each
 * feature fires, its largest activation, and the rows of its few strongest activations (turned into text
 * only at the end, so the hot loop stores two numbers per candidate).
 */
import type { FeatureStatsRow, TopContext } from './feature-stats.js';

export const DEFAULT_TOP_CONTEXTS = 5;

export class FeatureStatsCollector {
  /** rows seen so far */
  tokens = 0;
  private readonly fired: Uint32Array;
  private readonly max: Float32Array;
  /** per feature, `slots` candidates: activation and row id */
  private readonly topValues: Float32Array;
  private readonly topRows: Float64Array;
  private readonly filled: Uint8Array;
  /** per feature, the smallest activation among its full set of candidates (what a newcomer must beat) */
  private readonly floor: Float32Array;

  constructor(
    readonly dSae: number,
    readonly slots = DEFAULT_TOP_CONTEXTS,
  ) {
    if (!Number.isSafeInteger(slots) || slots < 1 || slots > 255) throw new RangeError(`top contexts must be in 1..255 (got ${slots})`);
    this.fired = new Uint32Array(dSae);
    this.max = new Float32Array(dSae);
    this.topValues = new Float32Array(dSae * slots);
    this.topRows = new Float64Array(dSae * slots);
    this.filled = new Uint8Array(dSae);
    this.floor = new Float32Array(dSae);
  }

  /** Adds `rows` rows of dense activations (rows × dSae); rowIds[r] names row r for contextOf in finish(). */
  add(acts: Float32Array, rows: number, rowIds: ArrayLike<number>): void {
    const { dSae, slots } = this;
    if (acts.length < rows * dSae || rowIds.length < rows) throw new RangeError(`expected ${rows} rows of ${dSae} activations and ${rows} row ids`);
    for (let r = 0; r < rows; r++) {
      const base = r * dSae;
      const rowId = rowIds[r]!;
      for (let f = 0; f < dSae; f++) {
        const a = acts[base + f]!;
        if (!(a > 0)) continue;
        this.fired[f]!++;
        if (a > this.max[f]!) this.max[f] = a;
        const filled = this.filled[f]!;
        const at = f * slots;
        if (filled < slots) {
          this.topValues[at + filled] = a;
          this.topRows[at + filled] = rowId;
          this.filled[f] = filled + 1;
          if (filled + 1 === slots) this.floor[f] = this.smallest(at).value;
        } else if (a > this.floor[f]!) {
          const slot = this.smallest(at).slot;
          this.topValues[at + slot] = a;
          this.topRows[at + slot] = rowId;
          this.floor[f] = this.smallest(at).value;
        }
      }
    }
    this.tokens += rows;
  }

  /** One row per feature (dead ones included, density 0), contexts strongest first. */
  finish(contextOf: (rowId: number) => Omit<TopContext, 'activation'>): FeatureStatsRow[] {
    const { dSae, slots } = this;
    const rows: FeatureStatsRow[] = [];
    for (let f = 0; f < dSae; f++) {
      const at = f * slots;
      const candidates = Array.from({ length: this.filled[f]! }, (_, j) => ({ value: this.topValues[at + j]!, rowId: this.topRows[at + j]! }));
      candidates.sort((a, b) => b.value - a.value || a.rowId - b.rowId);
      rows.push({
        index: f,
        density: this.tokens > 0 ? significant(this.fired[f]! / this.tokens) : 0,
        max_activation: significant(this.max[f]!),
        top_contexts: candidates.map(({ value, rowId }) => ({ ...contextOf(rowId), activation: significant(value) })),
      });
    }
    return rows;
  }

  private smallest(at: number): { slot: number; value: number } {
    let slot = 0;
    for (let j = 1; j < this.slots; j++) if (this.topValues[at + j]! < this.topValues[at + slot]!) slot = j;
    return { slot, value: this.topValues[at + slot]! };
  }
}

/** Six significant digits: what float32 statistics can honestly claim, and a smaller file. */
function significant(x: number): number {
  return Number(x.toPrecision(6));
}
