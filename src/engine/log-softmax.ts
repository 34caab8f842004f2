/**
 * Log-probabilities from raw logits, computed the way the addon computes a sampled token's logprob (double
 * precision around the maximum), so scores from a teacher-forced pass and from sampling agree.
 */

/** log Σ exp(logits) */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** The full next-token log-distribution (log-softmax); pass logZ when it is already known. */
export function logSoftmax(logits: Float32Array, logZ = logSumExp(logits)): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - logZ;
  return out;
}
