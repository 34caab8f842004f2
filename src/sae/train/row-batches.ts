/**
 * Which rows go into which minibatch: a seeded shuffle of the training rows at the start of every epoch, so
 * consecutive tokens of one captured sequence (strongly correlated) are spread over the whole epoch, and the
 * same seed gives the same batches.
 */
import type { NormalRng } from '../../models/random-llama.js';

const TWO_POW_32 = 4294967296;

/** Fisher-Yates with the given generator. */
export function shuffleInPlace(ids: Int32Array, rng: NormalRng): void {
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor((rng.nextUint32() / TWO_POW_32) * (i + 1));
    const t = ids[i]!;
    ids[i] = ids[j]!;
    ids[j] = t;
  }
}

export class ShuffledBatches {
  private readonly order: Int32Array;

  constructor(
    rowIds: Int32Array,
    readonly batchSize: number,
    private readonly rng: NormalRng,
  ) {
    this.order = Int32Array.from(rowIds);
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.order.length / this.batchSize);
  }

  /** The row ids of each batch of one epoch, reshuffled; the last batch may be short. Views, valid until the next epoch. */
  *epoch(): Generator<Int32Array> {
    shuffleInPlace(this.order, this.rng);
    for (let from = 0; from < this.order.length; from += this.batchSize) {
      yield this.order.subarray(from, Math.min(this.order.length, from + this.batchSize));
    }
  }
}

/** Copies rows[ids] × scale (the trainer's normalisation) − bDec into `centred`: what the encoder reads. */
export function gatherCentredBatch(rows: Float32Array, dIn: number, ids: Int32Array, scale: number, bDec: Float32Array, centred: Float32Array): void {
  for (let r = 0; r < ids.length; r++) {
    const from = ids[r]! * dIn;
    const to = r * dIn;
    for (let i = 0; i < dIn; i++) centred[to + i] = rows[from + i]! * scale - bDec[i]!;
  }
}
