/**
 * Adam (Kingma & Ba) over flat Float32Array parameters, updated in place. Moments are float32 like the
 * parameters: at SAE sizes (a few million values) the optimiser state then costs 2× the weights, not 4×.
 */

export interface AdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
}

export const DEFAULT_ADAM: AdamOptions = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

export interface AdamParameter {
  value: Float32Array;
  grad: Float32Array;
}

export class Adam {
  private readonly moments: { m: Float32Array; v: Float32Array }[];
  private steps = 0;

  constructor(
    private readonly params: readonly AdamParameter[],
    private readonly options: AdamOptions = DEFAULT_ADAM,
  ) {
    for (const p of params) {
      if (p.value.length !== p.grad.length) throw new Error(`Adam: a parameter has ${p.value.length} values but ${p.grad.length} gradients`);
    }
    this.moments = params.map((p) => ({ m: new Float32Array(p.value.length), v: new Float32Array(p.value.length) }));
  }

  /** One update with learning rate lr from the gradients currently in each parameter's `grad`. */
  step(lr: number): void {
    const { beta1, beta2, epsilon } = this.options;
    this.steps++;
    // bias corrections folded into the step size and epsilon: lr·m̂/(√v̂ + ε) = a·m/(√v + ε') (the usual trick)
    const correction1 = 1 - beta1 ** this.steps;
    const correction2 = 1 - beta2 ** this.steps;
    const stepSize = (lr * Math.sqrt(correction2)) / correction1;
    const eps = epsilon * Math.sqrt(correction2);
    const keep1 = beta1;
    const take1 = 1 - beta1;
    const keep2 = beta2;
    const take2 = 1 - beta2;
    for (let p = 0; p < this.params.length; p++) {
      const { value, grad } = this.params[p]!;
      const { m, v } = this.moments[p]!;
      for (let i = 0; i < value.length; i++) {
        const g = grad[i]!;
        const mi = keep1 * m[i]! + take1 * g;
        const vi = keep2 * v[i]! + take2 * g * g;
        m[i] = mi;
        v[i] = vi;
        value[i]! -= (stepSize * mi) / (Math.sqrt(vi) + eps);
      }
    }
  }
}
