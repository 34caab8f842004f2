/**
 * The parallel phases of a training step behind one entry point, so the main thread and every worker run
 * the same code on the same (shared) buffers: forward and reconstruct split the batch by rows, accumulate
 * splits the latents.
 */
import { TopKBackward, type GradientRange, type ReconstructRange } from './topk-backward.js';
import { TopKForward, type ForwardRange } from './topk-forward.js';
import type { TrainBuffers } from './train-buffers.js';

export type StepRequest =
  | ({ phase: 'forward' } & ForwardRange)
  | ({ phase: 'reconstruct' } & ReconstructRange)
  | ({ phase: 'accumulate' } & GradientRange);

export class StepKernels {
  private readonly forward: TopKForward;
  private readonly backward: TopKBackward;

  constructor(buffers: TrainBuffers) {
    this.forward = new TopKForward(buffers);
    this.backward = new TopKBackward(buffers);
  }

  run(request: StepRequest): void {
    switch (request.phase) {
      case 'forward':
        return this.forward.run(request);
      case 'reconstruct':
        return this.backward.reconstruct(request);
      case 'accumulate':
        return this.backward.accumulate(request);
    }
  }
}
