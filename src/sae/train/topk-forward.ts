/**
 * The dense half of a TopK SAE training step, for a range of batch rows: pre-activations
 * W_enc·(x − b_dec) + b_enc, the k largest per row (ReLU on the kept values), and for AuxK the k_aux largest
 * among the dead latents. Most of a step's arithmetic (d_sae·d_in multiply-adds per row; the backward pass is
 * sparse, ~4·(k + k_aux)·d_in). The main thread and the pool's workers each run it on their own rows.
 */
import { multiplyTransposed } from './dense-kernels.js';
import type { TrainBuffers } from './train-buffers.js';
import { TopKSelector } from './topk-select.js';

export interface ForwardRange {
  rowFrom: number;
  rowTo: number;
  /** latents AuxK picks per row this step (0: AuxK off or nothing dead) */
  auxK: number;
  deadCount: number;
}

/** Pre-activation scratch of about 256 KB: big enough to reuse each encoder row across many input rows. */
const SCRATCH_FLOATS = 1 << 16;

export class TopKForward {
  private readonly rowBlock: number;
  private readonly pre: Float32Array;
  private readonly selector: TopKSelector;

  constructor(private readonly buffers: TrainBuffers) {
    this.rowBlock = Math.max(4, Math.min(64, Math.floor(SCRATCH_FLOATS / buffers.dSae / 4) * 4));
    this.pre = new Float32Array(this.rowBlock * buffers.dSae);
    this.selector = new TopKSelector(Math.max(buffers.k, buffers.maxAuxK));
  }

  run({ rowFrom, rowTo, auxK, deadCount }: ForwardRange): void {
    const { dIn, dSae, k, maxAuxK, centred, wEnc, bEnc, deadLatents, topIndex, topValue, auxIndex, auxValue } = this.buffers;
    if (auxK > Math.min(maxAuxK, deadCount)) throw new Error(`auxK ${auxK} exceeds min(maxAuxK ${maxAuxK}, dead ${deadCount})`);
    const pre = this.pre;
    for (let r0 = rowFrom; r0 < rowTo; r0 += this.rowBlock) {
      const rows = Math.min(this.rowBlock, rowTo - r0);
      multiplyTransposed({ data: centred, offset: r0 * dIn }, rows, wEnc, bEnc, 0, dSae, dIn, pre, 0, dSae);
      for (let r = 0; r < rows; r++) {
        const row = r0 + r;
        this.selector.selectRange(pre, r * dSae, dSae, k, topIndex, topValue, row * k);
        if (auxK > 0) this.selector.selectAmong(pre, r * dSae, deadLatents, deadCount, auxK, auxIndex, auxValue, row * maxAuxK);
      }
    }
  }
}
