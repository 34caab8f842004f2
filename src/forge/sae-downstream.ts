/**
 * What an SAE costs the model when its reconstruction replaces the residual stream (through the hook): the
 * cross-entropy loss recovered relative to zero-ablating the layer, and the KL divergence from the clean
 * model. Patches are per-position additions (x̂ − x, or −x), so one extra forward pass each.
 */
import type { Engine } from '../engine/engine.js';
import type { Sae } from '../sae/sae.js';
import { Progress } from './progress.js';
import { tokenLogProb } from './evaluate-lm.js';

export interface SaeDownstream {
  cleanLoss: number;
  saeLoss: number;
  zeroAblationLoss: number;
  /** (zero − sae) / (zero − clean) */
  lossRecovered: number;
  /** mean KL(clean ‖ patched) per predicted token, in nats */
  kl: number;
  tokens: number;
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - logZ);
}

function kl(p: Float64Array, q: Float64Array): number {
  let d = 0;
  for (let i = 0; i < p.length; i++) d += Math.exp(p[i]!) * (p[i]! - q[i]!);
  return d;
}

/** The BOS row stays clean: it is an attention sink outside what the SAE was trained on. */
export async function saeDownstream(engine: Engine, sae: Sae, documents: readonly number[][]): Promise<SaeDownstream> {
  const layer = sae.hookLayer;
  const n = engine.info.nEmbd;
  let clean = 0, patched = 0, zero = 0, divergence = 0, count = 0;
  const progress = new Progress('SAE downstream', documents.length);
  for (const [d, doc] of documents.entries()) {
    const tokens = doc.slice(0, engine.info.nCtxPerSequence);
    if (tokens.length < 3) continue;
    const base = await engine.evaluate(tokens, { logits: true, layers: [layer] });
    const x = base.residuals[0]!;
    const rows = tokens.length - 1;
    const inputs = x.subarray(n); // skip BOS
    const recon = sae.decode(sae.encode(inputs, rows), rows);
    const toRecon = new Float32Array(rows * n);
    const toZero = new Float32Array(rows * n);
    for (let i = 0; i < rows * n; i++) {
      toRecon[i] = recon[i]! - inputs[i]!;
      toZero[i] = -inputs[i]!;
    }
    const patch = (vectors: Float32Array) => [{ kind: 'add-positions' as const, layer, applyTo: 'all' as const, vectors, firstPosition: 1 }];
    const withSae = await engine.evaluate(tokens, { logits: true, interventions: patch(toRecon) });
    const ablated = await engine.evaluate(tokens, { logits: true, interventions: patch(toZero) });
    for (let i = 1; i < tokens.length; i++) {
      const next = tokens[i]!;
      clean -= tokenLogProb(base.logits[i - 1]!, next);
      patched -= tokenLogProb(withSae.logits[i - 1]!, next);
      zero -= tokenLogProb(ablated.logits[i - 1]!, next);
      divergence += kl(logSoftmax(base.logits[i - 1]!), logSoftmax(withSae.logits[i - 1]!));
      count++;
    }
    progress.update(d + 1);
  }
  const cleanLoss = clean / count, saeLoss = patched / count, zeroAblationLoss = zero / count;
  return {
    cleanLoss,
    saeLoss,
    zeroAblationLoss,
    lossRecovered: (zeroAblationLoss - saeLoss) / (zeroAblationLoss - cleanLoss),
    kl: divergence / count,
    tokens: count,
  };
}
