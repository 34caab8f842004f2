/**
 * The measures /v1/compare reports per sample, from log-distributions (log-softmax rows over the vocabulary):
 *
 * - fluency: mean_t log Q_t(y_t) — the mean log-probability of the sample's tokens y under the unsteered model
 *   on the original prompt (Q, from a teacher-forced pass); perplexity = exp(−fluency).
 * - kl_to_baseline: (1/T) Σ_{t<T} KL(P_t ‖ Q_t), T = min(KL_POSITIONS, tokens), where P_t is the distribution
 *   the arm itself computed while generating position t (its prompt, its steering, raw logits) and Q_t the
 *   unsteered model on the original prompt followed by y_<t. It asks: how far does this arm's model sit from
 *   the plain model, along the arm's own path — 0 for the baseline arm up to float rounding.
 */

/** KL(P ‖ Q) in nats from log-probabilities over the same vocabulary. */
export function klDivergence(logP: Float32Array, logQ: Float32Array): number {
  if (logP.length !== logQ.length) throw new RangeError(`distributions of ${logP.length} and ${logQ.length} tokens`);
  let kl = 0;
  for (let v = 0; v < logP.length; v++) {
    const p = Math.exp(logP[v]!);
    // 0 · log(0 / q) = 0; a token the arm cannot produce adds nothing
    if (p > 0) kl += p * (logP[v]! - logQ[v]!);
  }
  return kl;
}

/** Mean KL over the positions both lists cover; null when there are none. */
export function meanKl(arm: readonly Float32Array[], reference: readonly Float32Array[], positions: number): number | null {
  const count = Math.min(positions, arm.length, reference.length);
  if (count === 0) return null;
  let sum = 0;
  for (let t = 0; t < count; t++) sum += klDivergence(arm[t]!, reference[t]!);
  return sum / count;
}

export function mean(values: ArrayLike<number>): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** The mean of the values that exist (null when none do). */
export function meanOfPresent(values: readonly (number | null)[]): number | null {
  return mean(values.filter((v): v is number => v !== null));
}
